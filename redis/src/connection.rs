//! [`Redis`]: one connection to one Redis (or Valkey) server, shared by every store, and
//! what the sidecar needs to know about it: whether it answers, how fast, and how many
//! decisions were taken without it.
//!
//! The connection is redis-rs's `ConnectionManager`: one multiplexed connection that
//! reconnects in the background with exponential backoff (capped at one second, so that
//! service comes back within a few seconds of Redis coming back). Every command is also
//! bounded by [`RedisSettings::command_timeout`] here, including the wait for a
//! reconnection, so a request never hangs on a Redis that is down.
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

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};

/// How long a command may take by default (a decision on the request path).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a connection attempt may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest pause between reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Degraded decisions of one feature are logged at most this often.
const DEGRADED_LOG_EVERY: Duration = Duration::from_secs(60);

/// Where Redis is and how long to wait for it.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port/db` or `rediss://…` (TLS). May hold a password:
    /// never logged; errors show it with the credentials removed.
    pub url: SecretString,
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
            prefix: "hookguard:".into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
        }
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
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.redacted_url())
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
    connection: ConnectionManager,
    shared: Arc<Shared>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("url", &self.shared.url)
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

    /// Checks the URL only; the connection is made on first use and remade whenever it is
    /// lost. For a sidecar that starts degraded while Redis is down. Needs a tokio runtime.
    pub fn connect_lazy(settings: RedisSettings) -> Result<Self, RedisError> {
        let url = settings.redacted_url();
        let client =
            redis::Client::open(settings.url.expose_secret()).map_err(|e| RedisError::Url {
                url: url.clone(),
                detail: redact(&e.to_string()),
            })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.command_timeout))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(MAX_RECONNECT_DELAY)
            .set_number_of_retries(usize::MAX);
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
            RedisError::Url {
                url: url.clone(),
                detail: redact(&e.to_string()),
            }
        })?;
        Ok(Self {
            connection,
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

    /// The URL, credentials removed.
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
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let started = Instant::now();
        let timeout = self.shared.command_timeout;
        let outcome = match tokio::time::timeout(timeout, command(self.connection.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(RedisError::Command(redact(&e.to_string()))),
            Err(_) => Err(RedisError::Timeout(timeout)),
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
