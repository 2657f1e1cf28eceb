//! `hookguard alerts test -c FILE --channel NAME`: sends a test alert through one channel
//! of a configuration file, with the channel's real settings and secrets. Exit 0 when the
//! channel accepted it, 1 when it did not (stderr says why), 2 for a usage error.
//!
//! `hookguard alerts list`: the rules of a running sidecar and what fires now (its admin
//! API, `GET /api/v1/alerts`), as a table or `--json`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hookguard_config::Config;

use super::dlq::{AdminArgs, Call};
use super::EXIT_INVALID;
use crate::alerts::channels::Channel;
use crate::alerts::rules::Status;

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// Send a test alert through one channel (firing, then with --resolve resolved).
    Test(TestArgs),
    /// The rules of a running sidecar, what fires now, and its channels.
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// The configuration file (TOML or YAML).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,
    /// The channel's id (`[[alerts.channels]]`).
    #[arg(long, value_name = "NAME")]
    channel: String,
    /// Also send the matching resolved notification.
    #[arg(long)]
    resolve: bool,
}

pub(crate) fn alerts(command: AlertsCommand) -> Result<u8, String> {
    match command {
        AlertsCommand::Test(args) => test(args),
        AlertsCommand::List { admin } => list(&admin),
    }
}

fn test(args: TestArgs) -> Result<u8, String> {
    // The log channel writes through tracing, as in the sidecar.
    super::run::init_tracing();
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let channels = config
        .alerts
        .as_ref()
        .map(|a| &a.channels[..])
        .unwrap_or_default();
    let Some(mut spec) = channels.iter().find(|c| c.id == args.channel).cloned() else {
        let known: Vec<&str> = channels.iter().map(|c| c.id.as_str()).collect();
        return Err(if known.is_empty() {
            format!("{}: no [[alerts.channels]]", args.config.display())
        } else {
            format!(
                "{}: no channel {:?}; the channels are {}",
                args.config.display(),
                args.channel,
                known.join(", ")
            )
        });
    };
    if let Some(mqtt) = &mut spec.mqtt {
        // A client id of its own: the broker would disconnect a running sidecar's
        // connection that uses the configured one.
        let mut id: String = mqtt.client_id.chars().take(18).collect();
        id.push_str("-test");
        mqtt.client_id = id;
    }
    let base_dir = args.config.parent().map(PathBuf::from).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting a runtime: {e}"))?;
    runtime.block_on(async {
        let channel = match Channel::build(&spec, &base_dir).await {
            Ok(channel) => channel,
            Err(e) => {
                eprintln!("hookguard: channel {}: {e}", spec.id);
                return Ok(EXIT_INVALID);
            }
        };
        let mut statuses = vec![Status::Firing];
        if args.resolve {
            statuses.push(Status::Resolved);
        }
        for status in statuses {
            let notification = crate::alerts::test_notification(&spec.id, status);
            if let Err(e) = channel.send(&notification).await {
                eprintln!(
                    "hookguard: channel {} ({}): {} notification not delivered: {e}",
                    spec.id,
                    channel.kind,
                    status.as_str()
                );
                return Ok(EXIT_INVALID);
            }
            println!(
                "sent a test alert ({}) through channel {} ({})",
                status.as_str(),
                spec.id,
                channel.kind
            );
        }
        Ok(0)
    })
}

fn list(admin: &AdminArgs) -> Result<u8, String> {
    let answer = Call {
        admin,
        method: reqwest::Method::GET,
        path: "/alerts".into(),
        query: Vec::new(),
        body: None,
    }
    .send()?;
    let body = match answer {
        Ok(body) => body,
        Err(refusal) => {
            eprintln!("hookguard: {refusal}");
            return Ok(EXIT_INVALID);
        }
    };
    if admin.json {
        println!("{body:#}");
        return Ok(0);
    }
    let rules = body["rules"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        println!("no alert rules ([alerts] is not configured)");
        return Ok(0);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["rule", "kind", "threshold", "window", "channels", "state"]);
    for rule in &rules {
        let firing: Vec<String> = rule["firing"]
            .as_array()
            .map(|alerts| {
                alerts
                    .iter()
                    .map(|a| {
                        let labels: Vec<String> = a["labels"]
                            .as_object()
                            .map(|l| {
                                l.iter()
                                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        format!(
                            "FIRING {} since {}",
                            labels.join(","),
                            a["since"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut state = if firing.is_empty() {
            "ok".to_owned()
        } else {
            firing.join("\n")
        };
        if let Some(until) = rule["silenced_until"].as_str() {
            state.push_str(&format!("\n(silenced until {until})"));
        }
        let channels: Vec<&str> = rule["channels"]
            .as_array()
            .map(|c| c.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        table.add_row([
            rule["id"].as_str().unwrap_or_default().to_owned(),
            rule["kind"].as_str().unwrap_or_default().to_owned(),
            rule["threshold"].to_string(),
            format!("{}s", rule["window_seconds"]),
            channels.join(", "),
            state,
        ]);
    }
    println!("{table}");
    let unusable: Vec<&str> = body["channels"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter(|ch| ch["usable"] == false)
                .filter_map(|ch| ch["id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    if !unusable.is_empty() {
        println!(
            "channels that could not be set up (see the sidecar's log): {}",
            unusable.join(", ")
        );
    }
    Ok(0)
}
