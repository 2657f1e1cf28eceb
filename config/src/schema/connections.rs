//! `[connections]`: how long a client may take to send a request head, how long an idle
//! keep-alive connection stays open, and how many connections the webhook listener holds.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::units::HumanDuration;

/// Limits on the webhook listener's connections. They hold before any route runs: a
/// client that opens connections and sends nothing, or sends its request head a byte at a
/// time, cannot exhaust the sidecar's memory or file descriptors.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connections {
    /// How long a client may take to send a whole request head (request line and headers),
    /// counted from the connection's first byte or from the end of the previous request.
    /// Slower clients are disconnected.
    #[serde(default = "default_head_timeout")]
    pub head_timeout: HumanDuration,
    /// How long an idle keep-alive connection is kept waiting for its next request.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// Most connections open at once on the webhook listener; more are closed as soon as
    /// they are accepted (and counted in `hookguard_connections_refused_total`).
    #[serde(default = "default_max")]
    pub max: usize,
    /// Most connections open at once from one client address.
    #[serde(default = "default_max_per_client")]
    pub max_per_client: usize,
}

impl Default for Connections {
    fn default() -> Self {
        Self {
            head_timeout: default_head_timeout(),
            idle_timeout: default_idle_timeout(),
            max: default_max(),
            max_per_client: default_max_per_client(),
        }
    }
}

fn default_head_timeout() -> HumanDuration {
    HumanDuration::secs(10)
}

fn default_idle_timeout() -> HumanDuration {
    HumanDuration::secs(60)
}

fn default_max() -> usize {
    4096
}

fn default_max_per_client() -> usize {
    1024
}
