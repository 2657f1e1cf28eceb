//! `[state]`: where state shared by replicas lives — rate-limit buckets, replay records and
//! the delivery queue — and what happens when that store does not answer.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretSpec;
use crate::secret_value::SecretValue;
use crate::units::HumanDuration;

/// Where shared state lives. The default, `memory`, keeps it in this process (and the
/// queue on local disk): right for one replica. Several replicas of one app share it
/// through `redis`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    /// `memory` (each replica alone) or `redis` (shared by every replica).
    #[serde(default)]
    pub backend: StateBackend,
    /// Redis's URL, written here: `redis://[user:password@]host:6379/0`, or `rediss://`
    /// for TLS. It may hold a password, so prefer `url_env` or `url_file`. Exactly one of
    /// the three with `backend = "redis"` and one server; with `sentinel` or `cluster` at
    /// most one, and it gives the user, password, database and TLS (`rediss://`) of the
    /// data nodes (with `sentinel` its host is not used; with `cluster` it is one more
    /// seed node).
    #[serde(default)]
    pub url: Option<SecretValue>,
    /// The name of an environment variable holding Redis's URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// A file holding Redis's URL (e.g. a mounted Kubernetes Secret); relative to this
    /// configuration file.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Redis Sentinel: ask these sentinels where the master is, and follow a failover.
    #[serde(default)]
    pub sentinel: Option<SentinelSettings>,
    /// Redis Cluster: seed nodes, `host:port` (or `redis://host:port`, `rediss://` for
    /// TLS), without credentials (those go in `url`/`url_env`/`url_file`). The client
    /// learns the other nodes from them.
    #[serde(default)]
    pub cluster: Option<Vec<String>>,
    /// Put before every key, so several deployments can share one Redis.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// How long one connection attempt to Redis may take.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// How long one Redis command may take (it is on the request path); after that the
    /// failure mode decides.
    #[serde(default = "default_command_timeout")]
    pub command_timeout: HumanDuration,
    /// Where the delivery queue lives: `embedded` (local disk) or `redis`. Unset: `redis`
    /// with `backend = "redis"` (a message accepted by one replica is delivered by another
    /// if that one dies), else `embedded`.
    #[serde(default)]
    pub queue: Option<QueueBackend>,
    /// What each feature does when Redis does not answer in time.
    #[serde(default)]
    pub on_failure: FailureModes,
}

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            backend: StateBackend::Memory,
            url: None,
            url_env: None,
            url_file: None,
            sentinel: None,
            cluster: None,
            prefix: default_prefix(),
            connect_timeout: default_connect_timeout(),
            command_timeout: default_command_timeout(),
            queue: None,
            on_failure: FailureModes::default(),
        }
    }
}

impl StateSettings {
    /// Whether the queue lives in Redis.
    pub fn queue_in_redis(&self) -> bool {
        match self.queue {
            Some(backend) => backend == QueueBackend::Redis,
            None => self.backend == StateBackend::Redis,
        }
    }

    /// The URL's source as a secret spec (id `state.url`), to be read like any secret;
    /// `None` when no source is set.
    pub fn url_spec(&self) -> Option<SecretSpec> {
        if self.url.is_none() && self.url_env.is_none() && self.url_file.is_none() {
            return None;
        }
        Some(SecretSpec {
            id: "state.url".into(),
            value: self.url.clone(),
            env: self.url_env.clone(),
            file: self.url_file.clone(),
            vault: None,
            infisical: None,
            rotated_at: None,
            max_age: None,
        })
    }
}

fn default_prefix() -> String {
    "hookguard:".into()
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration::secs(1)
}

fn default_command_timeout() -> HumanDuration {
    HumanDuration::millis(250)
}

/// `[state.sentinel]`: the sentinels that know where the master is.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SentinelSettings {
    /// The name the sentinels monitor the master under (`sentinel monitor NAME …`).
    pub master_name: String,
    /// The sentinels: `host:port` (or `redis://host:port`, `rediss://` for TLS), without
    /// credentials. One is enough to work; three or more survive a sentinel's loss.
    pub nodes: Vec<String>,
    /// The name of an environment variable holding the sentinels' own password (their
    /// `requirepass`), if they have one.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file holding the sentinels' password; relative to this configuration file.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl SentinelSettings {
    /// The sentinels' password source as a secret spec (id `state.sentinel.password`);
    /// `None` when they have none.
    pub fn password_spec(&self) -> Option<SecretSpec> {
        if self.password_env.is_none() && self.password_file.is_none() {
            return None;
        }
        Some(SecretSpec {
            id: "state.sentinel.password".into(),
            value: None,
            env: self.password_env.clone(),
            file: self.password_file.clone(),
            vault: None,
            infisical: None,
            rotated_at: None,
            max_age: None,
        })
    }
}

/// Where shared state lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// In this process: each replica keeps its own.
    #[default]
    Memory,
    /// In Redis (or Valkey), shared by every replica.
    Redis,
}

/// Where the delivery queue lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    /// On local disk (`queue.dir`).
    Embedded,
    /// In Redis (`[state]`'s URL).
    Redis,
}

/// What a feature does when Redis does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureModeName {
    /// Decide on this replica's own in-memory state (counted in
    /// `hookguard_state_degraded_total` and logged once a minute).
    FailOpen,
    /// Refuse with 503 and `Retry-After`: the provider retries later.
    FailClosed,
}

/// Failure mode per feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureModes {
    /// Rate limits: `fail_open` by default (each replica limits alone meanwhile).
    #[serde(default = "fail_open")]
    pub rate_limits: FailureModeName,
    /// The replay guard: `fail_closed` by default (a replay could pass otherwise).
    #[serde(default = "fail_closed")]
    pub replay: FailureModeName,
    /// The queue: `fail_closed`, the only mode (a message is acknowledged only once it is
    /// stored durably).
    #[serde(default = "fail_closed")]
    pub queue: FailureModeName,
}

impl Default for FailureModes {
    fn default() -> Self {
        Self {
            rate_limits: FailureModeName::FailOpen,
            replay: FailureModeName::FailClosed,
            queue: FailureModeName::FailClosed,
        }
    }
}

fn fail_open() -> FailureModeName {
    FailureModeName::FailOpen
}

fn fail_closed() -> FailureModeName {
    FailureModeName::FailClosed
}
