//! Queue mode: the sidecar's side of the delivery engine (`hookguard-delivery`).
//!
//! A route with `delivery = "queue"` hands each admitted request to [`Queue::enqueue`];
//! the provider is answered 202 only once the store says the record is durable. The
//! engine's workers (tokio tasks on the background runtime) deliver it to the app with
//! retries. The queue is opened the first time a configuration has a queued route and
//! lives as long as the process; reloads change its routes' policies, never its files.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use hookguard_config::{Config, DeliveryMode, DurabilityName, OrderingKey, RouteQueue};
use hookguard_delivery::{
    AttemptOutcome, Bounds, BreakerConfig, DestinationPolicy, Durability, EmbeddedOptions,
    EmbeddedQueueStore, Engine, HttpTransport, Message, MessageId, QueueStore, Request, Schedule,
    Sealer, StoreError, Transport,
};
use hookguard_layers::credentials::CredentialSource;

use crate::stack::ConfigSource;

/// How often delivered and dead messages past their retention are removed.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);

/// A queued route's settings, resolved for the request path.
pub(crate) struct QueuedRoute {
    pub(crate) bounds: Bounds,
    pub(crate) ordering: Option<Ordering>,
}

/// Where a message's ordering key comes from.
pub(crate) enum Ordering {
    Header(http::HeaderName),
    JsonPath(serde_json_path::JsonPath),
}

impl QueuedRoute {
    pub(crate) fn new(
        config: &Config,
        route: &hookguard_config::Route,
    ) -> Result<Option<Self>, String> {
        if route.delivery != DeliveryMode::Queue {
            return Ok(None);
        }
        let settings = route.queue.clone().unwrap_or_default();
        let ordering = match &settings.ordering_key {
            None => None,
            Some(OrderingKey {
                header: Some(h), ..
            }) => Some(Ordering::Header(
                http::HeaderName::try_from(h.as_str()).map_err(|_| {
                    format!("queue.ordering_key.header: {h:?} is not a header name")
                })?,
            )),
            Some(OrderingKey {
                json_path: Some(p), ..
            }) => Some(Ordering::JsonPath(
                serde_json_path::JsonPath::parse(p)
                    .map_err(|e| format!("queue.ordering_key.json_path: {e}"))?,
            )),
            Some(_) => return Err("queue.ordering_key: exactly one of header or json_path".into()),
        };
        Ok(Some(Self {
            bounds: Bounds {
                max_messages: settings.max_messages.unwrap_or(config.queue.max_messages),
                max_bytes: settings
                    .max_bytes
                    .map_or(config.queue.max_bytes.bytes(), |b| b.bytes()),
            },
            ordering,
        }))
    }

    /// The message's ordering key: the header's value, or the JSON path's first match (a
    /// string or a number). `None` when absent — the message is then not ordered.
    pub(crate) fn ordering_key(&self, headers: &http::HeaderMap, body: &[u8]) -> Option<String> {
        match self.ordering.as_ref()? {
            Ordering::Header(name) => headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Ordering::JsonPath(path) => {
                let json: serde_json::Value = serde_json::from_slice(body).ok()?;
                let found = path.query(&json).first()?.clone();
                match found {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
            }
        }
    }
}

/// The durable queue and its engine.
pub(crate) struct Queue {
    pub(crate) store: Arc<dyn QueueStore>,
    pub(crate) sealer: Sealer,
    pub(crate) engine: Engine,
    app: Arc<AppTransport>,
    retention: ArcSwap<(Duration, Duration)>,
}

impl Queue {
    /// Opens the store under the configured path (relative to `base_dir`) and starts the
    /// engine. Must run inside the background runtime.
    pub(crate) async fn open(
        config: &Config,
        base_dir: &Path,
        redis: Option<hookguard_redis::Redis>,
    ) -> Result<Arc<Self>, String> {
        let durability = match config.queue.durability {
            DurabilityName::Fsync => Durability::Fsync,
            DurabilityName::Os => Durability::Os,
        };
        let store: Arc<dyn QueueStore> = match redis {
            // Shared by every replica: what one accepted, another delivers if it dies.
            Some(redis) => Arc::new(hookguard_redis::RedisQueueStore::new(redis, durability)),
            None => {
                let path = base_dir.join(&config.queue.path);
                let options = EmbeddedOptions {
                    durability,
                    ..EmbeddedOptions::default()
                }
                .observer(crate::metrics::CommitMetrics);
                Arc::new(
                    EmbeddedQueueStore::open(&path, options)
                        .map_err(|e| format!("queue at {}: {e}", path.display()))?,
                )
            }
        };
        let sealer = sealer(config, base_dir).await?;
        let app = Arc::new(AppTransport::new(&config.upstream.address)?);
        let engine = Engine::new(Arc::clone(&store), sealer.clone(), app.clone())
            .observer(Arc::new(crate::metrics::DeliveryObserver));
        let queue = Arc::new(Self {
            store,
            sealer,
            engine,
            app,
            retention: ArcSwap::from_pointee(retention(config)),
        });
        tokio::spawn(expire_loop(Arc::downgrade(&queue)));
        Ok(queue)
    }

    /// Applies a (re)loaded configuration: the app's address, each queued route's policy.
    pub(crate) fn apply(&self, config: &Config) -> Result<(), String> {
        self.app.set_base(&config.upstream.address)?;
        self.retention.store(Arc::new(retention(config)));
        let mut policies = HashMap::new();
        for route in &config.routes {
            if route.delivery == DeliveryMode::Queue {
                let settings = route.queue.clone().unwrap_or_default();
                policies.insert(route.id.clone(), policy(config, &settings)?);
            }
        }
        self.engine.set_destinations(policies);
        Ok(())
    }

    /// Stores a request for `route`; `Ok` once durable.
    pub(crate) async fn enqueue(
        &self,
        route: &str,
        queued: &QueuedRoute,
        request: &Request,
        meta: hookguard_delivery::Metadata,
        ordering_key: Option<String>,
    ) -> Result<MessageId, StoreError> {
        let message = hookguard_delivery::NewMessage {
            destination: route.to_owned(),
            direction: hookguard_delivery::Direction::Inbound,
            ordering_key,
            payload: self.sealer.seal(request),
            meta,
        };
        let id = self.store.enqueue(message, queued.bounds).await?;
        self.engine.notify(route);
        Ok(id)
    }
}

fn retention(config: &Config) -> (Duration, Duration) {
    (
        config.queue.delivered_retention.get(),
        config.queue.dead_retention.get(),
    )
}

fn policy(config: &Config, route: &RouteQueue) -> Result<DestinationPolicy, String> {
    policy_for(
        config,
        route.max_retries,
        route.timeout.get(),
        route.concurrency,
    )
}

/// A destination's policy: its own retries, timeout and concurrency, the queue's schedule
/// and breaker (queued routes and outbound subscriptions alike).
pub(crate) fn policy_for(
    config: &Config,
    max_retries: u32,
    timeout: Duration,
    concurrency: u32,
) -> Result<DestinationPolicy, String> {
    let delays: Vec<Duration> = config
        .queue
        .retry_schedule
        .iter()
        .map(|d| d.get())
        .collect();
    let breaker = &config.queue.breaker;
    Ok(DestinationPolicy {
        max_retries,
        timeout,
        concurrency: concurrency as usize,
        schedule: Schedule::new(delays).map_err(|_| "queue.retry_schedule is empty".to_owned())?,
        breaker: BreakerConfig {
            consecutive_failures: breaker.consecutive_failures,
            failure_rate: breaker.failure_rate,
            window: breaker.window.get(),
            min_requests: breaker.min_attempts,
            cool_down: breaker.cooldown.get(),
        },
        lease: timeout + Duration::from_secs(30),
    })
}

/// The sealer for the configured encryption keys (plain when none).
pub(crate) async fn sealer(config: &Config, base_dir: &Path) -> Result<Sealer, String> {
    let specs = &config.queue.encryption_keys;
    if specs.is_empty() {
        return Ok(Sealer::plain());
    }
    let source = ConfigSource::new(specs, base_dir.to_path_buf())?;
    let set = source
        .fetch("queue")
        .await
        .map_err(|e| format!("queue.encryption_keys: {e}"))?;
    let mut keys = Vec::new();
    for entry in set.entries() {
        use secrecy::ExposeSecret as _;
        keys.push(
            Sealer::key_from_base64(&entry.id, entry.value.expose_secret())
                .map_err(|e| format!("queue.encryption_keys: {e}"))?,
        );
    }
    Sealer::new(keys).map_err(|e| format!("queue.encryption_keys: {e}"))
}

async fn expire_loop(queue: std::sync::Weak<Queue>) {
    loop {
        tokio::time::sleep(EXPIRE_EVERY).await;
        let Some(queue) = queue.upgrade() else { return };
        let (delivered, dead) = **queue.retention.load();
        match queue
            .store
            .expire(hookguard_delivery::Timestamp::now(), delivered, dead)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "queue: removed messages past their retention"),
            Err(e) => tracing::warn!(error = %e, "queue: expiring old messages failed"),
        }
    }
}

/// Delivers to the app at the configured upstream address, which a reload may change.
struct AppTransport {
    http: ArcSwap<HttpTransport>,
    base: ArcSwap<String>,
}

impl AppTransport {
    fn new(address: &str) -> Result<Self, String> {
        Ok(Self {
            http: ArcSwap::from_pointee(Self::client(address)?),
            base: ArcSwap::from_pointee(address.to_owned()),
        })
    }

    fn client(address: &str) -> Result<HttpTransport, String> {
        HttpTransport::to_base(format!("http://{address}"))
            .map(|t| t.attempt_header(true).keep_host(true))
            .map_err(|e| format!("upstream.address {address}: {e}"))
    }

    fn set_base(&self, address: &str) -> Result<(), String> {
        if **self.base.load() != address {
            self.http.store(Arc::new(Self::client(address)?));
            self.base.store(Arc::new(address.to_owned()));
        }
        Ok(())
    }
}

#[async_trait]
impl Transport for AppTransport {
    async fn send(
        &self,
        message: &Message,
        request: &Request,
        attempt: u32,
        timeout: Duration,
    ) -> AttemptOutcome {
        let http = self.http.load_full();
        http.send(message, request, attempt, timeout).await
    }
}
