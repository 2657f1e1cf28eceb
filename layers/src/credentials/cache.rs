//! [`CachedCredentials`]: parsed keyrings ready for every request, refreshed in the
//! background, kept when the source fails.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::error::CredentialError;
use super::keys::{refresh, RouteKeys};
use super::source::CredentialSource;
use super::stats::{
    load_time, CredentialStats, FetchCounters, RequestCounters, RouteStats, SecretStats,
    SecretUsage, SourceHealth,
};
use crate::clock::{Clock, SystemClock};
use crate::verify::{Keyring, Scheme};

/// Default time a fetched keyring stays fresh.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Default margin before expiry at which a background refresh starts.
pub const DEFAULT_REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// Default limit on serving expired keys while the source fails.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 60 * 60);
/// Default limit on one fetch.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default pause before retrying a failed fetch.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) ttl: i64,
    pub(super) refresh_ahead: i64,
    pub(super) max_stale: Option<i64>,
    pub(super) fetch_timeout: Duration,
    pub(super) retry_after: i64,
    max_secret_age: Option<i64>,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Configures a [`CachedCredentials`].
pub struct CachedCredentialsBuilder {
    settings: Settings,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for CachedCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredentialsBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CachedCredentialsBuilder {
    /// How long fetched keys are fresh (default 300 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.settings.ttl = secs(ttl).max(1);
        self
    }

    /// How long before expiry a refresh starts in the background (default 60 s, at most
    /// the TTL).
    pub fn refresh_ahead(mut self, margin: Duration) -> Self {
        self.settings.refresh_ahead = secs(margin);
        self
    }

    /// How long past expiry keys are still served while refreshing fails (default 24 h);
    /// `None` serves them for as long as the source is down. Beyond it, requests fail
    /// closed (500) and the provider retries later.
    pub fn max_stale(mut self, limit: Option<Duration>) -> Self {
        self.settings.max_stale = limit.map(secs);
        self
    }

    /// Limit on one fetch (default 10 s): a hanging store never holds keys back longer.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.settings.fetch_timeout = timeout;
        self
    }

    /// Pause before a failed fetch is retried (default 5 s).
    pub fn retry_after(mut self, pause: Duration) -> Self {
        self.settings.retry_after = secs(pause).max(1);
        self
    }

    /// Warn (log and count) when a secret's rotation time is older than `age`.
    pub fn max_secret_age(mut self, age: Duration) -> Self {
        self.settings.max_secret_age = Some(secs(age));
        self
    }

    /// Replaces the clock (tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The cache.
    pub fn build(self) -> CachedCredentials {
        let mut settings = self.settings;
        settings.refresh_ahead = settings.refresh_ahead.min(settings.ttl);
        CachedCredentials {
            shared: Arc::new(Shared {
                settings,
                clock: self.clock,
                routes: RwLock::new(HashMap::new()),
                sources: Mutex::new(HashMap::new()),
                counters: FetchCounters::default(),
            }),
        }
    }
}

/// Keys for many routes, fetched from their [`CredentialSource`]s and kept parsed, so a
/// request costs one atomic load.
///
/// - **TTL and refresh ahead**: keys are fresh for the TTL; the first lookup inside the
///   last `refresh_ahead` of it starts one background fetch, and so does the refresher
///   ([`spawn_refresher`](Self::spawn_refresher)) for routes without traffic. Sources
///   that can tell a change cheaply (files) are refetched at the refresher's next pass.
/// - **Stale if error**: when a fetch fails or times out, the keys in service stay in
///   service (counted) up to `max_stale` past their expiry; the fetch is retried after
///   `retry_after`.
/// - **Invalidation**: [`invalidate`](Self::invalidate) marks a route's keys expired and
///   refetches them at once; the old keys answer until the new ones land.
/// - **Rotation**: keys keep the source's order (primary, next, …);
///   [`record_match`](Self::record_match) counts which secret requests matched, and
///   secrets older than `max_secret_age` are logged and counted.
#[derive(Clone)]
pub struct CachedCredentials {
    shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) settings: Settings,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) routes: RwLock<HashMap<Arc<str>, Vec<Arc<Slot>>>>,
    pub(super) sources: Mutex<HashMap<String, Arc<SourceHealth>>>,
    pub(super) counters: FetchCounters,
}

/// One route's keys for one scheme.
pub(super) struct Slot {
    pub(super) route: Arc<str>,
    pub(super) scheme: Arc<dyn Scheme>,
    pub(super) source: Arc<dyn CredentialSource>,
    pub(super) health: Arc<SourceHealth>,
    pub(super) loaded: ArcSwapOption<Loaded>,
    /// Unix seconds from which a lookup starts a refresh; `i64::MIN` = now.
    pub(super) next_refresh: AtomicI64,
    /// Bumped by invalidation, so a fetch that started before it does not count as fresh.
    pub(super) generation: AtomicU64,
    /// Held by the one fetch under way.
    pub(super) refresh_lock: Arc<tokio::sync::Mutex<()>>,
    pub(super) requests: RequestCounters,
    pub(super) usage: Mutex<HashMap<Arc<str>, Arc<SecretUsage>>>,
}

#[derive(Clone)]
pub(super) struct Loaded {
    pub(super) keyring: Arc<Keyring>,
    pub(super) fetched_at: i64,
    pub(super) expires_at: i64,
    pub(super) revision: Option<u64>,
    pub(super) secrets: Vec<SecretMeta>,
}

#[derive(Clone)]
pub(super) struct SecretMeta {
    pub(super) id: Arc<str>,
    pub(super) rotated_at: Option<i64>,
    pub(super) max_age: Option<i64>,
    pub(super) usage: Arc<SecretUsage>,
}

impl fmt::Debug for CachedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<Arc<str>> = self.shared.read_routes().keys().cloned().collect();
        f.debug_struct("CachedCredentials")
            .field("settings", &self.shared.settings)
            .field("routes", &routes)
            .finish()
    }
}

impl Default for CachedCredentials {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl CachedCredentials {
    /// A cache with the default settings and the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder starting from the defaults.
    pub fn builder() -> CachedCredentialsBuilder {
        CachedCredentialsBuilder {
            settings: Settings {
                ttl: secs(DEFAULT_TTL),
                refresh_ahead: secs(DEFAULT_REFRESH_AHEAD),
                max_stale: Some(secs(DEFAULT_MAX_STALE)),
                fetch_timeout: DEFAULT_FETCH_TIMEOUT,
                retry_after: secs(DEFAULT_RETRY_AFTER),
                max_secret_age: None,
            },
            clock: Arc::new(SystemClock),
        }
    }

    /// Registers `route` (its keys parsed for `scheme`, fetched from `source`) and returns
    /// its [`KeySource`](crate::verify::KeySource). Nothing is fetched yet: the first
    /// lookup, the refresher, or [`RouteKeys::reload`] does it — use [`load`](Self::load)
    /// to wait for the first keys. Registering the same route and scheme again returns
    /// the existing keys (and keeps the first source).
    pub fn route(
        &self,
        route: &str,
        scheme: Arc<dyn Scheme>,
        source: Arc<dyn CredentialSource>,
    ) -> RouteKeys {
        let mut routes = self
            .shared
            .routes
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let slots = routes.entry(Arc::from(route)).or_default();
        if let Some(slot) = slots.iter().find(|s| s.scheme.name() == scheme.name()) {
            return self.keys(Arc::clone(slot));
        }
        let health = Arc::clone(
            self.shared
                .sources
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(source.name().to_owned())
                .or_insert_with(|| Arc::new(SourceHealth::new(source.name()))),
        );
        let slot = Arc::new(Slot {
            route: Arc::from(route),
            scheme,
            source,
            health,
            loaded: ArcSwapOption::empty(),
            next_refresh: AtomicI64::new(i64::MIN),
            generation: AtomicU64::new(0),
            refresh_lock: Arc::new(tokio::sync::Mutex::new(())),
            requests: RequestCounters::default(),
            usage: Mutex::new(HashMap::new()),
        });
        slots.push(Arc::clone(&slot));
        self.keys(slot)
    }

    /// Registers `route` like [`route`](Self::route) and waits for its first keys.
    pub async fn load(
        &self,
        route: &str,
        scheme: Arc<dyn Scheme>,
        source: Arc<dyn CredentialSource>,
    ) -> Result<RouteKeys, CredentialError> {
        let keys = self.route(route, scheme, source);
        keys.reload().await?;
        Ok(keys)
    }

    /// Refetches every route now; the errors of those that failed.
    pub async fn reload_all(&self) -> Result<(), Vec<CredentialError>> {
        let mut errors = Vec::new();
        for slot in self.shared.all_slots() {
            if let Err(e) = self.keys(slot).reload().await {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Marks `route`'s keys expired and refetches them in the background.
    pub fn invalidate(&self, route: &str) {
        for slot in self.shared.slots_of(route) {
            self.keys(slot).invalidate();
        }
    }

    /// Marks every route's keys expired and refetches them in the background.
    pub fn invalidate_all(&self) {
        for slot in self.shared.all_slots() {
            self.keys(slot).invalidate();
        }
    }

    /// One pass of the refresher: refetches, concurrently, every route whose keys are due
    /// (missing, inside the refresh-ahead margin, invalidated, retry due) or whose source
    /// reports a change, and waits for those fetches.
    pub async fn maintain(&self) {
        let now = self.shared.clock.now_unix();
        let mut fetches = Vec::new();
        for slot in self.shared.all_slots() {
            let changed = slot.source.revision(&slot.route).is_some_and(|revision| {
                slot.loaded
                    .load()
                    .as_ref()
                    .is_some_and(|loaded| loaded.revision != Some(revision))
            });
            if !changed && now < slot.next_refresh.load(Ordering::Acquire) {
                continue;
            }
            let Ok(guard) = Arc::clone(&slot.refresh_lock).try_lock_owned() else {
                continue; // a fetch is already under way
            };
            let shared = Arc::clone(&self.shared);
            fetches.push(tokio::spawn(async move {
                let _ = refresh(&shared, &slot, guard).await;
            }));
        }
        for fetch in fetches {
            let _ = fetch.await;
        }
    }

    /// Runs [`maintain`](Self::maintain) every `every` in a task, until the returned
    /// handle is dropped. A short interval (10 s) keeps idle routes fresh and picks up
    /// file changes quickly; fetches still happen only when due.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn_refresher(&self, every: Duration) -> RefresherHandle {
        let cache = self.clone();
        let every = every.max(Duration::from_millis(10));
        RefresherHandle(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                cache.maintain().await;
            }
        }))
    }

    /// Counts a verified request that matched `secret_id` on `route` (from
    /// [`Verified::secret_id`](crate::verify::Verified)). Unknown ids are ignored.
    pub fn record_match(&self, route: &str, secret_id: &str) {
        for slot in self.shared.slots_of(route) {
            self.keys(slot).record_match(secret_id);
        }
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> CredentialStats {
        let shared = &*self.shared;
        let now = shared.clock.now_unix();
        let counters = &shared.counters;
        let mut stats = CredentialStats {
            refreshes: counters.refreshes.load(Ordering::Relaxed),
            refresh_failures: counters.refresh_failures.load(Ordering::Relaxed),
            timeouts: counters.timeouts.load(Ordering::Relaxed),
            stale_fallbacks: counters.stale_fallbacks.load(Ordering::Relaxed),
            old_secret_warnings: counters.old_secret_warnings.load(Ordering::Relaxed),
            ..CredentialStats::default()
        };
        let mut sources: Vec<_> = shared
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|h| h.snapshot())
            .collect();
        sources.sort_by(|a, b| a.name.cmp(&b.name));
        stats.sources = sources;
        for slot in shared.all_slots() {
            let requests = slot.requests.snapshot();
            stats.requests.fresh += requests.fresh;
            stats.requests.stale += requests.stale;
            stats.requests.missing += requests.missing;
            let loaded = slot.loaded.load_full();
            let secrets = loaded.as_ref().map_or_else(Vec::new, |l| {
                l.secrets
                    .iter()
                    .enumerate()
                    .map(|(position, s)| SecretStats {
                        id: Arc::clone(&s.id),
                        position,
                        matches: s.usage.matches.load(Ordering::Relaxed),
                        last_match: load_time(&s.usage.last_match),
                        rotated_at: s.rotated_at,
                        too_old: shared.too_old(s.rotated_at, s.max_age, now),
                    })
                    .collect()
            });
            stats.routes.push(RouteStats {
                route: Arc::clone(&slot.route),
                scheme: slot.scheme.name(),
                source: slot.source.name().to_owned(),
                requests,
                fetched_at: loaded.as_ref().map(|l| l.fetched_at),
                expires_at: loaded.as_ref().map(|l| l.expires_at),
                secrets,
            });
        }
        stats
            .routes
            .sort_by(|a, b| (&a.route, a.scheme).cmp(&(&b.route, b.scheme)));
        stats
    }

    fn keys(&self, slot: Arc<Slot>) -> RouteKeys {
        RouteKeys::new(Arc::clone(&self.shared), slot)
    }
}

impl Shared {
    fn read_routes(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Vec<Arc<Slot>>>> {
        self.routes.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn all_slots(&self) -> Vec<Arc<Slot>> {
        self.read_routes().values().flatten().cloned().collect()
    }

    fn slots_of(&self, route: &str) -> Vec<Arc<Slot>> {
        self.read_routes().get(route).cloned().unwrap_or_default()
    }

    /// Whether a secret written at `rotated_at` is older than its own `max_age`, else than
    /// the cache's maximum.
    pub(super) fn too_old(&self, rotated_at: Option<i64>, max_age: Option<i64>, now: i64) -> bool {
        match (max_age.or(self.settings.max_secret_age), rotated_at) {
            (Some(max), Some(at)) => now.saturating_sub(at) > max,
            _ => false,
        }
    }
}

/// Stops the refresher task when dropped.
#[derive(Debug)]
pub struct RefresherHandle(tokio::task::JoinHandle<()>);

impl Drop for RefresherHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests;
