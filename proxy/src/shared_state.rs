//! `[state]`: the Redis connection the stores share, opened once per process by the first
//! configuration, and the rate-limit store that is either in memory or in Redis.
//!
//! A reload that changes `[state]` keeps the connection of the first configuration (logged):
//! moving state between backends is a restart.

use std::future::{Future, Ready};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hookguard_config::{Config, FailureModeName, StateBackend, StateSettings};
use hookguard_layers::rate::{
    LimitKey, MemoryStore, RateDecision, RateQuota, RateStore, RateStoreError,
};
use hookguard_redis::{
    FailureMode, Redis, RedisError, RedisRateStore, RedisRecords, RedisSettings,
};

/// How often the connection is checked when idle: keeps `hookguard_state_backend_up` true
/// to the minute and reconnects without waiting for traffic.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// How often a replica checks, besides pub/sub, whether another one changed the API-made
/// keys or subscriptions: the bound on propagation when a change's message is lost.
const RECORDS_CHECK_EVERY: Duration = Duration::from_millis(500);

/// The set of records `name` (`keys`, `subscriptions`) that the replicas share, watched
/// for other replicas' changes (pub/sub on a connection of its own, and the version
/// checked every [`RECORDS_CHECK_EVERY`]).
pub(crate) fn records(
    redis: &Redis,
    config: &Config,
    base_dir: &Path,
    name: &str,
) -> Result<Arc<RedisRecords>, String> {
    let settings = settings(&config.state, base_dir)?;
    let records = Arc::new(RedisRecords::new(redis.clone(), name));
    records.watch(settings, RECORDS_CHECK_EVERY);
    Ok(records)
}

/// The failure mode a config name stands for.
pub(crate) fn failure_mode(name: FailureModeName) -> FailureMode {
    match name {
        FailureModeName::FailOpen => FailureMode::Open,
        FailureModeName::FailClosed => FailureMode::Closed,
    }
}

/// Redis settings from `[state]`, the URL read from its source.
pub(crate) fn settings(state: &StateSettings, base_dir: &Path) -> Result<RedisSettings, String> {
    let url = match state.url_spec() {
        None => None,
        Some(spec) => Some(
            spec.resolve_local(&hookguard_config::SystemEnv, base_dir)
                .map_err(|e| format!("state: the Redis URL: {e}"))?
                .ok_or("state: the Redis URL has no local source")?,
        ),
    };
    let settings = match topology_settings(state, base_dir, url.as_ref().map(|u| u.expose()))? {
        Some(settings) => settings,
        None => RedisSettings::new(
            url.ok_or("state: backend = \"redis\" needs `url`, `url_env` or `url_file`")?
                .expose(),
        ),
    };
    Ok(settings
        .prefix(state.prefix.clone())
        .connect_timeout(state.connect_timeout.get())
        .command_timeout(state.command_timeout.get()))
}

/// With `[state.sentinel]` or `cluster`: their settings, the URL (if any) giving the data
/// nodes' credentials and the sentinels' password read from its source. `None` for one
/// server.
fn topology_settings(
    state: &StateSettings,
    base_dir: &Path,
    url: Option<&str>,
) -> Result<Option<RedisSettings>, String> {
    let mut settings = match (&state.sentinel, &state.cluster) {
        (Some(sentinel), _) => {
            let mut settings =
                RedisSettings::sentinel(sentinel.master_name.clone(), sentinel.nodes.clone());
            if let Some(spec) = sentinel.password_spec() {
                let password = spec
                    .resolve_local(&hookguard_config::SystemEnv, base_dir)
                    .map_err(|e| format!("state.sentinel: the sentinels' password: {e}"))?
                    .ok_or("state.sentinel: the sentinels' password has no local source")?;
                settings = settings.sentinel_password(password.expose());
            }
            settings
        }
        (None, Some(nodes)) => RedisSettings::cluster(nodes.clone()),
        (None, None) => return Ok(None),
    };
    if let Some(url) = url {
        settings = settings.credentials(url);
    }
    Ok(Some(settings))
}

/// Opens Redis for `config` (None with `backend = "memory"`). When Redis does not answer,
/// the failure modes decide: if every feature that would use it fails open, the sidecar
/// starts degraded (and recovers when Redis comes); else start-up fails with the reason.
pub(crate) async fn open(config: &Config, base_dir: &Path) -> Result<Option<Redis>, String> {
    let state = &config.state;
    if state.backend == StateBackend::Memory {
        return Ok(None);
    }
    let settings = settings(state, base_dir)?;
    let url = settings.describe();
    let redis = match Redis::connect(settings.clone()).await {
        Ok(redis) => redis,
        Err(e) => {
            let closed = closed_features(config);
            if !closed.is_empty() {
                return Err(format!(
                    "state: {e}; {} fail closed, so the sidecar does not start without Redis (state.on_failure: \"fail_open\" starts degraded instead)",
                    closed.join(" and ")
                ));
            }
            tracing::error!(redis = %url, error = %e, "redis is unreachable at start: starting degraded (every feature fails open)");
            Redis::connect_lazy(settings).map_err(|e| format!("state: {e}"))?
        }
    };
    redis.observe(Arc::new(crate::metrics::StateObserver::new()));
    tracing::info!(redis = %url, prefix = %state.prefix, queue = state.queue_in_redis(), "shared state in redis");
    tokio::spawn(health_loop(redis.clone()));
    Ok(Some(redis))
}

/// The features of `config` that use Redis and fail closed.
fn closed_features(config: &Config) -> Vec<&'static str> {
    let on = &config.state.on_failure;
    let mut closed = Vec::new();
    if on.replay == FailureModeName::FailClosed && config.routes.iter().any(|r| r.replay.enabled) {
        closed.push("the replay guard");
    }
    let queued = config.outbound.is_some()
        || config
            .routes
            .iter()
            .any(|r| r.delivery == hookguard_config::DeliveryMode::Queue);
    if config.state.queue_in_redis() && queued {
        closed.push("the queue");
    }
    let limited =
        config.global_rate_limit.is_some() || config.routes.iter().any(|r| r.rate_limit.is_some());
    if on.rate_limits == FailureModeName::FailClosed && limited {
        closed.push("rate limits");
    }
    closed
}

async fn health_loop(redis: Redis) {
    let mut interval = tokio::time::interval(HEALTH_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // The outcome is recorded by the connection itself (metrics, "down"/"again" logs).
        let _ = redis.ping().await;
    }
}

/// `hookguard check`'s question: does Redis answer, through which nodes? `Ok(None)`
/// without Redis; `Err` with the report (or the reason) when the stores could not work.
pub(crate) async fn probe(config: &Config, base_dir: &Path) -> Result<Option<String>, String> {
    if config.state.backend == StateBackend::Memory {
        return Ok(None);
    }
    let settings = settings(&config.state, base_dir)?;
    let report = hookguard_redis::probe_topology(&settings)
        .await
        .map_err(|e: RedisError| format!("state: {e}"))?;
    if report.ping.is_ok() {
        Ok(Some(report.to_string()))
    } else {
        Err(report.to_string())
    }
}

/// A rate-limit store in this process or in Redis (a route's limiter keeps one kind).
pub(crate) enum RateBackend {
    Memory(MemoryStore),
    Redis(RedisRateStore),
}

impl RateBackend {
    /// `namespace` keeps limiters apart in Redis (route id and scope).
    pub(crate) fn new(
        redis: Option<&Redis>,
        namespace: &str,
        quota: RateQuota,
        on_failure: FailureModeName,
    ) -> Result<Self, String> {
        Ok(match redis {
            None => RateBackend::Memory(
                MemoryStore::new(quota, hookguard_layers::rate::DEFAULT_MAX_KEYS.get())
                    .map_err(|e| e.to_string())?,
            ),
            Some(redis) => RateBackend::Redis(RedisRateStore::new(
                redis.clone(),
                namespace,
                quota,
                failure_mode(on_failure),
            )),
        })
    }
}

impl RateBackend {
    /// The in-process store, when that is where the buckets are (tests look at its table).
    #[cfg(test)]
    pub(crate) fn memory(&self) -> Option<&MemoryStore> {
        match self {
            RateBackend::Memory(store) => Some(store),
            RateBackend::Redis(_) => None,
        }
    }
}

/// The memory store answers at once, without an allocation; Redis's future is boxed.
pub(crate) enum RateFuture {
    Memory(Ready<Result<RateDecision, RateStoreError>>),
    Redis(<RedisRateStore as RateStore>::Future),
}

impl Future for RateFuture {
    type Output = Result<RateDecision, RateStoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both arms are `Unpin` (`Ready`, `Pin<Box<_>>`).
        match self.get_mut() {
            RateFuture::Memory(ready) => Pin::new(ready).poll(cx),
            RateFuture::Redis(boxed) => boxed.as_mut().poll(cx),
        }
    }
}

impl RateStore for RateBackend {
    type Future = RateFuture;

    fn check(&self, key: &LimitKey) -> Self::Future {
        match self {
            RateBackend::Memory(store) => RateFuture::Memory(store.check(key)),
            RateBackend::Redis(store) => RateFuture::Redis(store.check(key)),
        }
    }

    fn quota(&self) -> RateQuota {
        match self {
            RateBackend::Memory(store) => store.quota(),
            RateBackend::Redis(store) => store.quota(),
        }
    }

    fn sweep(&self) {
        match self {
            RateBackend::Memory(store) => store.sweep(),
            RateBackend::Redis(store) => store.sweep(),
        }
    }
}
