//! `hookguard check -c FILE` and `hookguard config schema`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hookguard_config::Config;

use super::EXIT_USAGE;

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
