//! `hookguard check -c FILE` and `hookguard config schema`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hookguard_config::Config;

use super::EXIT_USAGE;

/// `hookguard check`'s exit status when the file is valid but Redis does not answer.
const EXIT_UNREACHABLE: u8 = 1;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The configuration file (TOML or YAML).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,
}

/// Loads and validates; prints a redacted summary (exit 0) or every problem (exit 2).
pub(crate) fn check(args: CheckArgs) -> Result<u8, String> {
    match Config::load(&args.config) {
        Ok(config) => {
            print!("{}", config.summary());
            // A valid file pointing at a Redis that does not answer would fail at `run`:
            // say so here, with the reason (the URL shown without credentials).
            if config.state.backend == hookguard_config::StateBackend::Redis {
                let base_dir = args.config.parent().map(PathBuf::from).unwrap_or_default();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("starting a runtime: {e}"))?;
                match runtime.block_on(crate::shared_state::probe(&config, &base_dir)) {
                    // The topology, each node's answer, then the PING through it.
                    Ok(Some(report)) => println!("{report}"),
                    Ok(None) => {}
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(EXIT_UNREACHABLE);
                    }
                }
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(EXIT_USAGE)
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the JSON Schema of the configuration file (for editors).
    Schema,
}

pub(crate) fn config(command: ConfigCommand) -> Result<u8, String> {
    match command {
        ConfigCommand::Schema => {
            println!("{}", hookguard_config::json_schema());
            Ok(0)
        }
    }
}
