//! The command line: `hookguard run`, `check`, `config schema`, `verify`, `sign`, `dlq`,
//! `queue`, `events`, `subscriptions`, `sandbox`, `explain`, `graph`,
//! `secrets validate`, `secrets migrate`, `alerts`.
//!
//! Exit codes are part of the interface (other tools call these commands): 0 success,
//! 1 the request is invalid, 2 a usage error or an unusable secret.

mod alerts;
mod check;
mod dlq;
mod echo;
mod events;
mod explain;
mod explain_event;
mod graph;
mod inject;
mod migrate;
mod progress;
mod request;
mod run;
mod sandbox;
mod secrets;
mod sign;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: the request is not valid.
pub(crate) const EXIT_INVALID: u8 = 1;
/// Exit code: usage error or unusable secret.
pub(crate) const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "hookguard",
    version,
    about = "Webhook security sidecar and tools"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sidecar with a configuration file.
    Run(run::RunArgs),
    /// Validate a configuration file; print a redacted summary or every problem.
    Check(check::CheckArgs),
    /// Wait SECONDS and exit 0: a preStop hook for images without a shell or `sleep`.
    Sleep {
        /// How long to wait.
        seconds: u64,
    },
    /// A small app that answers with what it received (the demo's upstream).
    Echo(echo::EchoArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(check::ConfigCommand),
    /// Verify a webhook request's signature as the provider's SDK would.
    Verify(verify::VerifyArgs),
    /// Print the headers a provider would send for a body, to make valid test requests.
    Sign(sign::SignArgs),
    /// Add hookguard as a sidecar to a Deployment's YAML (offline); print the result.
    Inject(inject::InjectArgs),
    /// The dead-letter queue of a running sidecar (through its admin API).
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// The delivery queue of a running sidecar (through its admin API).
    #[command(subcommand)]
    Queue(dlq::QueueCommand),
    /// Post outbound events to a running sidecar, as the app does.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Outbound subscriptions of a running sidecar (through its admin API).
    #[command(subcommand)]
    Subscriptions(events::SubscriptionsCommand),
    /// A mock receiver for testing senders: per-path answers, errors, delays, signature
    /// checks, history and replay.
    Sandbox(sandbox::SandboxArgs),
    /// Run a captured request through a route's checks; say which stage refuses it and why.
    Explain(explain::ExplainArgs),
    /// Draw the routes and their flows (Mermaid or Graphviz dot).
    Graph(graph::GraphArgs),
    /// Check the routes' secrets where they live (env, file, Vault, Infisical).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Built-in alerting: send a test alert through a channel of a configuration file.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
}

/// The configured route ids, for "expected one of" messages.
pub(crate) fn route_ids(config: &hookguard_config::Config) -> String {
    config
        .routes
        .iter()
        .map(|r| r.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Cli {
    pub(crate) fn run(self) -> ExitCode {
        let result = match self.command {
            Command::Run(args) => run::run(args),
            Command::Check(args) => check::check(args),
            Command::Echo(args) => echo::run(args),
            Command::Sleep { seconds } => {
                std::thread::sleep(std::time::Duration::from_secs(seconds));
                Ok(0)
            }
            Command::Config(command) => check::config(command),
            Command::Verify(args) => verify::run(args),
            Command::Sign(args) => sign::run(args),
            Command::Inject(args) => inject::run(args),
            Command::Dlq(command) => dlq::dlq(command),
            Command::Queue(command) => dlq::queue(command),
            Command::Events(command) => events::events(command),
            Command::Subscriptions(command) => events::subscriptions(command),
            Command::Sandbox(args) => sandbox::run(args),
            Command::Explain(args) => explain::run(args),
            Command::Graph(args) => graph::run(args),
            Command::Secrets(command) => secrets::secrets(command),
            Command::Alerts(command) => alerts::alerts(command),
        };
        match result {
            Ok(code) => ExitCode::from(code),
            Err(message) => {
                eprintln!("hookguard: {message}");
                ExitCode::from(EXIT_USAGE)
            }
        }
    }
}
