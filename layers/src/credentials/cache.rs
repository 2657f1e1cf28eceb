//! [`CachedCredentials`]: parsed keyrings ready for every request, refreshed in the
//! background, kept when the source fails.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use secrecy::ExposeSecret;
use tokio::sync::OwnedMutexGuard;

use super::secret::SecretSet;
use super::source::{CredentialSource, SourceError};
use super::stats::{
    load_time, CredentialStats, FetchCounters, RequestCounters, RouteStats, SecretStats,
    SecretUsage, SourceHealth,
};
use crate::clock::{Clock, SystemClock};
use crate::verify::{KeySource, Keyring, Scheme, SecretError, VerifyError};

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

/// Why a route's keys could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
#[error("route {route}: secret source {source_name}: {problem}")]
pub struct CredentialError {
    /// The route.
    pub route: Arc<str>,
    /// The source's name.
    pub source_name: String,
    /// What went wrong.
    #[source]
    pub problem: FetchProblem,
}

/// What went wrong in one fetch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchProblem {
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The source did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A secret is not in the format the route's scheme needs.
    #[error("secret {id}: {error}")]
    Unusable {
        /// The secret's id.
        id: Arc<str>,
        /// Why it cannot be used (never its value).
        #[source]
        error: SecretError,
    },
    /// The source returned no secret at all.
    #[error("no secrets returned")]
    Empty,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    ttl: i64,
    refresh_ahead: i64,
    max_stale: Option<i64>,
    fetch_timeout: Duration,
    retry_after: i64,
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

struct Shared {
    settings: Settings,
    clock: Arc<dyn Clock>,
    routes: RwLock<HashMap<Arc<str>, Vec<Arc<Slot>>>>,
    sources: Mutex<HashMap<String, Arc<SourceHealth>>>,
    counters: FetchCounters,
}

/// One route's keys for one scheme.
struct Slot {
    route: Arc<str>,
    scheme: Arc<dyn Scheme>,
    source: Arc<dyn CredentialSource>,
    health: Arc<SourceHealth>,
    loaded: ArcSwapOption<Loaded>,
    /// Unix seconds from which a lookup starts a refresh; `i64::MIN` = now.
    next_refresh: AtomicI64,
    /// Bumped by invalidation, so a fetch that started before it does not count as fresh.
    generation: AtomicU64,
    /// Held by the one fetch under way.
    refresh_lock: Arc<tokio::sync::Mutex<()>>,
    requests: RequestCounters,
    usage: Mutex<HashMap<Arc<str>, Arc<SecretUsage>>>,
}

#[derive(Clone)]
struct Loaded {
    keyring: Arc<Keyring>,
    fetched_at: i64,
    expires_at: i64,
    revision: Option<u64>,
    secrets: Vec<SecretMeta>,
}

#[derive(Clone)]
struct SecretMeta {
    id: Arc<str>,
    rotated_at: Option<i64>,
    usage: Arc<SecretUsage>,
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
    /// its [`KeySource`]. Nothing is fetched yet: the first lookup, the refresher, or
    /// [`RouteKeys::reload`] does it — use [`load`](Self::load) to wait for the first
    /// keys. Registering the same route and scheme again returns the existing keys.
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
                        too_old: shared.too_old(s.rotated_at, now),
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
        RouteKeys {
            shared: Arc::clone(&self.shared),
            slot,
        }
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

    fn too_old(&self, rotated_at: Option<i64>, now: i64) -> bool {
        match (self.settings.max_secret_age, rotated_at) {
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

/// One route's keys from a [`CachedCredentials`], for
/// [`VerifySignatureLayer`](crate::verify::VerifySignatureLayer).
#[derive(Clone)]
pub struct RouteKeys {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
}

impl fmt::Debug for RouteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteKeys")
            .field("route", &self.slot.route)
            .field("scheme", &self.slot.scheme.name())
            .field("source", &self.slot.source.name())
            .finish()
    }
}

impl KeySource for RouteKeys {
    fn keyring(&self) -> Result<Arc<Keyring>, VerifyError> {
        let slot = &*self.slot;
        let now = self.shared.clock.now_unix();
        if now >= slot.next_refresh.load(Ordering::Acquire) {
            self.kick(now);
        }
        let loaded = slot.loaded.load();
        let Some(loaded) = loaded.as_ref() else {
            slot.requests.missing.fetch_add(1, Ordering::Relaxed);
            return Err(VerifyError::NoSecret);
        };
        if now < loaded.expires_at {
            slot.requests.fresh.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::clone(&loaded.keyring));
        }
        let stale_for = now.saturating_sub(loaded.expires_at);
        if self
            .shared
            .settings
            .max_stale
            .is_some_and(|max| stale_for > max)
        {
            // Fail closed: a 500 makes the provider retry once the source is back.
            slot.requests.missing.fetch_add(1, Ordering::Relaxed);
            return Err(VerifyError::NoSecret);
        }
        slot.requests.stale.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::clone(&loaded.keyring))
    }
}

impl RouteKeys {
    /// The route's id.
    pub fn route(&self) -> &str {
        &self.slot.route
    }

    /// Fetches the keys now and waits for them (after any fetch under way).
    pub async fn reload(&self) -> Result<(), CredentialError> {
        let guard = Arc::clone(&self.slot.refresh_lock).lock_owned().await;
        refresh(&self.shared, &self.slot, guard).await
    }

    /// Marks the keys expired and refetches them in the background; they keep answering
    /// (as stale) until the new ones land.
    pub fn invalidate(&self) {
        let slot = &*self.slot;
        let now = self.shared.clock.now_unix();
        slot.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(loaded) = slot.loaded.load_full() {
            if loaded.expires_at > now {
                slot.loaded.store(Some(Arc::new(Loaded {
                    expires_at: now,
                    ..(*loaded).clone()
                })));
            }
        }
        slot.next_refresh.store(i64::MIN, Ordering::Release);
        self.kick(now);
    }

    /// Counts a verified request that matched `secret_id`. Returns whether the id is one
    /// of the keys in service.
    pub fn record_match(&self, secret_id: &str) -> bool {
        let loaded = self.slot.loaded.load();
        let Some(secret) = loaded
            .as_ref()
            .and_then(|l| l.secrets.iter().find(|s| &*s.id == secret_id))
        else {
            return false;
        };
        secret.usage.matches.fetch_add(1, Ordering::Relaxed);
        secret
            .usage
            .last_match
            .store(self.shared.clock.now_unix(), Ordering::Relaxed);
        true
    }

    /// Waits until no fetch is under way (tests).
    #[cfg(test)]
    pub(crate) async fn settled(&self) {
        drop(self.slot.refresh_lock.lock().await);
    }

    /// Starts one background fetch if the keys are due and none is under way.
    fn kick(&self, now: i64) {
        let slot = &self.slot;
        let due = slot.next_refresh.load(Ordering::Acquire);
        if now < due {
            return;
        }
        // Claim the refresh: concurrent lookups see it scheduled and move on.
        let retry = now.saturating_add(self.shared.settings.retry_after);
        if slot
            .next_refresh
            .compare_exchange(due, retry, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to fetch on: leave it due for the refresher or a later lookup.
            slot.next_refresh.store(due, Ordering::Release);
            return;
        };
        let Ok(guard) = Arc::clone(&slot.refresh_lock).try_lock_owned() else {
            return; // a fetch is already under way
        };
        let (shared, slot) = (Arc::clone(&self.shared), Arc::clone(slot));
        runtime.spawn(async move {
            let _ = refresh(&shared, &slot, guard).await;
        });
    }
}

/// Fetches, parses and installs one route's keys. `guard` is the slot's refresh lock.
async fn refresh(
    shared: &Arc<Shared>,
    slot: &Arc<Slot>,
    guard: OwnedMutexGuard<()>,
) -> Result<(), CredentialError> {
    let generation = slot.generation.load(Ordering::Acquire);
    // Read before the fetch: a change during the fetch shows as a new revision later.
    let revision = slot.source.revision(&slot.route);
    let timeout = shared.settings.fetch_timeout;
    let fetched = tokio::time::timeout(timeout, slot.source.fetch(&slot.route)).await;
    let now = shared.clock.now_unix();
    let parsed = match fetched {
        Err(_) => Err(FetchProblem::Timeout(timeout)),
        Ok(Err(e)) => Err(FetchProblem::Source(e)),
        Ok(Ok(set)) => parse(slot, &set),
    };
    let result = match parsed {
        Ok((keyring, secrets)) => {
            install(shared, slot, keyring, secrets, revision, now);
            Ok(())
        }
        Err(problem) => Err(failed(shared, slot, problem, now)),
    };
    drop(guard);
    if slot.generation.load(Ordering::Acquire) != generation {
        // Invalidated while fetching: what was fetched may predate the change.
        slot.next_refresh.store(i64::MIN, Ordering::Release);
        RouteKeys {
            shared: Arc::clone(shared),
            slot: Arc::clone(slot),
        }
        .kick(now);
    }
    result
}

fn parse(slot: &Slot, set: &SecretSet) -> Result<(Arc<Keyring>, Vec<SecretMeta>), FetchProblem> {
    if set.is_empty() {
        return Err(FetchProblem::Empty);
    }
    let entries = set.entries();
    let keyring = Keyring::from_named_secrets(
        &*slot.scheme,
        entries
            .iter()
            .map(|e| (Arc::clone(&e.id), e.value.expose_secret())),
    )
    .map_err(|error| FetchProblem::Unusable {
        id: entries
            .get(error.index)
            .map_or_else(|| Arc::from(error.index.to_string()), |e| Arc::clone(&e.id)),
        error,
    })?;
    let mut usage = slot.usage.lock().unwrap_or_else(PoisonError::into_inner);
    let secrets = entries
        .iter()
        .map(|e| SecretMeta {
            id: Arc::clone(&e.id),
            rotated_at: e.rotated_at,
            usage: Arc::clone(usage.entry(Arc::clone(&e.id)).or_default()),
        })
        .collect();
    Ok((keyring, secrets))
}

fn install(
    shared: &Shared,
    slot: &Slot,
    keyring: Arc<Keyring>,
    secrets: Vec<SecretMeta>,
    revision: Option<u64>,
    now: i64,
) {
    let settings = &shared.settings;
    for secret in &secrets {
        let Some(rotated_at) = secret.rotated_at else {
            continue;
        };
        if shared.too_old(Some(rotated_at), now)
            && secret.usage.warned_for.swap(rotated_at, Ordering::Relaxed) != rotated_at
        {
            shared
                .counters
                .old_secret_warnings
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                route = %slot.route,
                secret_id = %secret.id,
                age_days = now.saturating_sub(rotated_at) / 86_400,
                "secret is older than the configured maximum age; rotate it"
            );
        }
    }
    let expires_at = now.saturating_add(settings.ttl);
    slot.loaded.store(Some(Arc::new(Loaded {
        keyring,
        fetched_at: now,
        expires_at,
        revision,
        secrets,
    })));
    slot.next_refresh
        .store(expires_at - settings.refresh_ahead, Ordering::Release);
    slot.health.succeeded(now);
    shared.counters.refreshes.fetch_add(1, Ordering::Relaxed);
}

fn failed(shared: &Shared, slot: &Slot, problem: FetchProblem, now: i64) -> CredentialError {
    let error = CredentialError {
        route: Arc::clone(&slot.route),
        source_name: slot.source.name().to_owned(),
        problem,
    };
    let counters = &shared.counters;
    counters.refresh_failures.fetch_add(1, Ordering::Relaxed);
    if matches!(error.problem, FetchProblem::Timeout(_)) {
        counters.timeouts.fetch_add(1, Ordering::Relaxed);
    }
    let kept = slot.loaded.load().is_some();
    if kept {
        counters.stale_fallbacks.fetch_add(1, Ordering::Relaxed);
    }
    slot.health.failed(now, error.problem.to_string());
    slot.next_refresh.store(
        now.saturating_add(shared.settings.retry_after),
        Ordering::Release,
    );
    tracing::warn!(
        route = %slot.route,
        source = slot.source.name(),
        error = %error.problem,
        keeping_previous_keys = kept,
        "credential refresh failed"
    );
    error
}

#[cfg(test)]
mod tests;
