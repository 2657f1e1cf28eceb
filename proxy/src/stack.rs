//! Builds a [`Snapshot`] from the configuration: for each route, the two stages of its
//! stack, composed here and only here.
//!
//! State that must outlive a reload — rate-limit buckets, replay records — lives in
//! [`Persistent`] and is reused by every snapshot, so editing the config file neither resets
//! a client's budget nor forgets which deliveries the app already accepted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hookguard_config::{Config, Env as _, Mode, Route as RouteConfig, SecretSource, SecretSpec};
use hookguard_layers::credentials::{
    CachedCredentials, CredentialSource, FetchFuture, InfisicalSource, SecretEntry, SecretRef,
    SecretSet, SourceError, VaultSource,
};
use hookguard_layers::ip::{
    ForwardedHeader, IpFilterLayer, IpPolicy, ProviderRanges, RangeFormat, RangeSource,
};
use hookguard_layers::rate::{
    RateLimitLayer, RateQuota, RateScope, RateStore as _, MIN_SWEEP_INTERVAL,
};
use hookguard_layers::replay::{
    MemoryReplayStore, OnDuplicate, ReplayGuardLayer, ReplayPolicy, ReplayStore,
};
use hookguard_layers::rules::PayloadRulesLayer;
use hookguard_layers::verify::{Verifier, VerifySignatureLayer};
use hookguard_layers::Admission;
use http::Request;
use http_body_util::{BodyExt, Full};
use tower::util::BoxCloneSyncService;
use tower::Layer;

use crate::runtime::{Route, Snapshot, Stage, Upstream};
use crate::state::RateBackend;

/// A route's (or the global) limiter: buckets in memory or in Redis, per `[state]`.
pub(crate) type RateLimiter = hookguard_layers::rate::RateLimiter<RateBackend>;

/// How often idle routes' secrets are checked (a changed mounted file is picked up).
const CREDENTIAL_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest a limiter waits between sweeps of its idle buckets.
const MAX_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Replay records kept in memory (per process).
const REPLAY_CAPACITY: u64 = 1_000_000;

/// Replay records of one route kept at most: fresh ids minted on one route (unsigned ids
/// let anyone do that) evict its own records, never the other routes'.
const REPLAY_ROUTE_CAPACITY: u64 = 100_000;

/// State shared by every snapshot of one process.
pub(crate) struct Persistent {
    /// Redis, when `[state] backend = "redis"`: opened by the first configuration.
    redis: tokio::sync::OnceCell<Option<hookguard_redis::Redis>>,
    /// Replay records: in memory, or in Redis (chosen with `redis`).
    replay: tokio::sync::OnceCell<Arc<dyn ReplayStore>>,
    /// Rate limiters by (route or "", scope, quota): reused while their settings are unchanged.
    limiters: Mutex<HashMap<String, Arc<RateLimiter>>>,
    /// Provider ranges by source: one refresh task each.
    providers: Mutex<HashMap<String, ProviderRanges>>,
    base_dir: std::path::PathBuf,
    /// The durable queue, opened by the first configuration with a queued route.
    queue: tokio::sync::OnceCell<Arc<crate::queue::Queue>>,
    /// The admin API's tokens, resolved from their sources at each (re)load.
    pub(crate) admin_tokens: Arc<arc_swap::ArcSwap<crate::admin::Tokens>>,
    /// The outbound side, started by the first configuration with `[outbound]`.
    outbound: tokio::sync::OnceCell<Arc<crate::outbound::Outbound>>,
}

impl Persistent {
    pub(crate) fn new(base_dir: std::path::PathBuf) -> Self {
        Self {
            redis: tokio::sync::OnceCell::new(),
            replay: tokio::sync::OnceCell::new(),
            limiters: Mutex::default(),
            providers: Mutex::default(),
            base_dir,
            queue: tokio::sync::OnceCell::new(),
            admin_tokens: Arc::default(),
            outbound: tokio::sync::OnceCell::new(),
        }
    }

    /// The durable queue, if a configuration has opened it.
    pub(crate) fn queue(&self) -> Option<&Arc<crate::queue::Queue>> {
        self.queue.get()
    }

    /// Redis, if the first configuration asked for it.
    pub(crate) fn redis(&self) -> Option<&hookguard_redis::Redis> {
        self.redis.get().and_then(Option::as_ref)
    }

    /// Opens the state backend on the first build; later builds keep it (a change of
    /// `[state]` needs a restart, and says so).
    async fn open_state(&self, config: &Config) -> Result<Option<&hookguard_redis::Redis>, String> {
        let reload = self.redis.initialized();
        let redis = self
            .redis
            .get_or_try_init(|| crate::state::open(config, &self.base_dir))
            .await?
            .as_ref();
        if reload
            && redis.is_some() != (config.state.backend == hookguard_config::StateBackend::Redis)
        {
            tracing::warn!("[state] changed: the state backend stays as started until a restart");
        }
        self.replay
            .get_or_init(|| async {
                match redis {
                    Some(redis) => Arc::new(hookguard_redis::RedisReplayStore::new(
                        redis.clone(),
                        crate::state::failure_mode(config.state.on_failure.replay),
                    )) as Arc<dyn ReplayStore>,
                    None => Arc::new(
                        MemoryReplayStore::new(REPLAY_CAPACITY)
                            .with_route_capacity(REPLAY_ROUTE_CAPACITY),
                    ),
                }
            })
            .await;
        Ok(redis)
    }

    /// The outbound side, if a configuration has started it.
    pub(crate) fn outbound(&self) -> Option<&Arc<crate::outbound::Outbound>> {
        self.outbound.get()
    }

    fn limiter(
        &self,
        key: String,
        make: impl FnOnce() -> Result<RateLimiter, String>,
    ) -> Result<Arc<RateLimiter>, String> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = limiters.get(&key) {
            return Ok(Arc::clone(existing));
        }
        let limiter = Arc::new(make()?);
        // Without sweeps a flood of distinct clients fills the table for good and every
        // new client shares the overflow bucket. One sweeper per limiter, started with
        // it: limiters outlive reloads, and the task ends when the limiter is dropped.
        limiter.spawn_sweeper(sweep_interval(limiter.store().quota()));
        limiters.insert(key, Arc::clone(&limiter));
        Ok(limiter)
    }
}

/// The innermost service of both stages: the request passed, hand it back to the sidecar.
fn admitted() -> Stage {
    BoxCloneSyncService::new(tower::service_fn(|req: Request<Full<Bytes>>| async move {
        let (parts, body) = req.into_parts();
        // A `Full` body yields its one chunk at once.
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Ok::<_, Infallible>(Admission::Forward(Request::from_parts(parts, bytes)))
    }))
}

/// Wraps `stage` in `layer`, keeping the stage type.
fn wrap<L>(layer: L, stage: Stage) -> Stage
where
    L: Layer<Stage>,
    L::Service: tower::Service<Request<Full<Bytes>>, Response = Admission, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<Request<Full<Bytes>>>>::Future: Send + 'static,
{
    BoxCloneSyncService::new(layer.layer(stage))
}

/// Builds every route. Must run inside a tokio runtime (credential fetches, range refreshes).
pub(crate) async fn build(config: &Config, persistent: &Persistent) -> Result<Snapshot, String> {
    let credentials = CachedCredentials::new();
    let redis = persistent.open_state(config).await?;
    let on_failure = config.state.on_failure.rate_limits;
    let global = match &config.global_rate_limit {
        Some(rate) => Some(persistent.limiter(format!("global {rate:?}"), || {
            let store = RateBackend::new(redis, "global", quota(rate)?, on_failure)?;
            Ok(RateLimiter::with_store(RateScope::Global, store))
        })?),
        None => None,
    };
    let mut routes = Vec::with_capacity(config.routes.len());
    for route in &config.routes {
        let built = build_route(config, route, persistent, &credentials, global.clone())
            .await
            .map_err(|e| format!("route {}: {e}", route.id))?;
        routes.push(Arc::new(built));
    }
    // Outbound messages live in the same queue as queued routes' (one store, one DLQ).
    let queue = if config.outbound.is_some()
        || config
            .routes
            .iter()
            .any(|r| r.delivery == hookguard_config::DeliveryMode::Queue)
    {
        let queue = persistent
            .queue
            .get_or_try_init(|| {
                let redis = redis.filter(|_| config.state.queue_in_redis()).cloned();
                crate::queue::Queue::open(config, &persistent.base_dir, redis)
            })
            .await?;
        queue.apply(config)?;
        Some(Arc::clone(queue))
    } else {
        // Routes that are no longer queued keep their messages; none are delivered
        // until a configuration queues them again.
        if let Some(queue) = persistent.queue.get() {
            queue.apply(config)?;
        }
        persistent.queue.get().cloned()
    };
    if let Some(queue) = queue.as_ref().filter(|_| config.outbound.is_some()) {
        persistent
            .outbound
            .get_or_try_init(|| {
                crate::outbound::Outbound::open(config, Arc::clone(queue), &persistent.base_dir)
            })
            .await?;
    }
    if let Some(outbound) = persistent.outbound.get() {
        // Without `[outbound]` now, the listener stays (a restart stops it) and only the
        // API-made subscriptions remain.
        outbound.apply(config).await?;
    }
    persistent.admin_tokens.store(Arc::new(
        crate::admin::Tokens::resolve(&config.admin.tokens, &persistent.base_dir).await?,
    ));
    Ok(Snapshot {
        router: hookguard_config::Router::new(config),
        routes,
        upstream: Upstream {
            address: config.upstream.address.clone(),
            connect_timeout: config.upstream.connect_timeout.get(),
            read_timeout: config.upstream.read_timeout.get(),
        },
        credentials: {
            // Refetches idle routes and notices changed secret files between requests.
            let refresher = credentials.spawn_refresher(CREDENTIAL_REFRESH);
            (credentials, refresher)
        },
        config: Arc::new(config.clone()),
        queue,
    })
}

/// How often a limiter's idle buckets are swept: once per refill period (a bucket idle
/// that long is full again, and only then can it go), within 1 s (a sweep walks the whole
/// table) and 60 s.
fn sweep_interval(quota: RateQuota) -> std::time::Duration {
    let refill = quota.replenish_interval().saturating_mul(quota.limit());
    refill.clamp(MIN_SWEEP_INTERVAL, MAX_SWEEP_INTERVAL)
}

fn quota(rate: &hookguard_config::Rate) -> Result<RateQuota, String> {
    let quota = RateQuota::new(rate.requests, rate.per.get()).map_err(|e| e.to_string())?;
    match rate.burst {
        Some(burst) => quota.burst(burst).map_err(|e| e.to_string()),
        None => Ok(quota),
    }
}

async fn build_route(
    config: &Config,
    route: &RouteConfig,
    persistent: &Persistent,
    credentials: &CachedCredentials,
    global: Option<Arc<RateLimiter>>,
) -> Result<Route, String> {
    let defaults = &config.defaults;
    let scheme = route.build_scheme().map_err(|e| e.to_string())?;
    let tolerance = route.effective_tolerance(defaults, &*scheme);
    let id: Arc<str> = Arc::from(route.id.as_str());
    let redis = persistent.redis();
    let on_failure = config.state.on_failure.rate_limits;

    // Header stage, innermost first: global limit, per-client limit, per-route limit, IP
    // filter. Requests meet them in the reverse order: the IP filter first (cheapest, and
    // it decides the client address the per-client limit counts), then the limits.
    let mut header_stage = admitted();
    if let Some(global) = global {
        header_stage = wrap(RateLimitLayer::from_arc(global), header_stage);
    }
    if let Some(rates) = &route.rate_limit {
        if let Some(rate) = &rates.per_client {
            let limiter = persistent.limiter(format!("{} client {rate:?}", route.id), || {
                let namespace = format!("{}:client", route.id);
                let store = RateBackend::new(redis, &namespace, quota(rate)?, on_failure)?;
                Ok(RateLimiter::with_store(RateScope::ClientIp, store))
            })?;
            header_stage = wrap(RateLimitLayer::from_arc(limiter), header_stage);
        }
        if let Some(rate) = &rates.per_route {
            let limiter = persistent.limiter(format!("{} route {rate:?}", route.id), || {
                let namespace = format!("{}:route", route.id);
                let store = RateBackend::new(redis, &namespace, quota(rate)?, on_failure)?;
                Ok(RateLimiter::with_store(RateScope::route(id.clone()), store))
            })?;
            header_stage = wrap(RateLimitLayer::from_arc(limiter), header_stage);
        }
    }
    header_stage = wrap(
        IpFilterLayer::new(ip_policy(route, persistent)?),
        header_stage,
    );

    // Body stage, innermost first: payload rules, replay guard, then signature
    // verification (the guard trusts only delivery ids of verified requests).
    let body_limit = usize::try_from(route.body_limit(defaults)).unwrap_or(usize::MAX);
    let mut body_stage = admitted();
    if let Some(rules) = &route.rules {
        // Innermost: rules judge verified payloads only, and a filtered delivery's 200 lets
        // the guard commit its id, so the provider's resend is answered as a duplicate.
        let policy = rules
            .build(
                &route.scheme,
                &persistent.base_dir,
                &hookguard_config::FieldPath::root(),
            )
            .map_err(|problems| {
                let text: Vec<String> = problems
                    .iter()
                    .map(|(at, e)| format!("rules.{at}: {e}"))
                    .collect();
                text.join("; ")
            })?;
        if let Some(filter) = policy.event_filter() {
            // Pre-registered: every label value comes from the config.
            for pattern in filter.labels() {
                crate::metrics::METRICS
                    .events_filtered
                    .with_label_values(&[&route.id, pattern]);
            }
        }
        body_stage = wrap(
            PayloadRulesLayer::new(id.clone(), policy).max_body(body_limit),
            body_stage,
        );
    }
    if route.replay.enabled {
        let store = persistent
            .replay
            .get()
            .cloned()
            .ok_or("the replay store is opened before the routes are built")?;
        let policy = ReplayPolicy::with_store(id.clone(), store)
            .tolerance(tolerance)
            .window(route.replay.window(tolerance))
            .on_duplicate(if route.replay.duplicate_status == 409 {
                OnDuplicate::Conflict
            } else {
                OnDuplicate::Acknowledge
            });
        body_stage = wrap(ReplayGuardLayer::from_policy(policy), body_stage);
    }
    let keys = credentials
        .load(
            &route.id,
            Arc::clone(&scheme),
            Arc::new(ConfigSource::new(
                &route.secrets,
                persistent.base_dir.clone(),
            )?),
        )
        .await
        // `build` names the route already.
        .map_err(|e| format!("secret source {}: {}", e.source_name, e.problem))?;
    let mut verifier = Verifier::new(Arc::clone(&scheme), keys.clone()).tolerance(tolerance);
    if let Some(url) = &route.public_url {
        verifier = verifier.public_url(url.clone());
    }
    body_stage = wrap(
        VerifySignatureLayer::from_verifier(verifier).max_body(body_limit),
        body_stage,
    );

    Ok(Route {
        id,
        shadow: route.mode(defaults) == Mode::Shadow,
        body_limit,
        body_timeout: route.body_read_timeout(defaults),
        config: route.clone(),
        queue: crate::queue::QueuedRoute::new(config, route)?,
        header_stage,
        body_stage,
        scheme: scheme.name(),
        keys: Some(keys),
    })
}

fn ip_policy(route: &RouteConfig, persistent: &Persistent) -> Result<IpPolicy, String> {
    let mut builder = IpPolicy::builder();
    let Some(rules) = &route.ip else {
        return Ok(builder.build());
    };
    builder = builder
        .allow(rules.allow_networks())
        .deny(rules.deny_networks());
    let trusted = rules.trusted_proxy_networks();
    if !trusted.is_empty() {
        let header = match rules.forwarded_header {
            hookguard_config::ForwardedHeaderName::XForwardedFor => ForwardedHeader::XForwardedFor,
            hookguard_config::ForwardedHeaderName::Forwarded => ForwardedHeader::Forwarded,
        };
        builder = builder.trust_proxies(header, trusted);
    }
    if let Some(ranges) = &rules.provider_ranges {
        let format = match ranges.effective_format() {
            hookguard_config::RangeFormatName::GithubMeta => RangeFormat::GitHubMeta,
            hookguard_config::RangeFormatName::StripeJson => RangeFormat::StripeWebhooks,
            hookguard_config::RangeFormatName::Lines => RangeFormat::Lines,
        };
        let (key, source) = match (&ranges.file, ranges.effective_url()) {
            (Some(file), _) => {
                let path = persistent.base_dir.join(file);
                (path.display().to_string(), RangeSource::file(path))
            }
            (None, Some(url)) => (url.to_owned(), RangeSource::url(url)?),
            (None, None) => return Err("provider_ranges: neither file nor url".into()),
        };
        let mut providers = persistent
            .providers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let provider = providers
            .entry(key)
            .or_insert_with(|| {
                let provider = ProviderRanges::new(
                    format!("{:?}", ranges.provider).to_lowercase(),
                    source,
                    format,
                );
                // Refreshed for the life of the process; the last good list is kept on failure.
                provider.spawn_refresh(ranges.refresh.get());
                provider
            })
            .clone();
        builder = builder.allow_provider(provider);
    }
    Ok(builder.build())
}

/// The one route name each remote source below is registered under.
const REMOTE_ROUTE: &str = "secret";

/// A list of configured secrets (a route's, the queue's encryption keys, the admin tokens)
/// as one credential source, in the config's order: local ones (inline, env, file) are read
/// on every fetch, so a rotated file or variable is picked up at the next refresh; Vault and
/// Infisical ones through the layers' clients.
pub(crate) struct ConfigSource {
    name: String,
    secrets: Vec<(SecretSpec, Option<Box<dyn CredentialSource>>)>,
    base_dir: std::path::PathBuf,
}

impl ConfigSource {
    pub(crate) fn new(specs: &[SecretSpec], base_dir: std::path::PathBuf) -> Result<Self, String> {
        let env = hookguard_config::SystemEnv;
        let var = |name: &str| {
            env.var(name)
                .ok_or_else(|| format!("environment variable {name} is not set"))
        };
        let mut kinds: Vec<&str> = Vec::new();
        let mut secrets = Vec::new();
        for spec in specs {
            let source = spec
                .source()
                .ok_or_else(|| format!("secret {}: expected exactly one source", spec.id))?;
            if !kinds.contains(&source.kind()) {
                kinds.push(source.kind());
            }
            let remote: Option<Box<dyn CredentialSource>> = match source {
                SecretSource::Vault(v) => {
                    let mut vault = VaultSource::new(&v.addr, var(&v.token_env)?)
                        .map_err(|e| format!("secret {}: {e}", spec.id))?
                        .mount(v.mount.clone());
                    if let Some(ns) = &v.namespace {
                        vault = vault.namespace(ns.clone());
                    }
                    Some(Box::new(vault.route(
                        REMOTE_ROUTE,
                        v.path.clone(),
                        [SecretRef::new(spec.id.as_str(), v.key.clone())],
                    )))
                }
                SecretSource::Infisical(i) => {
                    let infisical = InfisicalSource::new(
                        &i.addr,
                        var(&i.client_id_env)?,
                        var(&i.client_secret_env)?,
                        i.project_id.clone(),
                        i.environment.clone(),
                    )
                    .map_err(|e| format!("secret {}: {e}", spec.id))?
                    .secret_path(i.path.clone());
                    Some(Box::new(infisical.route(
                        REMOTE_ROUTE,
                        [SecretRef::new(spec.id.as_str(), i.name.clone())],
                    )))
                }
                _ => None,
            };
            secrets.push((spec.clone(), remote));
        }
        Ok(Self {
            name: kinds.join("+"),
            secrets,
            base_dir,
        })
    }
}

impl CredentialSource for ConfigSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch<'a>(&'a self, _route: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            let env = hookguard_config::SystemEnv;
            let mut set = SecretSet::new();
            for (spec, remote) in &self.secrets {
                if let Some(remote) = remote {
                    for entry in remote.fetch(REMOTE_ROUTE).await?.entries() {
                        set.push(entry.clone());
                    }
                    continue;
                }
                let value = spec
                    .resolve_local(&env, &self.base_dir)
                    .map_err(|e| SourceError::Missing {
                        what: "secret",
                        name: format!("{}: {e}", spec.id),
                    })?
                    .ok_or_else(|| SourceError::Missing {
                        what: "secret",
                        name: spec.id.clone(),
                    })?;
                let mut entry = SecretEntry::new(spec.id.as_str(), value.expose().to_owned());
                if let Some(at) = spec.rotated_at {
                    entry = entry.rotated_at(at.0.unix_timestamp());
                }
                set.push(entry);
            }
            Ok(set)
        })
    }
}

#[cfg(test)]
mod tests;
