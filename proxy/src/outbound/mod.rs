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
//! (`/api/v1/subscriptions`); the API-made ones are kept in a [`SubscriptionStore`]: a file
//! next to the queue ([`subscriptions::ApiFile`]), or Redis with `[state] backend =
//! "redis"` ([`subscriptions::RedisSubscriptions`]), where every replica sees another's
//! change within a second ([`Outbound::reload_api`]). A disabled subscription takes no new events and its
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

use subscriptions::{ApiFile, Registry, SubscriptionStore};
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
    api_store: Arc<dyn SubscriptionStore>,
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
    /// With `redis` (`[state] backend = "redis"`) the API-made subscriptions are kept there.
    pub(crate) async fn open(
        config: &Config,
        queue: Arc<Queue>,
        base_dir: &Path,
        redis: Option<&hookguard_redis::Redis>,
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
        let api_store: Arc<dyn SubscriptionStore> = match redis {
            Some(redis) => Arc::new(subscriptions::RedisSubscriptions::new(
                crate::shared_state::records(redis, config, base_dir, "subscriptions")?,
                queue.sealer.clone(),
            )),
            None => Arc::new(ApiFile::new(
                &base_dir.join(&config.queue.path),
                queue.sealer.clone(),
            )),
        };
        let api_specs = match api_store.load().await {
            Ok(specs) => specs,
            // Redis down at start: the file's subscriptions now, the API's when it answers.
            Err(e) if redis.is_some() => {
                tracing::error!(error = %e, "outbound: the API-made subscriptions cannot be loaded yet");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let outbound = Arc::new(Self {
            queue,
            engine,
            registry,
            guard,
            allow_http,
            api_store,
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
        if redis.is_some() {
            tokio::spawn(follow_changes(Arc::downgrade(&outbound)));
        }
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
        if self.api_store.needs_encryption()
            && !self.queue.sealer.encrypts()
            && subscriptions::has_inline_secret(&spec)
        {
            return Err((
                400,
                format!("subscription {}: an inline secret `value` would be stored in Redis unencrypted; set queue.encryption_keys, or give the secret as `env` or `file`", spec.id),
            ));
        }
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
        self.api_store.put(&id, &raw).await.map_err(|e| (503, e))?;
        api.retain(|v| v["id"] != raw["id"]);
        api.push(raw);
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
        // Changed as the store has it now: another replica may have changed it meanwhile.
        *api = self.api_store.load().await.map_err(|e| (503, e))?;
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
        let Some(raw) = api.iter_mut().find(|v| v["id"] == id) else {
            return Err((404, format!("no subscription {id}")));
        };
        raw["enabled"] = serde_json::Value::Bool(enabled);
        self.api_store.put(id, raw).await.map_err(|e| (503, e))?;
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
        self.api_store.delete(id).await.map_err(|e| (503, e))?;
        api.retain(|v| v["id"] != id);
        let mut registry = (*current).clone();
        registry.remove(id);
        self.install(registry);
        self.dead_letter_pending(id).await.map_err(|e| (503, e))
    }

    /// Loads the API-made subscriptions again (another replica changed them) and makes
    /// them current: unchanged ones are kept as they are (their rate limiters too), changed
    /// and new ones resolved, and what waits here for one that was deleted goes to the
    /// dead-letter queue, as on the replica that deleted it.
    pub(crate) async fn reload_api(&self) -> Result<(), String> {
        let mut api = self.api_specs.lock().await;
        let fresh = self.api_store.load().await?;
        if *api == fresh {
            return Ok(());
        }
        let config = self.config.load_full();
        let current = self.registry.load_full();
        let mut registry: Registry = current
            .iter()
            .filter(|(_, s)| s.origin == Origin::Config)
            .map(|(id, s)| (id.clone(), Arc::clone(s)))
            .collect();
        for (spec, origin) in subscriptions::specs(&config, &fresh) {
            if origin == Origin::Config {
                continue;
            }
            let id = spec.id.clone();
            let unchanged = fresh.iter().find(|v| v["id"] == id.as_str())
                == api.iter().find(|v| v["id"] == id.as_str());
            if let Some(kept) = current.get(&id).filter(|_| unchanged) {
                registry.insert(id, Arc::clone(kept));
                continue;
            }
            match subscriptions::resolve(spec, Origin::Api, &self.base_dir).await {
                Ok(resolved) => {
                    registry.insert(id, Arc::new(resolved));
                }
                Err(e) => {
                    tracing::warn!(subscription = %id, error = %e, "outbound: an API-made subscription cannot be used")
                }
            }
        }
        let deleted: Vec<String> = api
            .iter()
            .filter_map(|v| v["id"].as_str())
            .filter(|id| !fresh.iter().any(|v| v["id"] == *id))
            .map(str::to_owned)
            .collect();
        *api = fresh;
        drop(api);
        self.install(registry);
        for id in deleted {
            if let Err(e) = self.dead_letter_pending(&id).await {
                tracing::warn!(subscription = %id, error = %e, "outbound: what waited for a deleted subscription stays queued");
            }
        }
        Ok(())
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

/// How often a follower checks that its owner still exists while nothing changes.
const FOLLOW_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Reloads the API-made subscriptions whenever the shared store says another replica
/// changed them; ends with the outbound side.
async fn follow_changes(outbound: std::sync::Weak<Outbound>) {
    loop {
        let Some(store) = outbound.upgrade().map(|o| Arc::clone(&o.api_store)) else {
            return;
        };
        // Bounded, so that the store is let go of soon after its owner is dropped.
        if tokio::time::timeout(FOLLOW_RECHECK, store.changed())
            .await
            .is_err()
        {
            continue;
        }
        let Some(outbound) = outbound.upgrade() else {
            return;
        };
        if let Err(e) = outbound.reload_api().await {
            tracing::warn!(error = %e, "outbound: subscriptions changed by another replica could not be loaded yet");
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
