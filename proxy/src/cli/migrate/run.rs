//! A migration run: plan, backup, write (journaled), verify, config.

use std::path::{Path, PathBuf};

use hookguard_config::{Config, Format, SecretSource, SecretSpec, SystemEnv};
use hookguard_layers::credentials::CredentialSource as _;
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::super::progress;
use super::super::{EXIT_INVALID, EXIT_USAGE};
use super::{
    default_backup, destination, destination_failed, matches, migrated_path, passphrase, report,
    sha256, MigrateArgs,
};
use crate::migrate::backup::{BackedUp, Backup};
use crate::migrate::dest::{DestError, Store, Target};
use crate::migrate::journal::{self, Event, Planned};
use crate::migrate::{rewrite, DestSpec};
use crate::stack::{ConfigSource, SOURCE_ROUTE};

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
                super::super::route_ids(config)
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

pub(super) async fn migrate(args: &MigrateArgs) -> Result<u8, String> {
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
    // The rewritten file must load as the sidecar will load it, before anything moves.
    if let Err(e) = Config::from_text(&new_text, Format::Toml, &new_path, &SystemEnv) {
        return Err(format!(
            "the rewritten configuration would not load; nothing was written:\n{e}"
        ));
    }
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
        let priors = match read_priors(&store, &items, "reading the destination", args.json).await {
            Ok(priors) => priors,
            Err(e) => return destination_failed(args.json, &e.to_string(), None),
        };
        let rows: Vec<Value> = items
            .iter()
            .zip(&priors)
            .map(|(item, prior)| {
                let mut row = json!(item.planned());
                row["state"] = json!(if prior.is_some() {
                    "would replace a value"
                } else {
                    "would create"
                });
                row
            })
            .collect();
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
            let priors = match read_priors(&store, &items, "backing up", args.json).await {
                Ok(priors) => priors,
                Err(e) => return destination_failed(args.json, &e.to_string(), None),
            };
            let backed = items
                .iter()
                .zip(priors)
                .map(|(item, prior)| BackedUp {
                    route: item.route.clone(),
                    secret_id: item.new_spec.id.clone(),
                    value: item.value.to_string(),
                    prior,
                })
                .collect();
            Backup {
                config_path: config_path.clone(),
                config_text: text.clone(),
                destination: dest.clone(),
                items: backed,
            }
            .write(&backup_path, &pass)?;
            journal::Writer::open(&journal_path)?.append(&Event::Started {
                at: crate::rfc3339::now(),
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

/// What the store holds at each item's target now: for the dry run's "would replace", and
/// the backup's record of what a rollback puts back.
async fn read_priors(
    store: &Store,
    items: &[Item],
    what: &str,
    quiet: bool,
) -> Result<Vec<Option<String>>, DestError> {
    let bar = progress::bar(items.len(), what, quiet);
    let mut priors = Vec::with_capacity(items.len());
    for item in items {
        bar.set_message(format!("{}/{}", item.route, item.new_spec.id));
        match store.read(&item.target).await {
            Ok(prior) => priors.push(prior),
            Err(e) => {
                bar.finish_and_clear();
                return Err(e);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(priors)
}
