//! Outbound webhooks: the app posts an event to the sidecar, which stores one message per
//! matching subscription in the delivery queue and delivers each, signed, to its endpoint.
//!
//! One queue for both directions: outbound messages are the queue's own records
//! (`Direction::Outbound`, destination = the subscription id) in the same store, sealed by
//! the same [`Sealer`](hookguard_delivery::Sealer), listed and retried by the same DLQ API
//! and CLI. A second [`Engine`] works them, with [`SigningTransport`] as its transport:
//! the inbound engine's destinations are the queued routes, this one's the enabled
//! subscriptions, and config validation keeps the two sets of ids apart.
//!
//! What the app is promised:
//! - `202 {"id": …}` only once a message for every matching subscription is durable.
//! - **At least once** per endpoint: a message is settled after its endpoint answered; a
//!   crash between the answer and the settlement's commit sends it again after the
//!   restart (with the same `webhook-id`, for the endpoint to drop the duplicate).
//! - An event `id` posted again within `outbound.dedup_window` is acknowledged and not
//!   delivered again (remembered in memory: a restart forgets the window).
//!
//! Subscriptions come from `[[subscriptions]]` and from the admin API
//! (`/api/v1/subscriptions`); the API-made ones are kept in a file next to the queue
//! ([`subscriptions::ApiFile`]). A disabled subscription takes no new events and its
//! queued ones wait; an expired one takes no new events, and is removed once nothing of it
//! is pending. The listener's address is read at start-up only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hookguard_config::{Config, Subscription};
use hookguard_delivery::{DeadCode, DeadReason, DestinationPolicy, Engine, Settlement, Timestamp};
use hookguard_layers::replay::MemoryReplayStore;

use crate::queue::Queue;

mod events;
mod guard;
mod metrics;
mod subscriptions;
mod transport;

pub(crate) use subscriptions::{fetch as fetch_secrets, Origin, Resolved};

use subscriptions::{ApiFile, Registry};
use transport::SigningTransport;

/// Event ids remembered for deduplication (per process).
const DEDUP_CAPACITY: u64 = 1_000_000;
/// How often expired API-made subscriptions are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The outbound side; lives as long as the process (reloads call [`Outbound::apply`]).
pub(crate) struct Outbound {
    pub(crate) queue: Arc<Queue>,
    pub(crate) engine: Engine,
    registry: Arc<ArcSwap<Registry>>,
    guard: Arc<guard::Guard>,
    allow_http: Arc<AtomicBool>,
    api_file: ApiFile,
    /// The API-made subscriptions as posted; the lock orders API changes.
    api_specs: tokio::sync::Mutex<Vec<serde_json::Value>>,
    /// The configuration last applied (API posts are checked against it).
    config: ArcSwap<Config>,
    tokens: ArcSwap<crate::admin::Tokens>,
    dedup: MemoryReplayStore,
    base_dir: PathBuf,
    runtime: tokio::runtime::Handle,
    pub(crate) listen: SocketAddr,
}

impl Outbound {
    /// Binds the listener, loads the API-made subscriptions and starts delivering. Must run
    /// inside the background runtime.
    pub(crate) async fn open(
        config: &Config,
        queue: Arc<Queue>,
        base_dir: &Path,
    ) -> Result<Arc<Self>, String> {
        let settings = config.outbound.clone().unwrap_or_default();
        let listener = std::net::TcpListener::bind(settings.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("outbound.listen {}: {e}", settings.listen))?;
        let listen = listener.local_addr().map_err(|e| e.to_string())?;
        let registry = Arc::new(ArcSwap::from_pointee(Registry::new()));
        let guard = Arc::new(guard::Guard::new(Vec::new()));
        let allow_http = Arc::new(AtomicBool::new(false));
        let transport = SigningTransport::new(
            Arc::clone(&registry),
            Arc::clone(&guard),
            Arc::clone(&allow_http),
        )
        .map_err(|e| e.to_string())?;
        let engine = Engine::new(
            Arc::clone(&queue.store),
            queue.sealer.clone(),
            Arc::new(transport),
        )
        .observer(Arc::new(crate::metrics::DeliveryObserver));
        let api_file = ApiFile::new(&base_dir.join(&config.queue.path), queue.sealer.clone());
        let api_specs = api_file.load()?;
        let outbound = Arc::new(Self {
            queue,
            engine,
            registry,
            guard,
            allow_http,
            api_file,
            api_specs: tokio::sync::Mutex::new(api_specs),
            config: ArcSwap::from_pointee(config.clone()),
            tokens: ArcSwap::default(),
            dedup: MemoryReplayStore::new(DEDUP_CAPACITY),
            base_dir: base_dir.to_path_buf(),
            runtime: tokio::runtime::Handle::current(),
            listen,
        });
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        metrics::init();
        tokio::spawn(events::serve(listener, Arc::downgrade(&outbound)));
        tokio::spawn(sweep_loop(Arc::downgrade(&outbound)));
        tracing::info!(listen = %listen, "outbound listener");
        Ok(outbound)
    }

    /// Applies a (re)loaded configuration: the allow list, the tokens, and every
    /// subscription (the file's, and the API-made ones again).
    pub(crate) async fn apply(&self, config: &Config) -> Result<(), String> {
        let settings = config.outbound.clone().unwrap_or_default();
        if settings.listen != self.listen && settings.listen.port() != 0 {
            tracing::warn!(listen = %settings.listen, current = %self.listen, "outbound.listen changed: takes effect at the next restart");
        }
        let networks = settings
            .allow_networks
            .iter()
            .map(|n| hookguard_config::parse_network(n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("outbound.allow_networks: {e}"))?;
        let tokens = crate::admin::Tokens::resolve_named(
            &settings.tokens,
            &self.base_dir,
            "outbound.tokens",
        )
        .await?;
        let api = self.api_specs.lock().await;
        let mut registry = Registry::new();
        for (spec, origin) in subscriptions::specs(config, &api) {
            let id = spec.id.clone();
            match subscriptions::resolve(spec, origin, &self.base_dir).await {
                Ok(resolved) => {
                    registry.insert(id, Arc::new(resolved));
                }
                Err(e) if origin == Origin::Config => {
                    return Err(format!("subscription {id}: {e}"))
                }
                Err(e) => {
                    tracing::warn!(subscription = %id, error = %e, "outbound: an API-made subscription cannot be used")
                }
            }
        }
        self.guard.set_allowed(networks);
        self.allow_http
            .store(settings.allow_http, std::sync::atomic::Ordering::Relaxed);
        self.tokens.store(Arc::new(tokens));
        self.config.store(Arc::new(config.clone()));
        self.install(registry);
        Ok(())
    }

    /// Makes `registry` current and works its enabled subscriptions.
    fn install(&self, registry: Registry) {
        let config = self.config.load();
        let policies: HashMap<String, DestinationPolicy> = registry
            .values()
            .filter(|s| s.spec.enabled)
            .filter_map(|s| match policy(&config, s) {
                Ok(p) => Some((s.spec.id.clone(), p)),
                Err(e) => {
                    tracing::warn!(subscription = %s.spec.id, error = %e, "outbound: subscription not delivered");
                    None
                }
            })
            .collect();
        self.registry.store(Arc::new(registry));
        // Delivery loops belong on the background runtime, whoever calls.
        let _runtime = self.runtime.enter();
        self.engine.set_destinations(policies);
    }

    pub(crate) fn subscriptions(&self) -> Arc<Registry> {
        self.registry.load_full()
    }

    /// Adds (or replaces) an API-made subscription from the JSON posted; stored before it
    /// is used. Returns it, or what is wrong (`Err((400|409, message))`).
    pub(crate) async fn add(&self, raw: serde_json::Value) -> Result<Arc<Resolved>, (u16, String)> {
        let spec: Subscription =
            serde_json::from_value(raw.clone()).map_err(|e| (400, e.to_string()))?;
        let config = self.config.load_full();
        spec.validate(&config, &hookguard_config::SystemEnv)
            .map_err(|e| (400, e.to_string()))?;
        if config.subscriptions.iter().any(|s| s.id == spec.id) {
            return Err((
                409,
                format!("subscription {} is defined in the config file", spec.id),
            ));
        }
        let id = spec.id.clone();
        let resolved = Arc::new(
            subscriptions::resolve(spec, Origin::Api, &self.base_dir)
                .await
                .map_err(|e| (400, e))?,
        );
        let mut api = self.api_specs.lock().await;
        let mut next: Vec<serde_json::Value> = api
            .iter()
            .filter(|v| v["id"] != raw["id"])
            .cloned()
            .collect();
        next.push(raw);
        self.api_file.save(&next).map_err(|e| (503, e))?;
        *api = next;
        let mut registry = (*self.registry.load_full()).clone();
        registry.insert(id, Arc::clone(&resolved));
        self.install(registry);
        Ok(resolved)
    }

    /// Enables or disables an API-made subscription.
    pub(crate) async fn set_enabled(
        &self,
        id: &str,
        enabled: bool,
    ) -> Result<Arc<Resolved>, (u16, String)> {
        let mut api = self.api_specs.lock().await;
        let current = self.registry.load_full();
        let Some(existing) = current.get(id) else {
            return Err((404, format!("no subscription {id}")));
        };
        if existing.origin == Origin::Config {
            return Err((
                409,
                format!("subscription {id} is defined in the config file: edit it there"),
            ));
        }
        let mut next = api.clone();
        for raw in next.iter_mut().filter(|v| v["id"] == id) {
            raw["enabled"] = serde_json::Value::Bool(enabled);
        }
        self.api_file.save(&next).map_err(|e| (503, e))?;
        *api = next;
        let mut spec = existing.spec.clone();
        spec.enabled = enabled;
        let resolved = Arc::new(
            subscriptions::resolve(spec, Origin::Api, &self.base_dir)
                .await
                .map_err(|e| (400, e))?,
        );
        let mut registry = (*current).clone();
        registry.insert(id.to_owned(), Arc::clone(&resolved));
        self.install(registry);
        Ok(resolved)
    }

    /// Deletes an API-made subscription; its messages still waiting go to the dead-letter
    /// queue (`no_destination`), where an operator sees them. Returns how many.
    pub(crate) async fn delete(&self, id: &str) -> Result<u64, (u16, String)> {
        let mut api = self.api_specs.lock().await;
        let current = self.registry.load_full();
        match current.get(id) {
            None => return Err((404, format!("no subscription {id}"))),
            Some(s) if s.origin == Origin::Config => {
                return Err((
                    409,
                    format!("subscription {id} is defined in the config file: edit it there"),
                ))
            }
            Some(_) => {}
        }
        let next: Vec<serde_json::Value> = api.iter().filter(|v| v["id"] != id).cloned().collect();
        self.api_file.save(&next).map_err(|e| (503, e))?;
        *api = next;
        let mut registry = (*current).clone();
        registry.remove(id);
        self.install(registry);
        self.dead_letter_pending(id).await.map_err(|e| (503, e))
    }

    /// Moves what waits for a removed subscription to the dead-letter queue. Messages in
    /// flight finish their attempt first (their lease keeps them from being claimed here).
    async fn dead_letter_pending(&self, id: &str) -> Result<u64, String> {
        let store = &self.queue.store;
        let mut moved = 0;
        loop {
            let claimed = store
                .claim(id, Timestamp(u64::MAX / 2), 256, Duration::from_secs(60))
                .await
                .map_err(|e| e.to_string())?;
            if claimed.is_empty() {
                return Ok(moved);
            }
            for message in claimed {
                let reason = DeadReason {
                    code: DeadCode::NoDestination,
                    detail: format!("subscription {id} was deleted"),
                };
                let settlement = Settlement::Dead {
                    attempt: None,
                    reason,
                };
                if store
                    .settle(&message.id, settlement, Timestamp::now())
                    .await
                    .map_err(|e| e.to_string())?
                {
                    moved += 1;
                }
            }
        }
    }

    /// Removes expired API-made subscriptions that have nothing pending.
    async fn sweep(&self) {
        let now = Timestamp::now();
        let expired: Vec<String> = self
            .registry
            .load()
            .values()
            .filter(|s| s.origin == Origin::Api && s.expired(now))
            .map(|s| s.spec.id.clone())
            .collect();
        if expired.is_empty() {
            return;
        }
        let Ok(stats) = self.queue.store.stats().await else {
            return;
        };
        for id in expired {
            let pending = stats
                .iter()
                .find(|s| s.destination == id)
                .map_or(0, |s| s.pending());
            if pending == 0 {
                match self.delete(&id).await {
                    Ok(_) => {
                        tracing::info!(subscription = %id, "outbound: expired subscription removed")
                    }
                    Err((_, e)) => {
                        tracing::warn!(subscription = %id, error = %e, "outbound: removing an expired subscription failed")
                    }
                }
            }
        }
    }
}

async fn sweep_loop(outbound: std::sync::Weak<Outbound>) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let Some(outbound) = outbound.upgrade() else {
            return;
        };
        outbound.sweep().await;
    }
}

/// The engine's policy for a subscription: its retries, timeout and concurrency, the
/// queue's schedule and breaker. The lease also covers the longest wait for the rate
/// limit (every slot queued behind the bucket), so a message waiting for a token is never
/// handed out a second time.
fn policy(config: &Config, subscription: &Resolved) -> Result<DestinationPolicy, String> {
    let spec = &subscription.spec;
    let base = crate::queue::policy_for(
        config,
        spec.max_retries,
        spec.timeout.get(),
        spec.concurrency,
    )?;
    let rate_wait = spec.rate_limit.map_or(Duration::ZERO, |rate| {
        let per_token = rate.per.get() / rate.requests.max(1);
        per_token * spec.concurrency.max(1)
    });
    Ok(DestinationPolicy {
        lease: base.lease + rate_wait,
        ..base
    })
}
