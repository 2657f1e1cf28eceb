//! `hookguard`: the webhook security sidecar and its command-line tools.
#![forbid(unsafe_code)]

mod admin;
mod alerts;
mod cli;
mod diagnose;
mod metrics;
mod migrate;
mod outbound;
mod queue;
mod runtime;
mod sandbox;
mod shared_state;
mod sidecar;
mod stack;
mod state;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::Cli::parse().run()
}
