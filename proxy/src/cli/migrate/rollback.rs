//! `--rollback BACKUP`: each target gets back what it held before the migration (or is
//! removed), then the original config.

use std::path::Path;

use serde_json::json;

use super::super::dlq::table;
use super::super::progress;
use super::{passphrase, MigrateArgs, EXIT_DESTINATION};
use crate::migrate::backup::Backup;
use crate::migrate::journal::{self, Event};

pub(super) async fn rollback(args: &MigrateArgs, backup_path: &Path) -> Result<u8, String> {
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
