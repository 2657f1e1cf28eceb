//! `hookguard`: the webhook security sidecar and its command-line tools.
// The one `unsafe` is the allocator's (`alloc.rs`, which allows it for itself).
#![deny(unsafe_code)]

/// mimalloc (`alloc.rs`).
#[global_allocator]
static GLOBAL: alloc::Mimalloc = alloc::Mimalloc;

mod admin;
mod alerts;
mod alloc;
mod cli;
mod diagnose;
mod metrics;
mod migrate;
mod outbound;
mod queue;
mod rfc3339;
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
