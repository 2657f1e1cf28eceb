//! Durable delivery (queue mode) and the admin API's credentials.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretSpec;
use crate::units::{ByteSize, HumanDuration};

/// How a route hands an admitted request to the app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Proxy the request to the app and relay its answer (502/504 when the app is down).
    #[default]
    Forward,
    /// Store the request durably, answer the provider `202` at once, and deliver it to
    /// the app with retries (nothing is lost while the app is down).
    Queue,
}

/// A queued route's delivery settings.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteQueue {
    /// Retries after the first attempt before a message goes to the dead-letter queue
    /// (1–10).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// How long one delivery attempt may take (5s–300s); a slower app counts as a timeout
    /// and the attempt is retried.
    #[serde(default = "default_attempt_timeout")]
    pub timeout: HumanDuration,
    /// Deliveries to the app in flight at once for this route.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Deliver messages with the same key one at a time, in arrival order. A failing
    /// message holds back only its own key. Unset: no ordering.
    #[serde(default)]
    pub ordering_key: Option<OrderingKey>,
    /// Messages waiting for this route at most; beyond it the provider is answered 503
    /// with `Retry-After`. Unset: `queue.max_messages`.
    #[serde(default)]
    pub max_messages: Option<u64>,
    /// Bytes of bodies waiting for this route at most (503 beyond). Unset:
    /// `queue.max_bytes`.
    #[serde(default)]
    pub max_bytes: Option<ByteSize>,
}

impl Default for RouteQueue {
    fn default() -> Self {
        Self {
            max_retries: default_max_retries(),
            timeout: default_attempt_timeout(),
            concurrency: default_concurrency(),
            ordering_key: None,
            max_messages: None,
            max_bytes: None,
        }
    }
}

fn default_max_retries() -> u32 {
    5
}

fn default_attempt_timeout() -> HumanDuration {
    HumanDuration::secs(30)
}

fn default_concurrency() -> u32 {
    8
}

/// Where a message's ordering key comes from: exactly one of `header` or `json_path`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderingKey {
    /// A request header, e.g. `X-Shopify-Product-Id`.
    #[serde(default)]
    pub header: Option<String>,
    /// A JSONPath (RFC 9535) into the JSON body, e.g. `$.data.object.id`. Its first match
    /// (a string or a number) is the key.
    #[serde(default)]
    pub json_path: Option<String>,
}

/// The durable queue shared by every queued route.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// The directory the queue is stored in (created if missing). Relative paths are
    /// relative to this file. In Kubernetes, a volume that outlives the container.
    /// Read at start-up only: a change needs a restart.
    #[serde(default = "default_queue_path")]
    pub path: PathBuf,
    /// When a message counts as stored, and the provider is answered 202: `fsync`
    /// (written and flushed to the disk: survives a power loss; many requests share one
    /// flush) or `os` (handed to the operating system: survives a crash of hookguard, not
    /// of the machine). Read at start-up only.
    #[serde(default)]
    pub durability: DurabilityName,
    /// Messages waiting per route at most, unless the route sets its own.
    #[serde(default = "default_max_messages")]
    pub max_messages: u64,
    /// Bytes of bodies waiting per route at most, unless the route sets its own.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// How long a delivered message is kept (for the admin API) before it is removed.
    #[serde(default = "default_delivered_retention")]
    pub delivered_retention: HumanDuration,
    /// How long a dead letter is kept before it is removed if no operator acted on it.
    #[serde(default = "default_dead_retention")]
    pub dead_retention: HumanDuration,
    /// Delay before each retry, in order (each delay is drawn at random between 0 and the
    /// value: full jitter). A route with more retries than entries reuses the last one.
    #[serde(default = "default_retry_schedule")]
    pub retry_schedule: Vec<HumanDuration>,
    /// When to stop calling an app that keeps failing.
    #[serde(default)]
    pub breaker: BreakerSettings,
    /// Keys that encrypt stored headers and bodies (AES-256-GCM or ChaCha20-Poly1305 per
    /// the build): each 32 bytes, base64, from any secret source. New messages are sealed
    /// with the first; any listed key opens. Empty: stored unencrypted.
    #[serde(default)]
    pub encryption_keys: Vec<SecretSpec>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            path: default_queue_path(),
            durability: DurabilityName::default(),
            max_messages: default_max_messages(),
            max_bytes: default_max_bytes(),
            delivered_retention: default_delivered_retention(),
            dead_retention: default_dead_retention(),
            retry_schedule: default_retry_schedule(),
            breaker: BreakerSettings::default(),
            encryption_keys: Vec::new(),
        }
    }
}

fn default_queue_path() -> PathBuf {
    PathBuf::from("hookguard-queue")
}

fn default_max_messages() -> u64 {
    100_000
}

fn default_max_bytes() -> ByteSize {
    ByteSize::mib(256)
}

fn default_delivered_retention() -> HumanDuration {
    HumanDuration::secs(3600)
}

fn default_dead_retention() -> HumanDuration {
    HumanDuration::secs(14 * 86_400)
}

/// The default retry delays: 5 s, 30 s, 2 m, 10 m, 30 m, 1 h, 2 h, 4 h, 8 h, 10 h.
pub fn default_retry_schedule() -> Vec<HumanDuration> {
    [5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 36_000]
        .into_iter()
        .map(HumanDuration::secs)
        .collect()
}

/// `fsync` or `os`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityName {
    /// Flushed to the disk before the 202.
    #[default]
    Fsync,
    /// Handed to the operating system before the 202.
    Os,
}

/// The circuit breaker per destination.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerSettings {
    /// Consecutive failed attempts that open the breaker.
    #[serde(default = "default_consecutive_failures")]
    pub consecutive_failures: u32,
    /// Share of failed attempts over `window` that opens the breaker (0–1), once at least
    /// `min_attempts` were made in it.
    #[serde(default = "default_failure_rate")]
    pub failure_rate: f64,
    /// The window the failure rate is measured over.
    #[serde(default = "default_breaker_window")]
    pub window: HumanDuration,
    /// Attempts in the window before the failure rate counts.
    #[serde(default = "default_min_attempts")]
    pub min_attempts: u32,
    /// How long the breaker stays open before one probe is let through. While open,
    /// messages wait; they are not counted as failed attempts.
    #[serde(default = "default_cooldown")]
    pub cooldown: HumanDuration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: default_consecutive_failures(),
            failure_rate: default_failure_rate(),
            window: default_breaker_window(),
            min_attempts: default_min_attempts(),
            cooldown: default_cooldown(),
        }
    }
}

fn default_consecutive_failures() -> u32 {
    5
}

fn default_failure_rate() -> f64 {
    0.5
}

fn default_breaker_window() -> HumanDuration {
    HumanDuration::secs(60)
}

fn default_min_attempts() -> u32 {
    20
}

fn default_cooldown() -> HumanDuration {
    HumanDuration::secs(10)
}

/// The admin API (`/api/v1/` on the admin listener).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Bearer tokens accepted by the admin API, from any secret source; list two during a
    /// rotation. Logs name a token by its `id`, never its value. Empty: every `/api/`
    /// call is refused (`/livez`, `/readyz` and `/metrics` stay open).
    #[serde(default)]
    pub tokens: Vec<SecretSpec>,
    /// Where the admin API keeps what it makes and records — API-made webhook keys and
    /// their states, the audit log, the event log — an embedded store (a directory),
    /// relative to this file. Opened only when `tokens` are set. Read at start-up only.
    #[serde(default = "default_admin_path")]
    pub path: PathBuf,
    /// The event log: each request's outcome, kept for the API and the console.
    #[serde(default)]
    pub events: EventLogSettings,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            path: default_admin_path(),
            events: EventLogSettings::default(),
        }
    }
}

fn default_admin_path() -> PathBuf {
    PathBuf::from("hookguard-admin")
}

/// How much of the event log is kept: the oldest events go first when either limit is
/// reached.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventLogSettings {
    /// Most events kept (default 10000).
    #[serde(default = "default_max_events")]
    pub max_events: u64,
    /// Events older than this are dropped (default `"24h"`).
    #[serde(default = "default_max_event_age")]
    pub max_age: HumanDuration,
    /// Route ids whose requests are kept with their headers and bodies (none by default):
    /// credential and signature headers masked, bodies up to 64 KiB, sealed with
    /// `queue.encryption_keys` when set. A body is kept once the request passed the checks.
    #[serde(default)]
    pub capture: Vec<String>,
}

impl Default for EventLogSettings {
    fn default() -> Self {
        Self {
            max_events: default_max_events(),
            max_age: default_max_event_age(),
            capture: Vec::new(),
        }
    }
}

fn default_max_events() -> u64 {
    10_000
}

fn default_max_event_age() -> HumanDuration {
    HumanDuration::secs(24 * 3600)
}
