//! The real sidecar (`hookguard run -c FILE`, the binary cargo built for this package) in
//! front of a recording upstream, each test with its own processes on free ports.

mod admin_api;
mod admission;
mod alerts;
mod crash;
mod forwarding;
mod hardening;
mod lifecycle;
mod outbound;
mod queue;
mod redis;
mod redis_topology;
mod reload;
mod rotation;
mod rules;
mod secrets;
mod shared_keys;

use std::time::Duration;

use hookguard_tests::{SidecarBuilder, Upstream};

/// The GitHub route's secret in most tests.
const SECRET: &str = "gh-test-secret-1b7e44c0";

/// How long a raw exchange may take.
const WITHIN: Duration = Duration::from_secs(10);

/// A sidecar run by the `hookguard` binary of this package.
fn sidecar() -> SidecarBuilder {
    hookguard_tests::sidecar(env!("CARGO_BIN_EXE_hookguard"))
}

/// A configuration: top-level settings, the upstream, then the routes (TOML tables).
fn config(app: &Upstream, top: &str, routes: &str) -> String {
    format!(
        "{top}\n[upstream]\naddress = \"{}\"\nread_timeout = \"10s\"\n\n{routes}",
        app.addr()
    )
}

/// A GitHub route `id` on `path` with the secret [`SECRET`] and `extra` settings.
fn github_route(id: &str, path: &str, extra: &str) -> String {
    format!(
        r#"
[[routes]]
id = "{id}"
match.path = "{path}"
scheme = "github"
secrets = [{{ id = "primary", value = "{SECRET}" }}]
{extra}
"#
    )
}

/// The head of a raw `POST path` request (`Host`, then `extra` header lines, which end in
/// `\r\n`), without the blank line.
fn raw_head(path: &str, extra: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: hookguard.test\r\n{extra}")
}

/// The value of the sample `name{labels}` in a Prometheus text exposition (labels as
/// written by the encoder, sorted by name), or `None`.
fn sample(metrics: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}
