//! `hookguard alerts test -c FILE --channel NAME`: sends a test alert through one channel
//! of a configuration file, with the channel's real settings and secrets. Exit 0 when the
//! channel accepted it, 1 when it did not (stderr says why), 2 for a usage error.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hookguard_config::Config;

use super::EXIT_INVALID;
use crate::alerts::channels::Channel;
use crate::alerts::rules::Status;

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// Send a test alert through one channel (firing, then with --resolve resolved).
    Test(TestArgs),
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
    }
}

fn test(args: TestArgs) -> Result<u8, String> {
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let channels = config.alerts.as_ref().map(|a| &a.channels[..]).unwrap_or_default();
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
