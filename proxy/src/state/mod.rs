//! What the admin API makes and records, shared with the request path: webhook keys
//! (config and API-made, merged; their per-key counters), the event log, per-route
//! statistics, and the audit log — kept in a [`KeyStore`] (embedded by default; Redis with
//! `[state] backend = "redis"`).
//!
//! The sidecar feeds it with one call per request ([`record`], from the access log),
//! and reads the key table in the route lookup (`Snapshot::lookup`). The request path never
//! waits on the store: it reads the table in memory. With a shared store, a task rebuilds
//! the table whenever another replica changed a key ([`KeyStore::changed`]); while the
//! store does not answer, the table last loaded keeps serving (a key that was valid stays
//! valid) and the API's changes answer 503.

mod embedded;
pub(crate) mod events;
pub(crate) mod keys;
pub(crate) mod route_stats;
mod shared;
pub(crate) mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hookguard_config::Config;
use hookguard_delivery::Timestamp;
use hookguard_layers::rate::{RateLimiter, RateScope};

pub(crate) use events::{Event, EventFilter, EventLog};
pub(crate) use keys::{KeyCounters, KeyRecord, KeyTable, Origin};
pub(crate) use store::{AuditEntry, EmbeddedStore, KeyStore, StoreError};

use crate::runtime::Snapshot;
pub(crate) use store::lock as store_lock;
use store::lock;

/// The most of a body kept with its event.
const CAPTURE_BODY_LIMIT: usize = 64 * 1024;

/// Audit entries kept in the store.
pub(crate) const AUDIT_KEPT: usize = 10_000;

/// The admin state of one process.
pub(crate) struct OperatorState {
    pub(crate) store: Arc<dyn KeyStore>,
    /// Config and API keys merged; swapped whole on every change.
    pub(crate) keys: ArcSwap<KeyTable>,
    /// The records the store gave last (the table is rebuilt from them when a new
    /// configuration comes while the store does not answer).
    stored: ArcSwap<Vec<KeyRecord>>,
    /// Loads one at a time, so an older read never replaces a newer table.
    loading: tokio::sync::Mutex<()>,
    /// Per key id, since the process started.
    key_counters: Mutex<HashMap<String, Arc<KeyCounters>>>,
    pub(crate) events: EventLog,
    route_stats: Mutex<HashMap<String, route_stats::RouteStats>>,
    /// The configuration last applied (the key table is rebuilt from it after a change).
    config: ArcSwap<Config>,
    /// Key changes one at a time (read, change, write, rebuild).
    pub(crate) changes: tokio::sync::Mutex<()>,
    /// Seals captured requests (`queue.encryption_keys`; plain without keys).
    pub(crate) sealer: ArcSwap<hookguard_delivery::Sealer>,
    /// Each key's own limiter, by key id and limit (a changed limit starts a new bucket).
    key_limiters: Mutex<HashMap<(String, keys::KeyRate), Arc<RateLimiter>>>,
}

impl std::fmt::Debug for OperatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorState").finish_non_exhaustive()
    }
}

impl OperatorState {
    /// Opens the embedded store at `admin.path` (relative to `base_dir`): the event log,
    /// and the keys unless `redis` is given (`[state] backend = "redis"`), where they are
    /// kept instead.
    pub(crate) async fn open(
        config: &Config,
        base_dir: &Path,
        redis: Option<&hookguard_redis::Redis>,
    ) -> Result<Arc<Self>, String> {
        let sealer = crate::queue::sealer(config, base_dir).await?;
        let path = base_dir.join(&config.admin.path);
        let embedded = EmbeddedStore::open(&path).map_err(|e| format!("admin.path: {e}"))?;
        let settings = &config.admin.events;
        let events = EventLog::persistent(
            embedded.clone(),
            settings.max_events,
            settings.max_age.get().as_millis() as u64,
        )?;
        let store: Arc<dyn KeyStore> = match redis {
            Some(redis) => Arc::new(shared::RedisKeyStore::new(crate::shared_state::records(
                redis, config, base_dir, "keys",
            )?)),
            None => Arc::new(embedded),
        };
        let state = Self::with_store(store, events, config).await?;
        state.sealer.store(Arc::new(sealer));
        Ok(state)
    }

    /// The state over any key store. A shared store that does not answer yet leaves the
    /// config file's keys alone in the table until it does.
    pub(crate) async fn with_store(
        store: Arc<dyn KeyStore>,
        events: EventLog,
        config: &Config,
    ) -> Result<Arc<Self>, String> {
        let records = match store.keys().await {
            Ok(records) => records,
            Err(e) if store.shared() => {
                tracing::error!(error = %e, "the API-made keys cannot be loaded yet: serving the config file's keys until the store answers");
                Vec::new()
            }
            Err(e) => return Err(e.to_string()),
        };
        let state = Arc::new(Self {
            keys: ArcSwap::from_pointee(KeyTable::build(config, &records)),
            stored: ArcSwap::from_pointee(records),
            loading: tokio::sync::Mutex::new(()),
            store,
            key_counters: Mutex::default(),
            events,
            route_stats: Mutex::default(),
            config: ArcSwap::from_pointee(config.clone()),
            changes: tokio::sync::Mutex::new(()),
            key_limiters: Mutex::default(),
            sealer: ArcSwap::from_pointee(hookguard_delivery::Sealer::plain()),
        });
        if state.store.shared() {
            tokio::spawn(follow_changes(Arc::downgrade(&state)));
        }
        Ok(state)
    }

    /// A new configuration: its keys are merged again, its limits applied.
    pub(crate) async fn apply(&self, config: &Config) -> Result<(), String> {
        let settings = &config.admin.events;
        self.events.set_limits(
            settings.max_events,
            settings.max_age.get().as_millis() as u64,
        );
        self.config.store(Arc::new(config.clone()));
        match self.reload_keys().await {
            Ok(()) => Ok(()),
            Err(e) if self.store.shared() => {
                // The new file's keys apply now; the API's as last loaded.
                tracing::warn!(error = %e, "the key store does not answer: the new configuration's keys merged with the API keys last loaded");
                self.keys.store(Arc::new(KeyTable::build(
                    &self.config.load(),
                    &self.stored.load(),
                )));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Rebuilds the key table from the store (after a change through the API, or by
    /// another replica).
    pub(crate) async fn reload_keys(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.loading.lock().await;
        let records = self.store.keys().await?;
        self.keys
            .store(Arc::new(KeyTable::build(&self.config.load(), &records)));
        self.stored.store(Arc::new(records));
        Ok(())
    }

    /// The configuration last applied.
    pub(crate) fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// A key's counters.
    pub(crate) fn key_counters(&self, id: &str) -> Arc<KeyCounters> {
        Arc::clone(lock(&self.key_counters).entry(id.to_owned()).or_default())
    }

    /// The limiter of the webhook key `key`, when it has a limit of its own.
    pub(crate) fn key_limiter(&self, key: &str, now_ms: u64) -> Option<Arc<RateLimiter>> {
        let table = self.keys.load();
        let resolved = table.resolve(key, now_ms)?;
        let rate = resolved.rate_limit?;
        let mut limiters = lock(&self.key_limiters);
        if let Some(limiter) = limiters.get(&(resolved.id.to_string(), rate)) {
            return Some(Arc::clone(limiter));
        }
        // Validated where it was set (config or API); a limit that still fails is ignored
        // rather than refusing every request of the key.
        let quota = rate.quota().ok()?;
        let limiter = Arc::new(RateLimiter::new(RateScope::Global, quota));
        limiters.retain(|(id, _), _| *id != *resolved.id);
        limiters.insert((resolved.id.to_string(), rate), Arc::clone(&limiter));
        Some(limiter)
    }

    /// Runs `f` on a route's statistics.
    pub(crate) fn route_stats<T>(
        &self,
        route: &str,
        f: impl FnOnce(&route_stats::RouteStats) -> T,
    ) -> T {
        f(lock(&self.route_stats).entry(route.to_owned()).or_default())
    }

    /// Writes an audit entry to the store (and the audit target on stdout's side).
    pub(crate) async fn audit(&self, token_id: &str, action: &str, detail: serde_json::Value) {
        tracing::info!(target: "hookguard::audit", token_id, action, detail = %detail, "admin action");
        let entry = AuditEntry {
            at_ms: Timestamp::now().0,
            token_id: token_id.to_owned(),
            action: action.to_owned(),
            detail,
        };
        if let Err(e) = self.store.append_audit(&entry, AUDIT_KEPT).await {
            tracing::error!(error = %e, action, "the audit entry could not be stored");
        }
    }

    /// The request's headers (credentials and signatures masked) and body, sealed.
    fn capture(&self, head: &pingora_http::RequestHeader, path: &str, body: &[u8]) -> String {
        use base64::Engine as _;
        let request = hookguard_delivery::Request {
            method: head.method.to_string(),
            target: path.to_owned(),
            headers: head
                .headers
                .iter()
                .map(|(name, value)| {
                    let shown = if crate::admin::is_sensitive(name.as_str()) {
                        bytes::Bytes::from_static(b"<masked>")
                    } else {
                        bytes::Bytes::copy_from_slice(value.as_bytes())
                    };
                    (name.to_string(), shown)
                })
                .collect(),
            body: bytes::Bytes::copy_from_slice(&body[..body.len().min(CAPTURE_BODY_LIMIT)]),
        };
        base64::engine::general_purpose::STANDARD.encode(self.sealer.load().seal(&request))
    }

    /// Counts one request in the key's and the route's statistics and logs it.
    fn observe(
        &self,
        snapshot: &Snapshot,
        head: &pingora_http::RequestHeader,
        body: &[u8],
        mut event: Event,
    ) {
        let raw_path = head.uri.path();
        if snapshot.config.admin.events.capture.contains(&event.route) {
            event.capture = Some(self.capture(head, &event.path, body));
        }
        let now = Timestamp::now().0;
        event.at_ms = now;
        if let Some((resolved, route)) = snapshot.key_of(raw_path, &self.keys.load(), now) {
            // A disabled key is refused before a route is chosen: the key names it.
            if event.route == "-" {
                event.route = route;
            }
            let counters = self.key_counters(&resolved);
            counters
                .total
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            counters
                .last_used_ms
                .store(now, std::sync::atomic::Ordering::Relaxed);
            if matches!(event.outcome.as_str(), "forwarded" | "queued") {
                counters
                    .accepted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else {
                let reason = event
                    .reason
                    .clone()
                    .unwrap_or_else(|| event.outcome.clone());
                *lock(&counters.rejected).entry(reason).or_default() += 1;
            }
            event.key_id = Some(resolved);
        }
        if event.route != "-" {
            lock(&self.route_stats)
                .entry(event.route.clone())
                .or_default()
                .observe(
                    &event.outcome,
                    event.reason.as_deref().unwrap_or(""),
                    event.duration_ms,
                    now,
                );
        }
        self.events.push(event);
    }
}

/// How often a follower checks that its owner still exists while nothing changes.
const FOLLOW_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Rebuilds the key table whenever the shared store says another replica changed it; ends
/// with the state. A failed load keeps the table and is tried again at the next signal
/// (the store signals again when it answers after it did not).
async fn follow_changes(state: std::sync::Weak<OperatorState>) {
    loop {
        let Some(store) = state.upgrade().map(|s| Arc::clone(&s.store)) else {
            return;
        };
        // Bounded, so that the store is let go of soon after its owner is dropped.
        if tokio::time::timeout(FOLLOW_RECHECK, store.changed())
            .await
            .is_err()
        {
            continue;
        }
        let Some(state) = state.upgrade() else {
            return;
        };
        if let Err(e) = state.reload_keys().await {
            tracing::warn!(error = %e, "keys changed by another replica could not be loaded yet");
        }
    }
}

/// Records one request: called once per request by the sidecar's access log with the
/// request head, the body read (empty when none was) and the fields of the log line it
/// wrote (so the event log and the access log cannot disagree).
pub(crate) fn record(
    snapshot: &Snapshot,
    head: &pingora_http::RequestHeader,
    body: &[u8],
    event: Event,
) {
    if let Some(state) = &snapshot.state {
        state.observe(snapshot, head, body, event);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use hookguard_redis::{Redis, RedisRecords, RedisSettings};

    use super::keys::generate_key;
    use super::*;

    const FILE_KEY: &str = "wh_0123456789abcdefghijABCDEFGHIJkl";

    fn key_route() -> Config {
        let toml = format!(
            r#"
upstream.address = "127.0.0.1:3000"
[[routes]]
id = "hooks"
match = {{ key_prefix = "/hooks/", keys = [{{ key = "{FILE_KEY}" }}] }}
scheme = "github"
secrets = [{{ id = "primary", value = "s" }}]
"#
        );
        Config::from_text(
            &toml,
            hookguard_config::Format::Toml,
            "h.toml".as_ref(),
            &HashMap::new(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn redis_down_at_start_serves_the_file_keys_and_loads_the_api_keys_when_it_returns() {
        let mut server = hookguard_tests::RedisServer::builder().persistent().start();
        let settings = RedisSettings::new(server.url())
            .connect_timeout(Duration::from_millis(200))
            .command_timeout(Duration::from_millis(300));
        let records = Arc::new(RedisRecords::new(
            Redis::connect_lazy(settings.clone()).unwrap(),
            "keys",
        ));
        let store = shared::RedisKeyStore::new(Arc::clone(&records));
        let api_key = generate_key();
        let record = KeyRecord {
            id: "k_1".into(),
            route: "hooks".into(),
            key: api_key.clone(),
            origin: Origin::Api,
            enabled: true,
            created_ms: 1,
            changed_ms: 1,
            changed_by: None,
            retired: None,
            rate_limit: None,
        };
        store.put_key(&record).await.unwrap();
        server.kill9();

        records.watch(settings, Duration::from_millis(200));
        let state = OperatorState::with_store(
            Arc::new(store),
            EventLog::in_memory(10, 60_000),
            &key_route(),
        )
        .await
        .expect("a shared store that is down does not stop the start");
        assert!(state.keys.load().resolve(FILE_KEY, 0).is_some());
        assert!(state.keys.load().resolve(&api_key, 0).is_none());

        server.restart();
        let back = Instant::now();
        while state.keys.load().resolve(&api_key, 0).is_none() {
            assert!(
                back.elapsed() < Duration::from_secs(5),
                "the API key never came with redis"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
