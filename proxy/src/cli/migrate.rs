//! `hookguard secrets migrate`: the command line over [`crate::migrate`] — plan, backup,
//! write, verify, config diff; `--rollback BACKUP`; `status`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use hookguard_config::{Config, Env as _, Format, SecretSource, SecretSpec, SystemEnv};
use hookguard_layers::credentials::CredentialSource as _;
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::dlq::table;
use super::progress;
use super::{EXIT_INVALID, EXIT_USAGE};
use crate::migrate::backup::{BackedUp, Backup, MIN_PASSPHRASE};
use crate::migrate::dest::{InfisicalDest, Target, VaultDest};
use crate::migrate::journal::{self, Event, Planned};
use crate::migrate::{rewrite, DestSpec};
use crate::stack::{ConfigSource, SOURCE_ROUTE};

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

/// One secret to move.
struct Item {
    route: String,
    from: String,
    value: Zeroizing<String>,
    target: Target,
    /// The entry the rewritten config has for it.
    new_spec: SecretSpec,
}

impl Item {
    fn planned(&self) -> Planned {
        Planned {
            route: self.route.clone(),
            secret_id: self.new_spec.id.clone(),
            from: self.from.clone(),
            to: self.target.to_string(),
        }
    }
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
        return runtime.block_on(rollback(&args, backup));
    }
    runtime.block_on(migrate(&args))
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

/// The secrets to move: route secrets held inline, in env or in a file, of the routes
/// `patterns` select; their values read as the sidecar would.
fn plan(
    config: &Config,
    patterns: &[String],
    dest: &DestSpec,
    base_dir: &Path,
) -> Result<Vec<Item>, String> {
    for pattern in patterns {
        if !config.routes.iter().any(|r| matches(pattern, &r.id)) {
            return Err(format!(
                "--route {pattern}: matches no route; the routes are: {}",
                super::route_ids(config)
            ));
        }
    }
    let mut items = Vec::new();
    for route in config
        .routes
        .iter()
        .filter(|r| patterns.is_empty() || patterns.iter().any(|p| matches(p, &r.id)))
    {
        for spec in &route.secrets {
            let Some(
                source @ (SecretSource::Inline(_) | SecretSource::Env(_) | SecretSource::File(_)),
            ) = spec.source()
            else {
                continue;
            };
            let value = spec
                .resolve_local(&SystemEnv, base_dir)
                .map_err(|e| format!("route {} secret {}: {e}", route.id, spec.id))?
                .ok_or_else(|| {
                    format!("route {} secret {}: not a local source", route.id, spec.id)
                })?;
            let target = dest.target(&route.id, &spec.id);
            items.push(Item {
                route: route.id.clone(),
                from: source.to_string(),
                value: Zeroizing::new(value.expose().to_owned()),
                new_spec: dest.spec(spec, &target),
                target,
            });
        }
    }
    Ok(items)
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

async fn migrate(args: &MigrateArgs) -> Result<u8, String> {
    let config_path = args.config.clone().ok_or("-c FILE is required")?;
    let dest = destination(args)?;
    if Format::from_path(&config_path) != Some(Format::Toml) {
        return Err(format!(
            "{}: migrate rewrites TOML configurations only (YAML would lose its layout); \
             expected a .toml file",
            config_path.display()
        ));
    }
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let config = match Config::load(&config_path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return Ok(EXIT_USAGE);
        }
    };
    let base_dir = config_path.parent().map(PathBuf::from).unwrap_or_default();
    let items = plan(&config, &args.route, &dest, &base_dir)?;
    if items.is_empty() {
        let body = json!({"ok": true, "items": [], "message": "nothing to move"});
        report(args.json, &body, &[], "nothing to move: no selected secret is inline, in an environment variable or in a file");
        return Ok(0);
    }
    let moved: Vec<(&str, &SecretSpec)> = items
        .iter()
        .map(|i| (i.route.as_str(), &i.new_spec))
        .collect();
    let new_text = rewrite::rewrite(&text, &moved)?;
    let new_path = migrated_path(&config_path);
    if args.write_config && !args.dry_run && new_path.exists() {
        return Err(format!(
            "--write-config: {} exists; move it away first (it is never overwritten)",
            new_path.display()
        ));
    }
    let backup_path = args
        .backup
        .clone()
        .unwrap_or_else(|| default_backup(&config_path));
    let journal_path = journal::path_of(&backup_path);
    let store = dest.connect()?;
    let diff = rewrite::diff(
        &text,
        &new_text,
        &config_path.display().to_string(),
        &new_path.display().to_string(),
    );

    if args.dry_run {
        let mut rows = Vec::new();
        let bar = progress::bar(items.len(), "reading the destination", args.json);
        for item in &items {
            bar.set_message(format!("{}/{}", item.route, item.new_spec.id));
            let prior = match store.read(&item.target).await {
                Ok(prior) => prior,
                Err(e) => {
                    bar.finish_and_clear();
                    return destination_failed(args.json, &e.to_string(), None);
                }
            };
            bar.inc(1);
            let mut row = json!(item.planned());
            row["state"] = json!(if prior.is_some() {
                "would replace a value"
            } else {
                "would create"
            });
            rows.push(row);
        }
        bar.finish_and_clear();
        let body = json!({
            "ok": true, "dry_run": true, "destination": dest.describe(),
            "items": rows, "config_diff": diff,
        });
        report(
            args.json,
            &body,
            &rows,
            &format!("dry run: nothing was written.\n{diff}"),
        );
        return Ok(0);
    }

    let pass = passphrase(&args.passphrase)?;
    let config_sha = hex::encode(sha256(text.as_bytes()));
    let state = journal::load(&journal_path)?;
    let mut resumed = 0;
    let values: Vec<Zeroizing<String>> = match &state {
        None => {
            if backup_path.exists() {
                return Err(format!(
                    "{} exists but has no journal beside it; move it away to start a new \
                     migration",
                    backup_path.display()
                ));
            }
            let mut backed = Vec::new();
            let bar = progress::bar(items.len(), "backing up", args.json);
            for item in &items {
                let prior = match store.read(&item.target).await {
                    Ok(prior) => prior,
                    Err(e) => {
                        bar.finish_and_clear();
                        return destination_failed(args.json, &e.to_string(), None);
                    }
                };
                bar.inc(1);
                backed.push(BackedUp {
                    route: item.route.clone(),
                    secret_id: item.new_spec.id.clone(),
                    value: item.value.to_string(),
                    prior,
                });
            }
            bar.finish_and_clear();
            Backup {
                config_path: config_path.clone(),
                config_text: text.clone(),
                destination: dest.clone(),
                items: backed,
            }
            .write(&backup_path, &pass)?;
            journal::Writer::open(&journal_path)?.append(&Event::Started {
                at: now(),
                config: config_path.clone(),
                config_sha256: config_sha.clone(),
                destination: dest.describe(),
                items: items.iter().map(Item::planned).collect(),
            })?;
            items.iter().map(|i| i.value.clone()).collect()
        }
        Some(state) if state.rolled_back || !state.restored.is_empty() => {
            return Err(format!(
                "the migration recorded in {} was rolled back; move it and its journal away \
                 to start a new one",
                backup_path.display()
            ));
        }
        Some(state) if state.verified => {
            let body = json!({"ok": true, "message": "already complete", "journal": journal_path});
            report(
                args.json,
                &body,
                &[],
                &format!(
                    "already complete according to {}; see `hookguard secrets migrate status`",
                    journal_path.display()
                ),
            );
            return Ok(0);
        }
        Some(state) => {
            let Some(Event::Started { config_sha256, .. }) = &state.started else {
                unreachable!("load requires a start record")
            };
            if *config_sha256 != config_sha {
                return Err(format!(
                    "{} changed since the interrupted migration in {} started; resume with the \
                     original file, or roll back with --rollback {}",
                    config_path.display(),
                    journal_path.display(),
                    backup_path.display()
                ));
            }
            let planned: Vec<Planned> = items.iter().map(Item::planned).collect();
            if state.items() != planned.as_slice() {
                return Err(format!(
                    "the secrets selected now differ from the interrupted migration in {}; \
                     resume with the same --to and --route options",
                    journal_path.display()
                ));
            }
            let backup = Backup::read(&backup_path, &pass)?;
            resumed = state.written.len();
            // The values as backed up: what the rollback and the journal refer to.
            backup
                .items
                .iter()
                .map(|b| Zeroizing::new(b.value.clone()))
                .collect()
        }
    };

    // Write: one secret at a time, each journaled once the store accepted it.
    let mut journal = journal::Writer::open(&journal_path)?;
    let mut rows = Vec::new();
    let bar = progress::bar(items.len(), "writing", args.json);
    for (index, (item, value)) in items.iter().zip(&values).enumerate() {
        bar.set_message(format!("{}/{}", item.route, item.new_spec.id));
        let mut row = json!(item.planned());
        let already = state
            .as_ref()
            .is_some_and(|s| s.is_written(&item.route, &item.new_spec.id));
        if already {
            row["state"] = json!("moved (earlier run)");
        } else {
            if let Err(e) = store.put(&item.target, Some(value)).await {
                bar.finish_and_clear();
                return destination_failed(args.json, &e.to_string(), Some((index, items.len())));
            }
            journal.append(&Event::Written {
                route: item.route.clone(),
                secret_id: item.new_spec.id.clone(),
            })?;
            row["state"] = json!("moved");
        }
        bar.inc(1);
        rows.push(row);
    }
    bar.finish_and_clear();

    // Verify through the sidecar's own source for the new entry.
    let mut mismatched = Vec::new();
    let bar = progress::bar(items.len(), "verifying", args.json);
    for ((item, value), row) in items.iter().zip(&values).zip(rows.iter_mut()) {
        let name = format!("{}/{}", item.route, item.new_spec.id);
        bar.set_message(name.clone());
        let read = match ConfigSource::new(std::slice::from_ref(&item.new_spec), base_dir.clone()) {
            Ok(source) => source.fetch(SOURCE_ROUTE).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let same = match &read {
            Ok(set) => set.entries().first().is_some_and(|entry| {
                bool::from(
                    sha256(entry.value.expose_secret().as_bytes()).ct_eq(&sha256(value.as_bytes())),
                )
            }),
            Err(_) => false,
        };
        row["state"] = json!(match (&read, same) {
            (_, true) => "verified".to_owned(),
            (Ok(_), false) => "MISMATCH: the destination holds a different value".to_owned(),
            (Err(e), _) => format!("MISMATCH: cannot read it back: {e}"),
        });
        if !same {
            mismatched.push(name);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !mismatched.is_empty() {
        journal.append(&Event::VerifyFailed {
            mismatched: mismatched.clone(),
        })?;
        let body = json!({
            "ok": false, "destination": dest.describe(), "items": rows,
            "mismatched": mismatched, "backup": backup_path, "journal": journal_path,
        });
        report(
            args.json,
            &body,
            &rows,
            &format!(
                "verification failed for {}: the config was not rewritten. Roll back with \
                 `hookguard secrets migrate --rollback {}`.",
                mismatched.join(", "),
                backup_path.display()
            ),
        );
        return Ok(EXIT_INVALID);
    }
    journal.append(&Event::Verified)?;

    let mut written = None;
    if args.write_config {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = options
            .open(&new_path)
            .map_err(|e| format!("--write-config {}: {e}", new_path.display()))?;
        std::io::Write::write_all(&mut file, new_text.as_bytes())
            .map_err(|e| format!("--write-config {}: {e}", new_path.display()))?;
        journal.append(&Event::ConfigWritten {
            path: new_path.clone(),
        })?;
        written = Some(new_path.clone());
    }
    let body = json!({
        "ok": true, "dry_run": false, "destination": dest.describe(), "items": rows,
        "resumed_after": resumed, "backup": backup_path, "journal": journal_path,
        "config_diff": diff, "config_written": written,
    });
    let tail = match &written {
        Some(path) => format!(
            "{} secrets moved and verified. The rewritten config is {}; the original is \
             unchanged. Backup: {}",
            items.len(),
            path.display(),
            backup_path.display()
        ),
        None => format!(
            "{} secrets moved and verified. Backup: {}. The config, rewritten (apply it, or \
             re-run with --write-config):\n{diff}",
            items.len(),
            backup_path.display()
        ),
    };
    report(args.json, &body, &rows, &tail);
    Ok(0)
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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

async fn rollback(args: &MigrateArgs, backup_path: &Path) -> Result<u8, String> {
    let pass = passphrase(&args.passphrase)?;
    let backup = Backup::read(backup_path, &pass)?;
    let journal_path = journal::path_of(backup_path);
    let state = journal::load(&journal_path)?;
    let store = backup.destination.connect()?;
    let mut journal = journal::Writer::open(&journal_path)?;
    let mut rows = Vec::new();
    let bar = progress::bar(backup.items.len(), "restoring", args.json);
    for (index, item) in backup.items.iter().enumerate() {
        let target = backup.destination.target(&item.route, &item.secret_id);
        let mut row = json!({
            "route": item.route, "secret_id": item.secret_id, "from": target.to_string(),
            "to": if item.prior.is_some() { "its previous value" } else { "removed (it did not exist)" },
        });
        // Without a journal nothing says what was written: restoring every target is safe,
        // since an untouched one gets back the value it holds.
        let touched = state
            .as_ref()
            .is_none_or(|s| s.is_written(&item.route, &item.secret_id));
        let done = state
            .as_ref()
            .is_some_and(|s| s.is_restored(&item.route, &item.secret_id));
        if !touched || done {
            row["state"] = json!(if done {
                "restored (earlier run)"
            } else {
                "never written"
            });
        } else {
            if let Err(e) = store.put(&target, item.prior.as_deref()).await {
                bar.finish_and_clear();
                if args.json {
                    println!(
                        "{:#}",
                        json!({"ok": false, "error": e.to_string(), "items": rows})
                    );
                }
                eprintln!(
                    "hookguard: the rollback stopped at {}/{} ({index} of {} done): {e}. Run \
                     the same command again to continue.",
                    item.route,
                    item.secret_id,
                    backup.items.len()
                );
                return Ok(EXIT_DESTINATION);
            }
            journal.append(&Event::Restored {
                route: item.route.clone(),
                secret_id: item.secret_id.clone(),
            })?;
            row["state"] = json!("restored");
        }
        bar.inc(1);
        rows.push(row);
    }
    bar.finish_and_clear();
    // The config: if the file now differs from the original (the migrated one was put in
    // its place), the original comes back; the replaced text is kept beside it.
    let config_path = &backup.config_path;
    let current = std::fs::read_to_string(config_path).ok();
    let mut config_note = format!(
        "{} is unchanged (it is the original)",
        config_path.display()
    );
    if current.as_deref() != Some(backup.config_text.as_str()) {
        if current.is_some() {
            let kept = config_path.with_extension("toml.before-rollback");
            std::fs::rename(config_path, &kept)
                .map_err(|e| format!("keeping {}: {e}", config_path.display()))?;
            config_note = format!(
                "{} restored to its original text; the replaced file is {}",
                config_path.display(),
                kept.display()
            );
        } else {
            config_note = format!("{} restored to its original text", config_path.display());
        }
        std::fs::write(config_path, &backup.config_text)
            .map_err(|e| format!("restoring {}: {e}", config_path.display()))?;
    }
    journal.append(&Event::RolledBack)?;
    let body = json!({"ok": true, "items": rows, "config": config_note});
    if args.json {
        println!("{body:#}");
    } else {
        println!(
            "{}",
            table(&rows, &["route", "secret_id", "from", "to", "state"])
        );
        println!("rolled back. {config_note}.");
    }
    Ok(0)
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
