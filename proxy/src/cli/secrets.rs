//! `hookguard secrets validate`: fetch every route's secrets from their sources (env, file,
//! Vault, Infisical — through the sidecar's own `ConfigSource`), check each one's format for
//! the route's scheme, its age against `max_age`, and whether a rotation is in progress.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hookguard_config::{Config, SecretSource, SecretSpec};
use hookguard_layers::clock::{Clock, SystemClock};
use hookguard_layers::credentials::{CredentialSource as _, SourceError};
use hookguard_layers::verify::Keyring;
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};

use super::dlq::table;
use super::progress;
use super::{EXIT_INVALID, EXIT_USAGE};
use crate::stack::{ConfigSource, SOURCE_ROUTE};

const EXIT_CODES: &str = "Exit codes: 0 every secret (or source) passes, 1 at least one \
fails, 2 usage or configuration error (problems `hookguard check` finds, such as an unset \
variable, are reported as it reports them).";

#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Fetch every secret from its source; check reachability, format, age and rotation.
    #[command(after_help = EXIT_CODES)]
    Validate(ValidateArgs),
    /// Move secrets written inline, in env vars or in files into Vault KV v2 or Infisical:
    /// dry run, encrypted backup, write, verify, rewritten config; `--rollback`, `status`.
    Migrate(Box<super::migrate::MigrateArgs>),
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The sidecar's configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,
    /// Only this route (repeat for several).
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    route: Vec<String>,
    /// Every route (the default).
    #[arg(long)]
    all: bool,
    /// Only test each source's connectivity and authentication, once per source.
    #[arg(long)]
    check_source: bool,
    /// Print JSON instead of a table (and no progress bar; the bar, on stderr, shows
    /// only on a terminal).
    #[arg(long)]
    json: bool,
}

pub(crate) fn secrets(command: SecretsCommand) -> Result<u8, String> {
    match command {
        SecretsCommand::Validate(args) => validate(args),
        SecretsCommand::Migrate(args) => super::migrate::run(*args),
    }
}

fn validate(args: ValidateArgs) -> Result<u8, String> {
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return Ok(EXIT_USAGE);
        }
    };
    for id in &args.route {
        if config.route(id).is_none() {
            return Err(format!(
                "--route {id}: no such route; expected one of: {}",
                super::route_ids(&config)
            ));
        }
    }
    let base_dir = args.config.parent().map(PathBuf::from).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let rows = runtime.block_on(async {
        if args.check_source {
            check_sources(&config, &args.route, &base_dir, args.json).await
        } else {
            check_secrets(&config, &args.route, &base_dir, args.json).await
        }
    });
    let failed = rows.iter().any(|r| r["verdict"] == "FAIL");
    if args.json {
        println!("{:#}", json!({ "rows": rows, "ok": !failed }));
    } else if args.check_source {
        println!(
            "{}",
            table(&rows, &["source", "used_by", "reachable", "verdict"])
        );
    } else {
        let columns = [
            "route",
            "secret_id",
            "source",
            "reachable",
            "format",
            "age",
            "rotation",
            "verdict",
        ];
        println!("{}", table(&rows, &columns));
    }
    Ok(if failed { EXIT_INVALID } else { 0 })
}

/// One fetch through the sidecar's own source, for one secret.
async fn fetch(
    spec: &SecretSpec,
    base_dir: &std::path::Path,
) -> Result<(String, Option<i64>), String> {
    let source = ConfigSource::new(std::slice::from_ref(spec), base_dir.to_path_buf())?;
    let set = source
        .fetch(SOURCE_ROUTE)
        .await
        .map_err(|e| e.to_string())?;
    let entry = set
        .entries()
        .first()
        .ok_or_else(|| "the source returned nothing".to_string())?;
    Ok((entry.value.expose_secret().to_owned(), entry.rotated_at))
}

fn days(seconds: i64) -> String {
    if seconds >= 86_400 {
        format!("{}d", seconds / 86_400)
    } else {
        format!("{}h", seconds / 3_600)
    }
}

async fn check_secrets(
    config: &Config,
    only: &[String],
    base_dir: &std::path::Path,
    quiet: bool,
) -> Vec<Value> {
    let now = SystemClock.now_unix();
    let mut rows = Vec::new();
    let selected = || {
        config
            .routes
            .iter()
            .filter(|r| only.is_empty() || only.contains(&r.id))
    };
    // Remote stores answer one secret at a time: with many secrets, show how far it got.
    let bar = progress::bar(selected().map(|r| r.secrets.len()).sum(), "fetching", quiet);
    for route in selected() {
        let scheme = route.build_scheme().ok();
        for (index, spec) in route.secrets.iter().enumerate() {
            bar.set_message(format!("{}/{}", route.id, spec.id));
            bar.inc(1);
            let source = spec.source().map_or_else(|| "?".into(), |s| s.to_string());
            let rotation = match (route.secrets.len(), index) {
                (1, _) => "-".to_owned(),
                (_, 0) => format!("in progress: next is {}", route.secrets[1].id),
                (_, _) => "in progress: this is the next secret".to_owned(),
            };
            let mut row = json!({
                "route": route.id,
                "secret_id": spec.id,
                "source": source,
                "rotation": rotation,
            });
            let (value, fetched_at) = match fetch(spec, base_dir).await {
                Ok(found) => found,
                Err(e) => {
                    row["reachable"] = json!(format!("no: {e}"));
                    row["format"] = json!("-");
                    row["age"] = json!("-");
                    row["verdict"] = json!("FAIL");
                    rows.push(row);
                    continue;
                }
            };
            row["reachable"] = json!("yes");
            let format = match &scheme {
                Some(scheme) => match Keyring::from_secrets(&**scheme, [value.as_str()]) {
                    Ok(_) => Ok(format!("ok ({})", route.scheme)),
                    Err(e) => Err(format!("{}; expected {}", e.problem, e.expected)),
                },
                None => Err(format!("unknown scheme {}", route.scheme)),
            };
            // The config's rotated_at wins over what the store says about its last write.
            let rotated_at = spec.rotated_at.map(|t| t.0.unix_timestamp()).or(fetched_at);
            let age = rotated_at.map(|at| now.saturating_sub(at));
            let overdue = match (age, spec.max_age) {
                (Some(age), Some(max)) => {
                    age > i64::try_from(max.get().as_secs()).unwrap_or(i64::MAX)
                }
                _ => false,
            };
            row["age"] = json!(match (age, spec.max_age) {
                (None, _) => "unknown".to_owned(),
                (Some(age), None) => days(age),
                (Some(age), Some(max)) => format!(
                    "{} of {}{}",
                    days(age),
                    days(i64::try_from(max.get().as_secs()).unwrap_or(i64::MAX)),
                    if overdue { ": overdue" } else { "" }
                ),
            });
            row["format"] = json!(match &format {
                Ok(ok) => ok.clone(),
                Err(problem) => problem.clone(),
            });
            row["verdict"] = json!(if format.is_err() || overdue {
                "FAIL"
            } else {
                "ok"
            });
            rows.push(row);
        }
    }
    bar.finish_and_clear();
    rows
}

/// Where a secret lives, without what it is: one row per distinct store and credential.
fn source_key(spec: &SecretSpec) -> Option<String> {
    match spec.source()? {
        SecretSource::Vault(v) => Some(format!(
            "vault {} (token ${}{})",
            v.addr,
            v.token_env,
            v.namespace
                .as_ref()
                .map_or(String::new(), |n| format!(", namespace {n}"))
        )),
        SecretSource::Infisical(i) => Some(format!(
            "infisical {} project {} env {} (${})",
            i.addr, i.project_id, i.environment, i.client_id_env
        )),
        other => Some(other.to_string()),
    }
}

async fn check_sources(
    config: &Config,
    only: &[String],
    base_dir: &std::path::Path,
    quiet: bool,
) -> Vec<Value> {
    let mut sources: BTreeMap<String, (Vec<String>, &SecretSpec)> = BTreeMap::new();
    for route in config
        .routes
        .iter()
        .filter(|r| only.is_empty() || only.contains(&r.id))
    {
        for spec in &route.secrets {
            let Some(key) = source_key(spec) else {
                continue;
            };
            sources
                .entry(key)
                .or_insert_with(|| (Vec::new(), spec))
                .0
                .push(format!("{}/{}", route.id, spec.id));
        }
    }
    let mut rows = Vec::new();
    let bar = progress::bar(sources.len(), "checking sources", quiet);
    for (key, (used_by, spec)) in sources {
        bar.inc(1);
        let remote = matches!(
            spec.source(),
            Some(SecretSource::Vault(_) | SecretSource::Infisical(_))
        );
        let (reachable, ok) =
            match ConfigSource::new(std::slice::from_ref(spec), base_dir.to_path_buf()) {
                Err(e) => (format!("no: {e}"), false),
                Ok(source) => match source.fetch(SOURCE_ROUTE).await {
                    Ok(_) => ("yes, authenticated".to_owned(), true),
                    // The store answered and accepted the credential; only this secret is absent.
                    Err(SourceError::Missing { what, name }) if remote => (
                        format!("yes, authenticated ({what} {name} not found)"),
                        true,
                    ),
                    Err(e) => (format!("no: {e}"), false),
                },
            };
        rows.push(json!({
            "source": key,
            "used_by": used_by.join(", "),
            "reachable": reachable,
            "verdict": if ok { "ok" } else { "FAIL" },
        }));
    }
    bar.finish_and_clear();
    rows
}
