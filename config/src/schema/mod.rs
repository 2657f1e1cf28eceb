//! The configuration file's schema. Every field's doc comment is the user's documentation:
//! it becomes the description in the JSON Schema (`hookguard config schema`).

use std::net::SocketAddr;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::path::SourceMap;
use crate::units::{ByteSize, HumanDuration, Tolerance};

mod alerts;
mod connections;
mod delivery;
mod ip;
mod route;
mod rules;
mod secret;
mod state;
mod subscription;

pub use alerts::{
    AlertChannel, AlertKind, AlertRule, Alerts, EmailChannel, EmailTls, LogChannel, MqttChannel,
    PagerDutyChannel, Severity, SlackChannel, WebhookChannel,
};
pub use connections::Connections;
pub use delivery::{
    default_retry_schedule, Admin, BreakerSettings, DeliveryMode, DurabilityName, EventLogSettings,
    OrderingKey, QueueSettings, RouteQueue,
};
pub use ip::{
    parse_network, ForwardedHeaderName, IpRules, Provider, ProviderRanges, RangeFormatName,
};
pub use route::{
    HmacSpec, MatchKind, Rate, RateLimits, Replay, Route, RouteKey, RouteMatch, SchemeError,
    TimestampFormatName,
};
pub use rules::{EventSourceSpec, OnMissingName, PayloadRules};
pub use secret::{InfisicalRef, SecretSource, SecretSourceError, SecretSpec, VaultRef};
pub use state::{
    FailureModeName, FailureModes, QueueBackend, SentinelSettings, StateBackend, StateSettings,
};
pub use subscription::{event_matches, AuthKind, EndpointAuth, Outbound, Subscription};

/// hookguard's configuration: where it listens, the app it protects, and the webhook routes.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the sidecar accepts webhook deliveries on (`IP:port`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Address of the admin listener, which serves `/livez`, `/readyz` and `/metrics`
    /// (default `127.0.0.1:9090`: loopback only). Kubelet probes and Prometheus need
    /// `0.0.0.0:9090`, as the shipped Kubernetes and Helm configs set; keep it off the
    /// public network.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: SocketAddr,
    /// After SIGTERM, how long requests already in flight may take to finish before the
    /// sidecar exits. `/readyz` answers 503 during this time.
    #[serde(default = "default_grace")]
    pub shutdown_grace_period: HumanDuration,
    /// The application that receives the webhooks hookguard admits.
    pub upstream: Upstream,
    /// Values a route uses when it does not set its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// Deadlines and caps for the webhook listener's connections.
    #[serde(default)]
    pub connections: Connections,
    /// One limit shared by every request the sidecar receives, on any route, counted before
    /// any body byte is read. Unset: no global limit.
    #[serde(default)]
    pub global_rate_limit: Option<Rate>,
    /// The webhook routes. A request whose path matches none is answered 404.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The durable queue behind routes with `delivery = "queue"`.
    #[serde(default)]
    pub queue: QueueSettings,
    /// The admin API's credentials.
    #[serde(default)]
    pub admin: Admin,
    /// Where state shared by replicas lives (rate limits, replay records, the queue):
    /// this process by default, or Redis.
    #[serde(default)]
    pub state: StateSettings,
    /// Outbound webhooks: the listener the app posts events to. Unset: no outbound side
    /// (and no `[[subscriptions]]`).
    #[serde(default)]
    pub outbound: Option<Outbound>,
    /// The endpoints outbound events are delivered to (more can be added through the
    /// admin API). Needs `[outbound]`.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// Built-in alerting: rules on the sidecar's own counters and the channels they notify
    /// (Slack, a signed webhook, email, PagerDuty, MQTT, the log). Unset: none.
    #[serde(default)]
    pub alerts: Option<Alerts>,
    /// Where each value was in the file it was loaded from.
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) source: Source,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}

fn default_grace() -> HumanDuration {
    HumanDuration::secs(10)
}

impl Config {
    /// The route with this id.
    pub fn route(&self, id: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.id == id)
    }

    /// Where each value was in the file, for a configuration loaded from one.
    pub fn source_map(&self) -> Option<&SourceMap> {
        self.source.0.as_deref()
    }
}

/// The file positions a configuration came from. Two configurations with the same values
/// are equal wherever they came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source(pub(crate) Option<Arc<SourceMap>>);

impl PartialEq for Source {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The application behind hookguard.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// The app's `host:port`, e.g. `127.0.0.1:3000` (in a Kubernetes pod, the app's
    /// container port on localhost). Plain HTTP/1.1.
    pub address: String,
    /// How long connecting to the app may take before the delivery fails with 502.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// How long the app may take to answer once the request is sent (504 after that).
    #[serde(default = "default_read_timeout")]
    pub read_timeout: HumanDuration,
    /// What the app receives in `X-Forwarded-For` and `Forwarded`: `append` adds the
    /// connection's peer to what the client sent (as proxies do; an app trusting one hop
    /// reads the last entry), `replace` sends only the client address hookguard decided
    /// (the verified one from the route's `ip.forwarded` settings, else the peer).
    #[serde(default)]
    pub forwarded_for: ForwardedFor,
}

/// How `X-Forwarded-For` and `Forwarded` reach the app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ForwardedFor {
    /// Keep what the client sent and append the connection's peer.
    #[default]
    Append,
    /// Drop what the client sent; send only the client address hookguard decided.
    Replace,
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration::secs(2)
}

fn default_read_timeout() -> HumanDuration {
    HumanDuration::secs(30)
}

/// Values every route uses unless it sets its own.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Largest request body accepted; larger ones are answered 413, by `Content-Length`
    /// before reading, or as soon as the limit is crossed while reading.
    #[serde(default = "default_body_limit")]
    pub body_limit: ByteSize,
    /// How long reading a whole request body may take (a total, not per read); slower
    /// senders are answered 408.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout: HumanDuration,
    /// How far a signed timestamp may be from the sidecar's clock, or `"off"`. Unset: each
    /// scheme's own default (5 minutes for most providers).
    #[serde(default)]
    pub tolerance: Option<Tolerance>,
    /// `enforce` refuses what fails a check; `shadow` runs, logs and counts every check but
    /// forwards everything (for trying hookguard out on live traffic).
    #[serde(default)]
    pub mode: Mode,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            body_limit: default_body_limit(),
            body_read_timeout: default_body_read_timeout(),
            tolerance: None,
            mode: Mode::Enforce,
        }
    }
}

fn default_body_limit() -> ByteSize {
    ByteSize::mib(1)
}

fn default_body_read_timeout() -> HumanDuration {
    HumanDuration::secs(10)
}

/// Whether failed checks refuse the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse requests that fail a check.
    #[default]
    Enforce,
    /// Run, log and count every check, and forward every request.
    Shadow,
}

impl Mode {
    /// `enforce` or `shadow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        }
    }
}
