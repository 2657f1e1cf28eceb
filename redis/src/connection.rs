//! [`Redis`]: one connection to one Redis (or Valkey) server, shared by every store, and
//! what the sidecar needs to know about it: whether it answers, how fast, and how many
//! decisions were taken without it.
//!
//! Three topologies ([`Topology`]), each on redis-rs's own client for it:
//! - **standalone**: redis-rs's `ConnectionManager`, one multiplexed connection that
//!   reconnects in the background with exponential backoff (capped at one second, so that
//!   service comes back within a few seconds of Redis coming back);
//! - **Sentinel**: redis-rs's `SentinelClient` asks the sentinels where the master is (and
//!   checks that it says `ROLE master`); the multiplexed connection to it is kept until it
//!   fails, answers `READONLY` (a demoted master) or times out, and the next command (or
//!   the once-a-second health check) asks the sentinels again, so a failover is followed
//!   within a second or two of the sentinels promoting a replica. redis-rs has no
//!   connection manager for Sentinel; [`SentinelLink`] is that small piece;
//! - **Cluster**: redis-rs's async `ClusterConnection` (slot routing, `MOVED`/`ASK`,
//!   topology refresh and reconnection are its own). Every multi-key script and
//!   transaction of the stores keeps its keys in one hash tag.
//!
//! Every command is also bounded by [`RedisSettings::command_timeout`] here, including the
//! wait for a reconnection, so a request never hangs on a Redis that is down.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hookguard_redis::RedisError> {
//! use hookguard_redis::{Redis, RedisSettings};
//! let settings = RedisSettings::new("rediss://:password@redis.internal:6380/0").prefix("shop:");
//! // `connect` fails when Redis does not answer; `connect_lazy` starts degraded instead.
//! let redis = Redis::connect(settings).await?;
//! assert!(redis.health().up);
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, IntoConnectionInfo};
use secrecy::{ExposeSecret, SecretString};

/// How long a command may take by default (a decision on the request path).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a connection attempt may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest pause between reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// How often the sentinels are asked whether the master moved.
const SENTINEL_WATCH_EVERY: Duration = Duration::from_secs(1);
/// Degraded decisions of one feature are logged at most this often.
const DEGRADED_LOG_EVERY: Duration = Duration::from_secs(60);

/// Which Redis deployment to talk to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Topology {
    /// One server, at [`RedisSettings::url`].
    #[default]
    Standalone,
    /// The master the sentinels name `master_name`, found through `sentinels`
    /// (`host:port`, `redis://host:port` or `rediss://host:port`). The settings' URL, when
    /// set, gives the master's user, password, database and TLS (its host is not used).
    Sentinel {
        /// The name the sentinels monitor the master under (`sentinel monitor NAME …`).
        master_name: String,
        /// The sentinels' addresses.
        sentinels: Vec<String>,
    },
    /// A Redis Cluster reached through these seed nodes (`host:port` or URLs); the
    /// settings' URL, when set, is one more seed and gives user, password and TLS for all.
    Cluster {
        /// Seed nodes; the client learns the others from them.
        nodes: Vec<String>,
    },
}

impl Topology {
    /// `standalone`, `sentinel` or `cluster`.
    pub fn kind(&self) -> &'static str {
        match self {
            Topology::Standalone => "standalone",
            Topology::Sentinel { .. } => "sentinel",
            Topology::Cluster { .. } => "cluster",
        }
    }
}

/// Where Redis is and how long to wait for it.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port/db` or `rediss://…` (TLS). May hold a password:
    /// never logged; errors show it with the credentials removed. Empty with Sentinel or
    /// Cluster when no credentials are needed.
    pub url: SecretString,
    /// Standalone, Sentinel or Cluster.
    pub topology: Topology,
    /// The sentinels' own password (their `requirepass`), if they have one.
    pub sentinel_password: Option<SecretString>,
    /// Put before every key, so several deployments can share one Redis.
    pub prefix: String,
    /// Longest wait for one connection attempt.
    pub connect_timeout: Duration,
    /// Longest wait for one command's answer (including a reconnection).
    pub command_timeout: Duration,
}

impl RedisSettings {
    /// Settings for `url` with prefix `hookguard:` and the default timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            topology: Topology::Standalone,
            sentinel_password: None,
            prefix: "hookguard:".into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }

    /// Settings for the master named `master_name`, found through `sentinels`. Credentials
    /// for the master: [`RedisSettings::credentials`].
    pub fn sentinel(
        master_name: impl Into<String>,
        sentinels: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self::new("").topology(Topology::Sentinel {
            master_name: master_name.into(),
            sentinels: sentinels.into_iter().map(Into::into).collect(),
        })
    }

    /// Settings for the Cluster reached through `nodes`.
    pub fn cluster(nodes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::new("").topology(Topology::Cluster {
            nodes: nodes.into_iter().map(Into::into).collect(),
        })
    }

    /// Another topology.
    pub fn topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self
    }

    /// The URL whose user, password, database and scheme (`rediss://`: TLS) are used with
    /// Sentinel or Cluster (with Cluster it is also a seed node).
    pub fn credentials(mut self, url: impl Into<String>) -> Self {
        self.url = SecretString::from(url.into());
        self
    }

    /// The sentinels' own password.
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_password = Some(SecretString::from(password.into()));
        self
    }

    /// Another key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Another command timeout.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Another connection timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The URL without user name or password, for messages.
    pub fn redacted_url(&self) -> String {
        redact(self.url.expose_secret())
    }

    /// What messages call this Redis: the URL for one server, `sentinel master NAME via
    /// …` or `cluster …`, credentials removed.
    pub fn describe(&self) -> String {
        match &self.topology {
            Topology::Standalone => self.redacted_url(),
            Topology::Sentinel {
                master_name,
                sentinels,
            } => format!(
                "sentinel master {master_name:?} via {}",
                sentinels
                    .iter()
                    .map(|s| redact(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Topology::Cluster { .. } => format!(
                "cluster {}",
                self.seeds()
                    .iter()
                    .map(|s| redact(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The credentials URL, when one is set.
    fn credentials_url(&self) -> Option<&str> {
        Some(self.url.expose_secret()).filter(|u| !u.is_empty())
    }

    /// With Cluster: the credentials URL (if any) then the nodes, each as a URL carrying
    /// the credentials URL's scheme, user and password.
    fn seeds(&self) -> Vec<String> {
        let Topology::Cluster { nodes } = &self.topology else {
            return Vec::new();
        };
        let mut seeds: Vec<String> = self
            .credentials_url()
            .map(str::to_owned)
            .into_iter()
            .collect();
        let (scheme, auth) = self.credentials_url().map_or(("redis", ""), |url| {
            let scheme = if url.starts_with("rediss://") {
                "rediss"
            } else {
                "redis"
            };
            let rest = url.split_once("://").map_or("", |(_, r)| r);
            let auth = rest.rsplit_once('@').map_or("", |(a, _)| a);
            (scheme, auth)
        });
        for node in nodes {
            let address = node.split_once("://").map_or(node.as_str(), |(_, a)| a);
            let address = address.trim_end_matches('/');
            seeds.push(if auth.is_empty() {
                format!("{scheme}://{address}/")
            } else {
                format!("{scheme}://{auth}@{address}/")
            });
        }
        seeds
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.redacted_url())
            .field("topology", &self.describe())
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// `scheme://host:port/db` without `user:password@`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Why Redis could not be used. Never contains the URL's credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisError {
    /// The URL cannot be used.
    #[error("redis url {url}: {detail}; expected redis://host:port/db or rediss://host:port/db")]
    Url {
        /// The URL, credentials removed.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// Redis did not answer at start.
    #[error("redis at {url} is unreachable: {detail}")]
    Unreachable {
        /// The URL, credentials removed.
        url: String,
        /// What failed.
        detail: String,
    },
    /// A command failed (connection lost, refused, script error).
    #[error("redis command failed: {0}")]
    Command(String),
    /// A command took longer than the command timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// What a decision was for: the label of metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Rate limits.
    Rate,
    /// The replay guard.
    Replay,
    /// The delivery queue.
    Queue,
    /// Health checks (`hookguard check`, `/readyz`).
    Health,
}

impl Feature {
    /// Every feature, in label order.
    pub const ALL: [Feature; 4] = [
        Feature::Rate,
        Feature::Replay,
        Feature::Queue,
        Feature::Health,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Rate => "rate",
            Feature::Replay => "replay",
            Feature::Queue => "queue",
            Feature::Health => "health",
        }
    }

    fn index(self) -> usize {
        match self {
            Feature::Rate => 0,
            Feature::Replay => 1,
            Feature::Queue => 2,
            Feature::Health => 3,
        }
    }
}

/// What a store does when Redis does not answer in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailureMode {
    /// Refuse: the store answers an error, which the layers turn into 503 + `Retry-After`.
    #[default]
    Closed,
    /// Decide on this replica's in-memory state instead (each replica alone), counted as
    /// degraded and logged once a minute.
    Open,
}

/// Told about every command and every degraded decision (the sidecar's metrics).
pub trait CommandObserver: Send + Sync + 'static {
    /// A command for `feature` finished after `elapsed`; `ok` is false when it failed or
    /// timed out.
    fn command(&self, feature: Feature, elapsed: Duration, ok: bool);
    /// A decision for `feature` was taken without Redis (fail open).
    fn degraded(&self, feature: Feature);
    /// After every command: whether Redis answered it.
    fn up(&self, up: bool) {
        let _ = up;
    }
}

/// A snapshot of [`Redis::health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisHealth {
    /// Whether the last command got an answer.
    pub up: bool,
    /// Decisions taken without Redis so far, per feature (in [`Feature::ALL`] order).
    pub degraded: [u64; 4],
}

struct Shared {
    prefix: Arc<str>,
    url: String,
    command_timeout: Duration,
    up: AtomicBool,
    degraded: [AtomicU64; 4],
    /// When each feature last logged a degraded decision (seconds since the epoch).
    logged_at: [AtomicU64; 4],
    observer: std::sync::RwLock<Option<Arc<dyn CommandObserver>>>,
}

/// A connection to Redis shared by the stores (cheap to clone).
#[derive(Clone)]
pub struct Redis {
    backend: Backend,
    shared: Arc<Shared>,
}

/// The client of each topology.
#[derive(Clone)]
enum Backend {
    Standalone(ConnectionManager),
    Sentinel(Arc<SentinelLink>),
    Cluster(ClusterConnection),
}

/// The connection a command runs on: what [`Redis::run`] hands its closure. Commands,
/// scripts and pipelines take it like any redis-rs async connection.
#[derive(Clone)]
pub struct Connection(ConnectionKind);

#[derive(Clone)]
enum ConnectionKind {
    Manager(ConnectionManager),
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match &mut self.0 {
            ConnectionKind::Manager(c) => c.req_packed_command(cmd),
            ConnectionKind::Multiplexed(c) => c.req_packed_command(cmd),
            ConnectionKind::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match &mut self.0 {
            ConnectionKind::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            ConnectionKind::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            ConnectionKind::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            ConnectionKind::Manager(c) => c.get_db(),
            ConnectionKind::Multiplexed(c) => c.get_db(),
            ConnectionKind::Cluster(c) => c.get_db(),
        }
    }
}

/// The master's connection through Sentinel: asked for on first use, kept until it fails,
/// asked for again then. (redis-rs's `SentinelClient` resolves the master and checks its
/// role, but keeps no connection; its `ConnectionManager` knows one fixed address.)
struct SentinelLink {
    master_name: String,
    client: tokio::sync::Mutex<SentinelClient>,
    config: AsyncConnectionConfig,
    /// How long one resolution (sentinels, then the master) may take.
    resolve_within: Duration,
    /// The connection in use, with its generation (so a failure invalidates only the
    /// connection it happened on) and the master's address.
    current: std::sync::Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
    master: std::sync::Mutex<Option<String>>,
}

impl SentinelLink {
    fn cached(&self) -> Option<(u64, MultiplexedConnection)> {
        self.current.lock().ok().and_then(|c| c.clone())
    }

    /// The master's connection: the one in use, or a new one from the sentinels. The
    /// resolution runs in its own task, so a command that times out meanwhile does not
    /// abort it: the next command finds the connection ready.
    async fn connection(self: &Arc<Self>) -> redis::RedisResult<(u64, MultiplexedConnection)> {
        if let Some(current) = self.cached() {
            return Ok(current);
        }
        let link = Arc::clone(self);
        let task = tokio::spawn(async move {
            let mut client = link.client.lock().await;
            // Another task may have connected while this one waited for the lock.
            if let Some(current) = link.cached() {
                return Ok(current);
            }
            let resolved = tokio::time::timeout(link.resolve_within, async {
                let master = client.async_get_client().await?;
                let address = master.get_connection_info().addr().to_string();
                let connection = master
                    .get_multiplexed_async_connection_with_config(&link.config)
                    .await?;
                Ok::<_, redis::RedisError>((address, connection))
            })
            .await
            .map_err(|_| {
                redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "sentinel: finding the master timed out",
                ))
            })??;
            let (address, connection) = resolved;
            let generation = link.generation.fetch_add(1, Ordering::Relaxed) + 1;
            if let Ok(mut current) = link.current.lock() {
                *current = Some((generation, connection.clone()));
            }
            if let Ok(mut master) = link.master.lock() {
                if master.as_deref() != Some(address.as_str()) {
                    tracing::info!(master_name = %link.master_name, master = %address, "redis sentinel: connected to the master");
                    *master = Some(address);
                }
            }
            Ok((generation, connection))
        });
        task.await.map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::Io,
                "sentinel: the resolution task ended",
                e.to_string(),
            ))
        })?
    }

    /// What the sentinels name as the master now (`host:port`), on a connection to one
    /// sentinel kept in `sentinel` between calls.
    async fn named_master(
        &self,
        sentinel: &mut Option<MultiplexedConnection>,
    ) -> redis::RedisResult<String> {
        let ask = async {
            let connection = match sentinel {
                Some(connection) => connection,
                None => {
                    let client = self.client.lock().await.async_get_sentinel_client().await?;
                    let connection = client
                        .get_multiplexed_async_connection_with_config(&self.config)
                        .await?;
                    sentinel.insert(connection)
                }
            };
            let (host, port): (String, u16) = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(&self.master_name)
                .query_async(connection)
                .await?;
            Ok(format!("{host}:{port}"))
        };
        tokio::time::timeout(self.resolve_within, ask)
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "sentinel: no answer",
                )))
            })
    }

    /// Forgets connection `generation` (a newer one stays).
    fn invalidate(&self, generation: u64) {
        if let Ok(mut current) = self.current.lock() {
            if current.as_ref().is_some_and(|(g, _)| *g == generation) {
                *current = None;
            }
        }
    }
}

/// Asks the sentinels once a second where the master is, and drops the connection when
/// they name another one. A failed master is noticed by its connection failing; a live
/// master that a failover demoted keeps taking commands until the sentinels reconfigure
/// it, which can take them 10 s or more — this notices the switch within a second of it.
/// (Polling, not a `+switch-master` subscription: one round trip a second, and nothing
/// to resubscribe when a sentinel restarts.) Ends when the link is dropped.
async fn watch_sentinels(link: std::sync::Weak<SentinelLink>) {
    let mut sentinel = None;
    let mut interval = tokio::time::interval(SENTINEL_WATCH_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(link) = link.upgrade() else { return };
        let Some((generation, _)) = link.cached() else {
            continue;
        };
        let known = link.master.lock().ok().and_then(|m| m.clone());
        match link.named_master(&mut sentinel).await {
            Ok(named) if Some(&named) != known.as_ref() => {
                tracing::warn!(master_name = %link.master_name, master = %named, "redis sentinel: the sentinels name a new master; reconnecting");
                link.invalidate(generation);
            }
            Ok(_) => {}
            // Another sentinel next time; the connection to the master is left alone.
            Err(_) => sentinel = None,
        }
    }
}

/// Whether a failed command means the Sentinel connection should be dropped: the master
/// went away, was demoted (`READONLY`), or does not answer.
fn sentinel_should_reconnect(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        || error
            .code()
            .is_some_and(|c| c == "READONLY" || c == "MASTERDOWN")
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("redis", &self.shared.url)
            .field("prefix", &self.shared.prefix)
            .field("up", &self.shared.up.load(Ordering::Relaxed))
            .finish()
    }
}

impl Redis {
    /// Connects and checks that Redis answers `PING`: a clear error at start-up when it
    /// does not (wrong host, TLS, password).
    pub async fn connect(settings: RedisSettings) -> Result<Self, RedisError> {
        let redis = Self::connect_lazy(settings)?;
        redis.ping().await.map_err(|e| RedisError::Unreachable {
            url: redis.shared.url.clone(),
            detail: e.to_string(),
        })?;
        Ok(redis)
    }

    /// Checks the settings only; the connection is made on first use and remade whenever
    /// it is lost. For a sidecar that starts degraded while Redis is down. Needs a tokio
    /// runtime.
    pub fn connect_lazy(settings: RedisSettings) -> Result<Self, RedisError> {
        let url = settings.describe();
        let bad = |detail: String| RedisError::Url {
            url: url.clone(),
            detail: redact(&detail),
        };
        let backend = match &settings.topology {
            Topology::Standalone => {
                let client = redis::Client::open(settings.url.expose_secret())
                    .map_err(|e| bad(e.to_string()))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(settings.connect_timeout))
                    .set_response_timeout(Some(settings.command_timeout))
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(MAX_RECONNECT_DELAY)
                    .set_number_of_retries(usize::MAX);
                let connection = ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|e| bad(e.to_string()))?;
                Backend::Standalone(connection)
            }
            Topology::Sentinel {
                master_name,
                sentinels,
            } => {
                let link = Arc::new(sentinel_link(&settings, master_name, sentinels).map_err(bad)?);
                tokio::spawn(watch_sentinels(Arc::downgrade(&link)));
                Backend::Sentinel(link)
            }
            Topology::Cluster { .. } => {
                let seeds = settings.seeds();
                if seeds.is_empty() {
                    return Err(bad("a cluster needs at least one node".into()));
                }
                let mut builder = redis::cluster::ClusterClientBuilder::new(
                    seeds
                        .iter()
                        .map(|s| s.as_str().into_connection_info())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| bad(e.to_string()))?,
                )
                .connection_timeout(settings.connect_timeout)
                .response_timeout(settings.command_timeout);
                if let Some(credentials) = settings.credentials_url() {
                    let info = credentials
                        .into_connection_info()
                        .map_err(|e| bad(e.to_string()))?;
                    let redis_info = info.redis_settings();
                    if let Some(user) = redis_info.username() {
                        builder = builder.username(user);
                    }
                    if let Some(password) = redis_info.password() {
                        builder = builder.password(password);
                    }
                }
                let client = builder.build().map_err(|e| bad(e.to_string()))?;
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(settings.connect_timeout)
                    .set_response_timeout(settings.command_timeout);
                Backend::Cluster(client.get_pending_async_connection_with_config(config))
            }
        };
        Ok(Self {
            backend,
            shared: Arc::new(Shared {
                prefix: settings.prefix.into(),
                url,
                command_timeout: settings.command_timeout,
                up: AtomicBool::new(false),
                degraded: Default::default(),
                logged_at: Default::default(),
                observer: std::sync::RwLock::new(None),
            }),
        })
    }

    /// `standalone`, `sentinel` or `cluster`.
    pub fn topology(&self) -> &'static str {
        match self.backend {
            Backend::Standalone(_) => "standalone",
            Backend::Sentinel(_) => "sentinel",
            Backend::Cluster(_) => "cluster",
        }
    }

    /// With Sentinel: the master's address the connection in use went to (None before
    /// the first connection, and without Sentinel).
    pub fn sentinel_master(&self) -> Option<String> {
        match &self.backend {
            Backend::Sentinel(link) => link.master.lock().ok().and_then(|m| m.clone()),
            _ => None,
        }
    }

    /// Sets who is told about commands and degraded decisions (replaces any earlier one).
    pub fn observe(&self, observer: Arc<dyn CommandObserver>) {
        if let Ok(mut slot) = self.shared.observer.write() {
            *slot = Some(observer);
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The URL (or the Sentinel / Cluster description), credentials removed.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// Whether Redis answered the last command, and the degraded counts.
    pub fn health(&self) -> RedisHealth {
        let mut degraded = [0; 4];
        for (count, slot) in degraded.iter_mut().zip(&self.shared.degraded) {
            *count = slot.load(Ordering::Relaxed);
        }
        RedisHealth {
            up: self.shared.up.load(Ordering::Relaxed),
            degraded,
        }
    }

    /// `PING`, with its round-trip time.
    pub async fn ping(&self) -> Result<Duration, RedisError> {
        let started = Instant::now();
        self.run(Feature::Health, |mut c| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await?;
        Ok(started.elapsed())
    }

    /// Runs one command (or script, or pipeline) for `feature` on the shared connection,
    /// bounded by the command timeout, and records the outcome.
    pub async fn run<T, F, Fut>(&self, feature: Feature, command: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let started = Instant::now();
        let timeout = self.shared.command_timeout;
        // The Sentinel connection's generation, to forget it when it fails.
        let mut generation = None;
        let attempt = async {
            let connection = match &self.backend {
                Backend::Standalone(c) => ConnectionKind::Manager(c.clone()),
                Backend::Cluster(c) => ConnectionKind::Cluster(c.clone()),
                Backend::Sentinel(link) => {
                    let (g, c) = link.connection().await?;
                    generation = Some(g);
                    ConnectionKind::Multiplexed(c)
                }
            };
            command(Connection(connection)).await
        };
        let outcome = match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if let (Backend::Sentinel(link), Some(g)) = (&self.backend, generation) {
                    if sentinel_should_reconnect(&e) {
                        link.invalidate(g);
                    }
                }
                Err(RedisError::Command(redact(&e.to_string())))
            }
            Err(_) => {
                if let (Backend::Sentinel(link), Some(g)) = (&self.backend, generation) {
                    link.invalidate(g);
                }
                Err(RedisError::Timeout(timeout))
            }
        };
        // A script's own error (a bug, a wrong type) is an answer: Redis is up.
        let answered = !matches!(outcome, Err(RedisError::Timeout(_)))
            && outcome
                .as_ref()
                .err()
                .is_none_or(|e| !is_connection_error(e));
        let was_up = self.shared.up.swap(answered, Ordering::Relaxed);
        if was_up != answered {
            if answered {
                tracing::info!(redis = %self.shared.url, "redis answers again");
            } else if let Err(e) = &outcome {
                tracing::warn!(redis = %self.shared.url, error = %e, "redis is down");
            }
        }
        if let Some(observer) = self.observer() {
            observer.command(feature, started.elapsed(), outcome.is_ok());
            observer.up(answered);
        }
        outcome
    }

    /// Counts a decision taken without Redis (fail open) and logs it at most once a
    /// minute per feature, with the count so far.
    pub fn record_degraded(&self, feature: Feature, error: &RedisError) {
        let i = feature.index();
        let total = self.shared.degraded[i].fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(observer) = self.observer() {
            observer.degraded(feature);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.shared.logged_at[i].load(Ordering::Relaxed);
        if now >= last + DEGRADED_LOG_EVERY.as_secs()
            && self.shared.logged_at[i]
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                feature = feature.as_str(),
                degraded_total = total,
                error = %error,
                "redis unavailable: deciding on this replica's local state (fail open)"
            );
        }
    }

    fn observer(&self) -> Option<Arc<dyn CommandObserver>> {
        self.shared.observer.read().ok().and_then(|o| o.clone())
    }
}

/// A [`SentinelLink`] from the settings: the sentinels' addresses (with their password),
/// and the master's user, password, database and TLS from the credentials URL.
fn sentinel_link(
    settings: &RedisSettings,
    master_name: &str,
    sentinels: &[String],
) -> Result<SentinelLink, String> {
    if sentinels.is_empty() {
        return Err("sentinel needs at least one sentinel address".into());
    }
    if master_name.is_empty() {
        return Err("sentinel needs the master's name".into());
    }
    let mut infos = Vec::with_capacity(sentinels.len());
    for sentinel in sentinels {
        let url = if sentinel.contains("://") {
            sentinel.clone()
        } else {
            format!("redis://{sentinel}/")
        };
        let mut info = url
            .as_str()
            .into_connection_info()
            .map_err(|e| format!("sentinel {}: {e}", redact(sentinel)))?;
        if let Some(password) = &settings.sentinel_password {
            let redis_info = info
                .redis_settings()
                .clone()
                .set_password(password.expose_secret());
            info = info.set_redis_settings(redis_info);
        }
        infos.push(info);
    }
    let mut node = SentinelNodeConnectionInfo::default();
    if let Some(credentials) = settings.credentials_url() {
        let info = credentials
            .into_connection_info()
            .map_err(|e| e.to_string())?;
        if matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
            node = node.set_tls_mode(redis::TlsMode::Secure);
        }
        node = node.set_redis_connection_info(info.redis_settings().clone());
    }
    let client = SentinelClient::build(infos, master_name, Some(node), SentinelServerType::Master)
        .map_err(|e| e.to_string())?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(Some(settings.command_timeout));
    Ok(SentinelLink {
        master_name: master_name.to_owned(),
        client: tokio::sync::Mutex::new(client),
        config,
        // The sentinels, then the master: a few connections and round trips.
        resolve_within: settings.connect_timeout * 3,
        current: std::sync::Mutex::new(None),
        generation: AtomicU64::new(0),
        master: std::sync::Mutex::new(None),
    })
}

/// One node as `hookguard check` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// `server`, `sentinel`, `master`, `replica` or `node`.
    pub role: String,
    /// `host:port`.
    pub address: String,
    /// How long its answer took, or why there was none (credentials never shown).
    pub answer: Result<Duration, String>,
}

/// What [`probe_topology`] found: the topology, each node's answer, and whether the
/// stores can work through it (a `PING` through the same client they use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyReport {
    /// `standalone`, `sentinel` or `cluster`.
    pub topology: &'static str,
    /// The settings' [`RedisSettings::describe`] (credentials removed).
    pub description: String,
    /// With Sentinel: the master's name, and where the sentinels say it is.
    pub master: Option<(String, Option<String>)>,
    /// Every node asked.
    pub nodes: Vec<NodeReport>,
    /// A `PING` through the stores' client.
    pub ping: Result<Duration, RedisError>,
}

impl TopologyReport {
    /// The nodes that did not answer.
    pub fn unreachable(&self) -> impl Iterator<Item = &NodeReport> {
        self.nodes.iter().filter(|n| n.answer.is_err())
    }
}

impl fmt::Display for TopologyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.master {
            Some((name, Some(at))) => {
                writeln!(f, "state: redis sentinel, master {name:?} at {at}")?
            }
            Some((name, None)) => writeln!(
                f,
                "state: redis sentinel, master {name:?} (no sentinel named its address)"
            )?,
            // `cluster <seeds>` already says what it is.
            None if self.topology == "cluster" => writeln!(f, "state: redis {}", self.description)?,
            None => writeln!(f, "state: redis {} at {}", self.topology, self.description)?,
        }
        for node in &self.nodes {
            match &node.answer {
                Ok(rtt) => writeln!(f, "  {} {}: answers ({rtt:.1?})", node.role, node.address)?,
                Err(e) => writeln!(f, "  {} {}: UNREACHABLE: {e}", node.role, node.address)?,
            }
        }
        match &self.ping {
            Ok(rtt) => write!(f, "state: redis answers (PING in {rtt:.1?})"),
            Err(e) => write!(f, "state: {e}"),
        }
    }
}

/// `hookguard check`'s look at Redis: each sentinel (and the master they name), each
/// cluster node (the seeds, and the nodes `CLUSTER NODES` lists), or the one server —
/// which answer and which do not — then a `PING` through the stores' own client.
pub async fn probe_topology(settings: &RedisSettings) -> Result<TopologyReport, RedisError> {
    let mut nodes = Vec::new();
    let mut master = None;
    match &settings.topology {
        Topology::Standalone => {}
        Topology::Sentinel {
            master_name,
            sentinels,
        } => {
            let mut named = None;
            for sentinel in sentinels {
                let url = if sentinel.contains("://") {
                    sentinel.clone()
                } else {
                    format!("redis://{sentinel}/")
                };
                let password = settings
                    .sentinel_password
                    .as_ref()
                    .map(|p| p.expose_secret().to_owned());
                let mut ask = redis::cmd("SENTINEL");
                ask.arg("GET-MASTER-ADDR-BY-NAME").arg(master_name);
                let answer = ask_node::<Option<(String, u16)>>(settings, &url, password, ask).await;
                let answer = match answer {
                    Ok((rtt, Some((host, port)))) => {
                        named.get_or_insert(format!("{host}:{port}"));
                        Ok(rtt)
                    }
                    Ok((_, None)) => Err(format!("does not know a master named {master_name:?}")),
                    Err(e) => Err(e),
                };
                nodes.push(NodeReport {
                    role: "sentinel".into(),
                    address: node_address(sentinel),
                    answer,
                });
            }
            if let Some(at) = &named {
                let url = master_url(settings, at);
                let answer = ask_node::<String>(settings, &url, None, redis::cmd("PING"))
                    .await
                    .map(|(rtt, _)| rtt);
                nodes.push(NodeReport {
                    role: "master".into(),
                    address: at.clone(),
                    answer,
                });
            }
            master = Some((master_name.clone(), named));
        }
        Topology::Cluster { .. } => {
            let seeds = settings.seeds();
            let mut listed: Vec<(String, String)> = Vec::new();
            for seed in &seeds {
                let answer = ask_node::<String>(
                    settings,
                    seed,
                    None,
                    redis::cmd("CLUSTER").arg("NODES").clone(),
                )
                .await;
                let answer = answer.map(|(rtt, text)| {
                    for (address, role) in cluster_nodes(&text) {
                        if !listed.iter().any(|(a, _)| *a == address) {
                            listed.push((address, role));
                        }
                    }
                    rtt
                });
                nodes.push(NodeReport {
                    role: "seed".into(),
                    address: node_address(seed),
                    answer,
                });
            }
            for (address, role) in listed {
                let url = master_url(settings, &address);
                let answer = ask_node::<String>(settings, &url, None, redis::cmd("PING"))
                    .await
                    .map(|(rtt, _)| rtt);
                nodes.push(NodeReport {
                    role,
                    address,
                    answer,
                });
            }
        }
    }
    let redis = Redis::connect_lazy(settings.clone())?;
    let ping = redis.ping().await.map_err(|e| RedisError::Unreachable {
        url: settings.describe(),
        detail: e.to_string(),
    });
    Ok(TopologyReport {
        topology: settings.topology.kind(),
        description: settings.describe(),
        master,
        nodes,
        ping,
    })
}

/// `host:port` of a node as written (`host:port` or a URL), credentials removed.
fn node_address(node: &str) -> String {
    let rest = node.split_once("://").map_or(node, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.trim_end_matches('/').to_owned()
}

/// A URL for the data node at `address`, with the credentials URL's scheme, user,
/// password and database.
fn master_url(settings: &RedisSettings, address: &str) -> String {
    let Some(credentials) = settings.credentials_url() else {
        return format!("redis://{address}/");
    };
    let (scheme, rest) = credentials
        .split_once("://")
        .unwrap_or(("redis", credentials));
    let (auth, host_part) = rest.rsplit_once('@').map_or(("", rest), |(a, h)| (a, h));
    let db = host_part.split_once('/').map_or("", |(_, db)| db);
    if auth.is_empty() {
        format!("{scheme}://{address}/{db}")
    } else {
        format!("{scheme}://{auth}@{address}/{db}")
    }
}

/// `(address, role)` of every node in a `CLUSTER NODES` answer that is not failed.
fn cluster_nodes(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _id = fields.next()?;
            let address = fields.next()?.split('@').next()?.to_owned();
            let flags = fields.next()?;
            let role = if flags.contains("master") {
                "master"
            } else if flags.contains("slave") {
                "replica"
            } else {
                "node"
            };
            (!address.starts_with(':')).then(|| (address, role.to_owned()))
        })
        .collect()
}

/// One command on a connection of its own to the node at `url`, bounded by the
/// settings' timeouts; the round trip and the answer, or why there was none.
async fn ask_node<T: redis::FromRedisValue>(
    settings: &RedisSettings,
    url: &str,
    password: Option<String>,
    command: redis::Cmd,
) -> Result<(Duration, T), String> {
    let mut info = url
        .into_connection_info()
        .map_err(|e| redact(&e.to_string()))?;
    if let Some(password) = password {
        let redis_info = info.redis_settings().clone().set_password(password);
        info = info.set_redis_settings(redis_info);
    }
    let client = redis::Client::open(info).map_err(|e| redact(&e.to_string()))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(Some(settings.command_timeout));
    let started = Instant::now();
    let asked = async {
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        command.query_async::<T>(&mut connection).await
    };
    match tokio::time::timeout(settings.connect_timeout + settings.command_timeout, asked).await {
        Ok(Ok(answer)) => Ok((started.elapsed(), answer)),
        Ok(Err(e)) => Err(redact(&e.to_string())),
        Err(_) => Err(format!(
            "no answer within {:?}",
            settings.connect_timeout + settings.command_timeout
        )),
    }
}

/// Whether `error` says Redis could not be reached (rather than that it refused a
/// command): the difference between "down" and "a bug".
fn is_connection_error(error: &RedisError) -> bool {
    match error {
        RedisError::Command(text) => {
            let text = text.to_ascii_lowercase();
            [
                "connect",
                "broken pipe",
                "reset",
                "refused",
                "closed",
                "io error",
                "timed out",
                "loading",
                "eof",
            ]
            .iter()
            .any(|needle| text.contains(needle))
        }
        RedisError::Timeout(_) | RedisError::Unreachable { .. } => true,
        RedisError::Url { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_settings_or_errors() {
        let settings = RedisSettings::new("rediss://admin:hunter2@redis.internal:6380/0");
        assert_eq!(
            settings.redacted_url(),
            "rediss://***@redis.internal:6380/0"
        );
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
    }

    #[test]
    fn cluster_seeds_carry_the_credentials_urls_scheme_and_password_never_shown() {
        let settings = RedisSettings::cluster(["10.0.0.1:6379", "redis://10.0.0.2:6380/"])
            .credentials("rediss://app:s3cret@10.0.0.9:6379/0");
        assert_eq!(
            settings.seeds(),
            [
                "rediss://app:s3cret@10.0.0.9:6379/0",
                "rediss://app:s3cret@10.0.0.1:6379/",
                "rediss://app:s3cret@10.0.0.2:6380/",
            ]
        );
        let described = settings.describe();
        assert_eq!(
            described,
            "cluster rediss://***@10.0.0.9:6379/0, rediss://***@10.0.0.1:6379/, rediss://***@10.0.0.2:6380/"
        );
        assert!(!format!("{settings:?}").contains("s3cret"));
        assert_eq!(
            RedisSettings::cluster(["a:1"]).seeds(),
            ["redis://a:1/"],
            "no credentials URL: plain redis://"
        );
    }

    #[test]
    fn sentinel_settings_describe_the_master_name_and_sentinels() {
        let settings = RedisSettings::sentinel("mymaster", ["10.0.0.5:26379", "10.0.0.6:26379"])
            .credentials("redis://:pw@ignored/2")
            .sentinel_password("spw");
        assert_eq!(
            settings.describe(),
            "sentinel master \"mymaster\" via 10.0.0.5:26379, 10.0.0.6:26379"
        );
        let debug = format!("{settings:?}");
        assert!(!debug.contains("pw@") && !debug.contains("spw"), "{debug}");
        // The master's URL keeps the credentials URL's scheme, password and database.
        assert_eq!(
            master_url(&settings, "10.0.0.7:6379"),
            "redis://:pw@10.0.0.7:6379/2"
        );
        assert_eq!(node_address("rediss://u:p@h:1/"), "h:1");
    }

    #[test]
    fn cluster_nodes_are_read_from_the_cluster_nodes_answer() {
        let text = "07c3 127.0.0.1:30004@31004 slave e7d1 0 1 4 connected\n\
                    67ed 127.0.0.1:30002@31002 master - 0 1 2 connected 5461-10922\n\
                    e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460\n\
                    9a1b :0@0 master,fail,noaddr - 1 1 3 disconnected\n";
        assert_eq!(
            cluster_nodes(text),
            [
                ("127.0.0.1:30004".to_owned(), "replica".to_owned()),
                ("127.0.0.1:30002".to_owned(), "master".to_owned()),
                ("127.0.0.1:30001".to_owned(), "master".to_owned()),
            ]
        );
    }

    #[tokio::test]
    async fn sentinel_and_cluster_settings_without_nodes_are_url_errors() {
        let err = Redis::connect_lazy(RedisSettings::sentinel("m", Vec::<String>::new()))
            .expect_err("no sentinels");
        assert!(err.to_string().contains("at least one sentinel"), "{err}");
        let err = Redis::connect_lazy(RedisSettings::sentinel("", ["a:1"])).expect_err("no name");
        assert!(err.to_string().contains("the master's name"), "{err}");
        let err = Redis::connect_lazy(RedisSettings::cluster(Vec::<String>::new()))
            .expect_err("no nodes");
        assert!(err.to_string().contains("at least one node"), "{err}");
    }

    #[tokio::test]
    async fn a_url_that_is_not_redis_is_a_clear_error() {
        let err = Redis::connect_lazy(RedisSettings::new("http://user:pw@example.com/"))
            .expect_err("not a redis url");
        let text = err.to_string();
        assert!(text.contains("redis url http://***@example.com/"), "{text}");
        assert!(text.contains("expected redis://"), "{text}");
        assert!(!text.contains("pw@"), "{text}");
    }

    #[tokio::test]
    async fn nothing_listening_is_unreachable_within_the_timeout() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a port")
            .port();
        let settings = RedisSettings::new(format!("redis://127.0.0.1:{port}/"))
            .connect_timeout(Duration::from_millis(200))
            .command_timeout(Duration::from_millis(300));
        let started = Instant::now();
        let err = Redis::connect(settings).await.expect_err("nothing listens");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(err, RedisError::Unreachable { ref url, .. } if url == &format!("redis://127.0.0.1:{port}/")),
            "{err}"
        );
    }
}
