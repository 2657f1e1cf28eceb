//! `hookguard secrets migrate`: the command line over [`crate::migrate`] — plan, backup,
//! write, verify, config diff (`run.rs`); `--rollback BACKUP` (`rollback.rs`); `status`.

mod rollback;
mod run;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use hookguard_config::{Env as _, SystemEnv};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::dlq::table;
use crate::migrate::backup::MIN_PASSPHRASE;
use crate::migrate::dest::{InfisicalDest, VaultDest};
use crate::migrate::journal::{self, Event};
use crate::migrate::DestSpec;

/// Exit code: the destination failed part-way (or could not be reached); run the same
/// command again to resume.
pub(crate) const EXIT_DESTINATION: u8 = 3;

pub(crate) const EXIT_CODES: &str = "Exit codes: 0 done (or nothing to do; a dry run that \
could read the destination), 1 verification failed: a secret read back differs from what \
was written, 2 usage, configuration, passphrase or backup error (nothing was written to the \
destination), 3 the destination refused or could not be reached part-way: run the same \
command again to resume from the journal.";

/// Where the secrets go.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum To {
    Vault,
    Infisical,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = EXIT_CODES)]
pub(crate) struct MigrateArgs {
    #[command(subcommand)]
    command: Option<MigrateCommand>,
    /// The sidecar's configuration file (TOML).
    #[arg(short = 'c', long = "config", value_name = "FILE", required_unless_present_any = ["rollback"])]
    config: Option<PathBuf>,
    /// The store to move the secrets into.
    #[arg(long, value_enum, required_unless_present_any = ["rollback"])]
    to: Option<To>,
    /// Only routes whose id matches (`*` matches any run of characters); repeat for several.
    #[arg(long, value_name = "PATTERN")]
    route: Vec<String>,
    /// Print what would move and the rewritten config; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the rewritten config next to the original (`NAME.migrated.toml`) instead of
    /// printing it as a diff. The original is never changed.
    #[arg(long)]
    write_config: bool,
    /// The encrypted backup (default: the config file's name + `.migrate-backup`); its
    /// journal is the same name + `.journal`.
    #[arg(long, value_name = "FILE")]
    backup: Option<PathBuf>,
    /// Restore what the destination held before the migration this backup records, and the
    /// original config.
    #[arg(long, value_name = "BACKUP", conflicts_with_all = ["to", "dry_run", "write_config"])]
    rollback: Option<PathBuf>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
    #[command(flatten)]
    vault: VaultArgs,
    #[command(flatten)]
    infisical: InfisicalArgs,
    /// Print JSON instead of tables (and no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum MigrateCommand {
    /// What has moved so far, from the journal beside the backup.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The configuration file the migration ran on (finds its default backup).
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        required_unless_present = "backup"
    )]
    config: Option<PathBuf>,
    /// The backup file (its journal sits beside it).
    #[arg(long, value_name = "FILE")]
    backup: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct PassphraseArgs {
    /// The environment variable holding the backup's passphrase.
    #[arg(
        long,
        value_name = "VAR",
        default_value = "HOOKGUARD_MIGRATE_PASSPHRASE"
    )]
    passphrase_env: String,
    /// A file holding the passphrase (e.g. a mounted secret); wins over --passphrase-env.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct VaultArgs {
    /// Vault's address (with --to vault).
    #[arg(long, value_name = "URL", required_if_eq("to", "vault"))]
    vault_addr: Option<String>,
    /// The KV v2 mount.
    #[arg(long, value_name = "MOUNT", default_value = "secret")]
    vault_mount: String,
    /// Secrets go to `PREFIX/ROUTE`, one key per secret id.
    #[arg(long, value_name = "PREFIX", default_value = "hookguard")]
    vault_prefix: String,
    /// The Vault Enterprise namespace.
    #[arg(long, value_name = "NS")]
    vault_namespace: Option<String>,
    /// The environment variable holding the Vault token (the rewritten config names it too).
    #[arg(long, value_name = "VAR", default_value = "VAULT_TOKEN")]
    vault_token_env: String,
}

#[derive(Debug, Args)]
struct InfisicalArgs {
    /// Infisical's address.
    #[arg(long, value_name = "URL", default_value = "https://app.infisical.com")]
    infisical_addr: String,
    /// The project id (with --to infisical).
    #[arg(long, value_name = "ID", required_if_eq("to", "infisical"))]
    infisical_project: Option<String>,
    /// The environment slug, e.g. `prod` (with --to infisical).
    #[arg(long, value_name = "SLUG", required_if_eq("to", "infisical"))]
    infisical_env: Option<String>,
    /// The folder the secrets go to.
    #[arg(long, value_name = "PATH", default_value = "/")]
    infisical_path: String,
    /// Secrets are named `PREFIX` + `ROUTE_SECRETID`, upper case.
    #[arg(long, value_name = "PREFIX", default_value = "HOOKGUARD_")]
    infisical_prefix: String,
    /// The variable holding the machine identity's client id.
    #[arg(long, value_name = "VAR", default_value = "INFISICAL_CLIENT_ID")]
    infisical_client_id_env: String,
    /// The variable holding the machine identity's client secret.
    #[arg(long, value_name = "VAR", default_value = "INFISICAL_CLIENT_SECRET")]
    infisical_client_secret_env: String,
}

pub(crate) fn run(args: MigrateArgs) -> Result<u8, String> {
    if let Some(MigrateCommand::Status(status_args)) = args.command {
        return status(status_args);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    if let Some(backup) = &args.rollback {
        return runtime.block_on(rollback::rollback(&args, backup));
    }
    runtime.block_on(run::migrate(&args))
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters. Written here:
/// route ids are short and one wildcard is all `--route` offers, less than a glob crate does.
fn matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| matches(rest, &tail[i..]))
        }
    }
}

fn destination(args: &MigrateArgs) -> Result<DestSpec, String> {
    Ok(match args.to {
        Some(To::Vault) => DestSpec::Vault(VaultDest {
            addr: args
                .vault
                .vault_addr
                .clone()
                .ok_or("--to vault needs --vault-addr URL")?,
            mount: args.vault.vault_mount.trim_matches('/').to_owned(),
            prefix: args.vault.vault_prefix.clone(),
            namespace: args.vault.vault_namespace.clone(),
            token_env: args.vault.vault_token_env.clone(),
        }),
        Some(To::Infisical) => DestSpec::Infisical(InfisicalDest {
            addr: args.infisical.infisical_addr.clone(),
            project_id: args
                .infisical
                .infisical_project
                .clone()
                .ok_or("--to infisical needs --infisical-project ID")?,
            environment: args
                .infisical
                .infisical_env
                .clone()
                .ok_or("--to infisical needs --infisical-env SLUG")?,
            path: args.infisical.infisical_path.clone(),
            prefix: args.infisical.infisical_prefix.clone(),
            client_id_env: args.infisical.infisical_client_id_env.clone(),
            client_secret_env: args.infisical.infisical_client_secret_env.clone(),
        }),
        None => return Err("--to vault|infisical is required".into()),
    })
}

fn passphrase(args: &PassphraseArgs) -> Result<Zeroizing<String>, String> {
    let text = match &args.passphrase_file {
        Some(path) => Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("--passphrase-file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
        None => Zeroizing::new(SystemEnv.var(&args.passphrase_env).ok_or_else(|| {
            format!(
                "the backup passphrase: environment variable {} is not set (or use \
                 --passphrase-file FILE)",
                args.passphrase_env
            )
        })?),
    };
    if text.chars().count() < MIN_PASSPHRASE {
        return Err(format!(
            "the backup passphrase is too short: expected at least {MIN_PASSPHRASE} characters"
        ));
    }
    Ok(text)
}

fn default_backup(config: &Path) -> PathBuf {
    let mut name = config.as_os_str().to_owned();
    name.push(".migrate-backup");
    PathBuf::from(name)
}

/// `dir/NAME.migrated.toml` for `dir/NAME.toml`.
fn migrated_path(config: &Path) -> PathBuf {
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "hookguard".into());
    config.with_file_name(format!("{stem}.migrated.toml"))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Prints a result, as a table or JSON.
fn report(json_out: bool, body: &Value, rows: &[Value], tail: &str) {
    if json_out {
        println!("{body:#}");
        return;
    }
    if !rows.is_empty() {
        println!(
            "{}",
            table(rows, &["route", "secret_id", "from", "to", "state"])
        );
    }
    if !tail.is_empty() {
        println!("{tail}");
    }
}

/// Reports a destination failure. `moved`: how far the writing got, `None` when it failed
/// before anything was written (reading what it holds, for the dry run or the backup).
fn destination_failed(
    json_out: bool,
    error: &str,
    moved: Option<(usize, usize)>,
) -> Result<u8, String> {
    let hint = match moved {
        Some((done, total)) => format!(
            "{done} of {total} secrets moved before the destination failed: {error}. Run the \
             same command again to resume; `hookguard secrets migrate status` shows what moved."
        ),
        None => format!("reading the destination failed: {error}. Nothing was written."),
    };
    if json_out {
        let (done, total) = moved.unwrap_or_default();
        println!(
            "{:#}",
            json!({"ok": false, "error": error, "moved": done, "total": total})
        );
    }
    eprintln!("hookguard: {hint}");
    Ok(EXIT_DESTINATION)
}

fn status(args: StatusArgs) -> Result<u8, String> {
    let backup = match (&args.backup, &args.config) {
        (Some(backup), _) => backup.clone(),
        (None, Some(config)) => default_backup(config),
        (None, None) => return Err("status needs -c FILE or --backup FILE".into()),
    };
    let journal_path = journal::path_of(&backup);
    let Some(state) = journal::load(&journal_path)? else {
        return Err(format!(
            "no migration journal at {}: no migration has started with this backup",
            journal_path.display()
        ));
    };
    let Some(Event::Started {
        at, destination, ..
    }) = &state.started
    else {
        unreachable!("load requires a start record")
    };
    let rows: Vec<Value> = state
        .items()
        .iter()
        .map(|item| {
            let mut row = json!(item);
            row["state"] = json!(state.item_state(item));
            row
        })
        .collect();
    let moved = state.written.len();
    let body = json!({
        "phase": state.phase(), "started_at": at, "destination": destination,
        "moved": moved, "total": rows.len(), "items": rows,
        "config_written": state.config_written, "journal": journal_path,
    });
    report(
        args.json,
        &body,
        &rows,
        &format!(
            "{}: {moved} of {} moved, started {at}, to {destination}",
            state.phase(),
            rows.len()
        ),
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn route_patterns_match_with_stars() {
        assert!(matches("github", "github"));
        assert!(!matches("github", "github-2"));
        assert!(matches("github*", "github-2"));
        assert!(matches("*-prod", "stripe-prod"));
        assert!(matches("a*b*c", "a-x-b-y-c"));
        assert!(!matches("a*b*c", "a-x-c"));
        assert!(matches("*", ""));
    }
}
