//! Builds a [`Snapshot`] from the configuration: for each route, the two stages of its
//! stack, composed here and only here.
//!
//! State that must outlive a reload — rate-limit buckets, replay records — lives in
//! [`ProcessState`] and is reused by every snapshot, so editing the config file neither resets
//! a client's budget nor forgets which deliveries the app already accepted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hookguard_config::{Config, Env as _, Mode, Route as RouteConfig, SecretSource, SecretSpec};
use hookguard_layers::credentials::{
    CachedCredentials, CredentialSource, EnvSource, FetchFuture, FileSource, InfisicalSource,
    InlineSource, SecretEntry, SecretRef, SecretSet, VaultSource,
};
use hookguard_layers::ip::{
    ForwardedHeader, IpFilterLayer, IpPolicy, ProviderRanges, RangeFormat, RangeSource,
};
use hookguard_layers::rate::{
    LimitKey, RateLimitLayer, RateQuota, RateScope, RateStore as _, MIN_SWEEP_INTERVAL,
};
use hookguard_layers::replay::{
    MemoryReplayStore, OnDuplicate, ReplayGuardLayer, ReplayPolicy, ReplayStore,
};
use hookguard_layers::rules::PayloadRulesLayer;
use hookguard_layers::shadow::ShadowLayer;
use hookguard_layers::verify::{Verifier, VerifySignatureLayer};
use hookguard_layers::{FromRejection as _, Verdict};
use http::Request;
use http_body_util::{BodyExt, Full};
use tower::util::BoxCloneSyncService;
use tower::Layer;

use crate::runtime::{Route, Snapshot, Stage, Upstream};
use crate::shared_state::RateBackend;

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

/// State shared by every snapshot of one process: it lives as long as the process, across
/// reloads (in memory, or wherever `[state]` puts it — not persisted by this struct).
pub(crate) struct ProcessState {
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
    /// The admin API's state, opened by the first configuration with an admin token.
    operator: tokio::sync::OnceCell<Arc<crate::state::OperatorState>>,
    /// Built-in alerting's state, for the admin API (`GET /api/v1/alerts`).
    pub(crate) alerts: Arc<crate::alerts::Board>,
}

impl ProcessState {
    pub(crate) fn new(base_dir: std::path::PathBuf) -> Self {
        Self {
            redis: tokio::sync::OnceCell::new(),
            replay: tokio::sync::OnceCell::new(),
            limiters: Mutex::default(),
            providers: Mutex::default(),
            base_dir,
            queue: tokio::sync::OnceCell::new(),
            admin_tokens: Arc::default(),
            alerts: Arc::default(),
            outbound: tokio::sync::OnceCell::new(),
            operator: tokio::sync::OnceCell::new(),
        }
    }

    /// The directory relative paths of the config are resolved against.
    pub(crate) fn base_dir(&self) -> &std::path::Path {
        &self.base_dir
    }

    /// The admin API's state, if a configuration has opened it.
    pub(crate) fn operator(&self) -> Option<&Arc<crate::state::OperatorState>> {
        self.operator.get()
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
            .get_or_try_init(|| crate::shared_state::open(config, &self.base_dir))
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
                        crate::shared_state::failure_mode(config.state.on_failure.replay),
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
        let (parts, mut body) = req.into_parts();
        // A `Full` body is one data frame (or none when empty), yielded at once: taken as
        // it is, without collecting it into a buffer list first.
        let bytes = match body.frame().await {
            Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
            _ => Bytes::new(),
        };
        Ok::<_, Infallible>(Verdict::Forward(Request::from_parts(parts, bytes)))
    }))
}

/// Wraps `stage` in `layer`, keeping the stage type.
fn wrap<L>(layer: L, stage: Stage) -> Stage
where
    L: Layer<Stage>,
    L::Service: tower::Service<Request<Full<Bytes>>, Response = Verdict, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<Request<Full<Bytes>>>>::Future: Send + 'static,
{
    BoxCloneSyncService::new(layer.layer(stage))
}

/// Builds every route. Must run inside a tokio runtime (credential fetches, range refreshes).
/// The snapshot keeps `config` (no copy: a platform's file holds 100,000 keys).
pub(crate) async fn build(config: Config, process: &ProcessState) -> Result<Snapshot, String> {
    let snapshot_config = Arc::new(config);
    let config: &Config = &snapshot_config;
    let credentials = CachedCredentials::new();
    let redis = process.open_state(config).await?;
    let global = global_limiter(config, process, redis)?;
    let state = if config.admin.tokens.is_empty() {
        process.operator.get().cloned()
    } else {
        Some(Arc::clone(
            process
                .operator
                .get_or_try_init(|| {
                    crate::state::OperatorState::open(config, &process.base_dir, redis)
                })
                .await?,
        ))
    };
    if let Some(state) = &state {
        state.apply(config).await?;
    }
    let mut routes = Vec::with_capacity(config.routes.len());
    for route in &config.routes {
        let built = build_route(
            config,
            route,
            process,
            &credentials,
            global.clone(),
            state.as_ref(),
        )
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
        let queue = process
            .queue
            .get_or_try_init(|| {
                let redis = redis.filter(|_| config.state.queue_in_redis()).cloned();
                crate::queue::Queue::open(config, &process.base_dir, redis)
            })
            .await?;
        queue.apply(config)?;
        Some(Arc::clone(queue))
    } else {
        // Routes that are no longer queued keep their messages; none are delivered
        // until a configuration queues them again.
        if let Some(queue) = process.queue.get() {
            queue.apply(config)?;
        }
        process.queue.get().cloned()
    };
    if let Some(queue) = queue.as_ref().filter(|_| config.outbound.is_some()) {
        process
            .outbound
            .get_or_try_init(|| {
                crate::outbound::Outbound::open(config, Arc::clone(queue), &process.base_dir, redis)
            })
            .await?;
    }
    if let Some(outbound) = process.outbound.get() {
        // Without `[outbound]` now, the listener stays (a restart stops it) and only the
        // API-made subscriptions remain.
        outbound.apply(config).await?;
    }
    process.admin_tokens.store(Arc::new(
        crate::admin::Tokens::resolve(&config.admin.tokens, &process.base_dir).await?,
    ));
    let mut key_prefixes: Vec<String> = Vec::new();
    for route in &config.routes {
        if let Some(prefix) = &route.matches.key_prefix {
            if !key_prefixes.contains(prefix) {
                key_prefixes.push(prefix.clone());
            }
        }
    }
    Ok(Snapshot {
        state,
        key_prefixes,
        route_index: config
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect(),
        router: hookguard_config::Router::new(config),
        routes,
        upstream: Upstream::new(&config.upstream),
        credentials: {
            // Refetches idle routes and notices changed secret files between requests.
            let refresher = credentials.spawn_refresher(CREDENTIAL_REFRESH);
            (credentials, refresher)
        },
        config: snapshot_config,
        queue,
    })
}

fn global_limiter(
    config: &Config,
    process: &ProcessState,
    redis: Option<&hookguard_redis::Redis>,
) -> Result<Option<Arc<RateLimiter>>, String> {
    let on_failure = config.state.on_failure.rate_limits;
    match &config.global_rate_limit {
        Some(rate) => Ok(Some(process.limiter(format!("global {rate:?}"), || {
            let store = RateBackend::new(redis, "global", quota(rate)?, on_failure)?;
            Ok(RateLimiter::with_store(RateScope::Global, store))
        })?)),
        None => Ok(None),
    }
}

/// Builds one route's stack outside any sidecar, for `hookguard explain`: the same
/// composition as [`build`], with fresh rate buckets and replay records of its own, and no
/// queue, outbound listener or admin tokens (a running sidecar's are left alone).
pub(crate) async fn build_detached(
    config: &Config,
    route: &RouteConfig,
    base_dir: std::path::PathBuf,
) -> Result<Route, String> {
    let process = ProcessState::new(base_dir);
    // Fresh in-memory state, whatever `[state]` says: explaining a request must not write
    // rate or replay records where the running sidecars keep theirs.
    let mut detached = config.clone();
    detached.state = Default::default();
    process.open_state(&detached).await?;
    let credentials = CachedCredentials::new();
    let global = global_limiter(config, &process, None)?;
    build_route(config, route, &process, &credentials, global, None).await
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
    process: &ProcessState,
    credentials: &CachedCredentials,
    global: Option<Arc<RateLimiter>>,
    state: Option<&Arc<crate::state::OperatorState>>,
) -> Result<Route, String> {
    let defaults = &config.defaults;
    let scheme = route.build_scheme().map_err(|e| e.to_string())?;
    let tolerance = route.effective_tolerance(defaults, &*scheme);
    let id: Arc<str> = Arc::from(route.id.as_str());
    let redis = process.redis();
    let on_failure = config.state.on_failure.rate_limits;
    let shadow = route.mode(defaults) == Mode::Shadow;

    // Header stage, innermost first: global limit, per-client limit, per-route limit, IP
    // filter. Requests meet them in the reverse order: the IP filter first (cheapest, and
    // it decides the client address the per-client limit counts), then the limits.
    let mut header_stage = admitted();
    if let Some(global) = global {
        header_stage = wrap(RateLimitLayer::from_arc(global), header_stage);
    }
    if let Some(rates) = &route.rate_limit {
        if let Some(rate) = &rates.per_client {
            let limiter = process.limiter(format!("{} client {rate:?}", route.id), || {
                let namespace = format!("{}:client", route.id);
                let store = RateBackend::new(redis, &namespace, quota(rate)?, on_failure)?;
                Ok(RateLimiter::with_store(RateScope::ClientIp, store))
            })?;
            header_stage = wrap(RateLimitLayer::from_arc(limiter), header_stage);
        }
        if let Some(rate) = &rates.per_route {
            let limiter = process.limiter(format!("{} route {rate:?}", route.id), || {
                let namespace = format!("{}:route", route.id);
                let store = RateBackend::new(redis, &namespace, quota(rate)?, on_failure)?;
                Ok(RateLimiter::with_store(RateScope::route(id.clone()), store))
            })?;
            header_stage = wrap(RateLimitLayer::from_arc(limiter), header_stage);
        }
    }
    if let (Some(prefix), Some(state)) = (&route.matches.key_prefix, state) {
        // Each webhook key's own limit, before the route's: one caller cannot use up the
        // budget the route's other keys share.
        header_stage = per_key_limit(header_stage, prefix.clone(), Arc::clone(state));
    }
    header_stage = wrap(IpFilterLayer::new(ip_policy(route, process)?), header_stage);
    if shadow {
        // Outermost: any refusal of the stage is recorded and the request forwarded as it
        // came in. Only shadow routes get it, so an enforcing route copies no head.
        header_stage = wrap(ShadowLayer::new(), header_stage);
    }

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
                &process.base_dir,
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
        let store = process
            .replay
            .get()
            .cloned()
            .ok_or("the replay store is opened before the routes are built")?;
        let policy = ReplayPolicy::with_store(id.clone(), store)
            .tolerance(tolerance)
            // A doubled id header is refused, and so is a missing id where the provider
            // always sends one: either would pass the guard untracked.
            .delivery_ids(&scheme.delivery_id_source())
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
            Arc::new(ConfigSource::new(&route.secrets, process.base_dir.clone())?),
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
    if shadow {
        // Outermost, as in the header stage.
        body_stage = wrap(ShadowLayer::new(), body_stage);
    }

    Ok(Route {
        id,
        shadow,
        body_limit,
        body_timeout: route.body_read_timeout(defaults),
        // The router holds the keys; the route needs its rewrite and match kind.
        config: {
            let mut route = route.clone();
            route.matches.keys = Vec::new();
            route
        },
        queue: crate::queue::QueuedRoute::new(config, route)?,
        header_stage,
        body_stage,
        scheme: scheme.name(),
        keys: Some(keys),
        metrics: crate::metrics::RouteMetrics::new(&route.id),
    })
}

/// Counts a request against its webhook key's own limit (keys can change between
/// requests, through the API: the limit is looked up per request, its bucket kept by the
/// admin state). A refusal is the rate limiter's own 429 with `Retry-After`.
fn per_key_limit(inner: Stage, prefix: String, state: Arc<crate::state::OperatorState>) -> Stage {
    BoxCloneSyncService::new(tower::service_fn(move |request: Request<Full<Bytes>>| {
        let inner = inner.clone();
        let limiter = request
            .uri()
            .path()
            .strip_prefix(prefix.as_str())
            .and_then(|key| state.key_limiter(key, hookguard_delivery::Timestamp::now().0));
        async move {
            if let Some(limiter) = limiter {
                // The in-memory store cannot fail; were it remote, an outage lets requests
                // through (the route's own limits still apply).
                if let Ok(decision) = limiter.check(&LimitKey::Global).await {
                    if let Err(rejection) = decision.into_result() {
                        return Ok(Verdict::from_rejection(rejection));
                    }
                }
            }
            tower::ServiceExt::oneshot(inner, request).await
        }
    }))
}

fn ip_policy(route: &RouteConfig, process: &ProcessState) -> Result<IpPolicy, String> {
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
                let path = process.base_dir.join(file);
                (path.display().to_string(), RangeSource::file(path))
            }
            (None, Some(url)) => (url.to_owned(), RangeSource::url(url)?),
            (None, None) => return Err("provider_ranges: neither file nor url".into()),
        };
        let mut providers = process.providers.lock().unwrap_or_else(|e| e.into_inner());
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

/// The one route name each source below is registered under.
pub(crate) const SOURCE_ROUTE: &str = "secret";

/// A list of configured secrets (a route's, the queue's encryption keys, the admin tokens)
/// as one credential source, in the config's order. Each secret is served by the layers'
/// own source for where it lives — [`InlineSource`], [`EnvSource`], [`FileSource`] (whose
/// file fingerprint lets the cache's refresher pick up a rotated mounted secret within one
/// pass, without a reload), Vault, Infisical — and carries the config's `rotated_at` and
/// `max_age` to the cache, which reports it too old (`hookguard_secret_too_old`).
pub(crate) struct ConfigSource {
    name: String,
    secrets: Vec<Configured>,
}

/// One configured secret: where it is read from, and the config's rotation policy.
struct Configured {
    source: Box<dyn CredentialSource>,
    rotated_at: Option<i64>,
    max_age: Option<std::time::Duration>,
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
            let reference = |name: String| [SecretRef::new(spec.id.as_str(), name)];
            let source: Box<dyn CredentialSource> = match source {
                SecretSource::Inline(value) => Box::new(InlineSource::new().route(
                    SOURCE_ROUTE,
                    SecretSet::new().with(SecretEntry::new(
                        spec.id.as_str(),
                        value.expose().to_owned(),
                    )),
                )),
                SecretSource::Env(name) => {
                    Box::new(EnvSource::new().route(SOURCE_ROUTE, reference(name.to_string())))
                }
                SecretSource::File(_) => {
                    let path = spec.file_path(&base_dir).unwrap_or_default();
                    Box::new(
                        FileSource::new()
                            .route(SOURCE_ROUTE, reference(path.display().to_string())),
                    )
                }
                SecretSource::Vault(v) => {
                    let mut vault = VaultSource::new(&v.addr, var(&v.token_env)?)
                        .map_err(|e| format!("secret {}: {e}", spec.id))?
                        .mount(v.mount.clone());
                    if let Some(ns) = &v.namespace {
                        vault = vault.namespace(ns.clone());
                    }
                    Box::new(vault.route(
                        SOURCE_ROUTE,
                        v.path.clone(),
                        [SecretRef::new(spec.id.as_str(), v.key.clone())],
                    ))
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
                    Box::new(infisical.route(
                        SOURCE_ROUTE,
                        [SecretRef::new(spec.id.as_str(), i.name.clone())],
                    ))
                }
            };
            secrets.push(Configured {
                source,
                rotated_at: spec.rotated_at.map(|at| at.0.unix_timestamp()),
                max_age: spec.max_age.map(|age| age.get()),
            });
        }
        Ok(Self {
            name: kinds.join("+"),
            secrets,
        })
    }
}

impl CredentialSource for ConfigSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch<'a>(&'a self, _route: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            let mut set = SecretSet::new();
            for secret in &self.secrets {
                for entry in secret.source.fetch(SOURCE_ROUTE).await?.entries() {
                    let mut entry = entry.clone();
                    // The config's `rotated_at` is the operator's word; without it, the
                    // source's own (a file's modification time, Vault's version time).
                    if let Some(at) = secret.rotated_at {
                        entry = entry.rotated_at(at);
                    }
                    if let Some(age) = secret.max_age {
                        entry = entry.max_age(age);
                    }
                    set.push(entry);
                }
            }
            Ok(set)
        })
    }

    /// Changes when any secret's own source says it changed (a mounted file rewritten or
    /// swapped); `None` when no source can tell (then the TTL decides).
    fn revision(&self, _route: &str) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let revisions: Vec<Option<u64>> = self
            .secrets
            .iter()
            .map(|s| s.source.revision(SOURCE_ROUTE))
            .collect();
        if revisions.iter().all(Option::is_none) {
            return None;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        revisions.hash(&mut hasher);
        Some(hasher.finish())
    }
}

#[cfg(test)]
mod tests;
