//! [`RouteKeys`]: one route's keys, the [`KeySource`] verification reads on every
//! request, and the fetch cycle that fills them.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use secrecy::ExposeSecret;
use tokio::sync::OwnedMutexGuard;

use super::cache::{Loaded, SecretMeta, Shared, Slot};
use super::error::{CredentialError, FetchProblem};
use super::secret::SecretSet;
use crate::verify::{KeySource, Keyring, VerifyError};

/// One route's keys from a [`CachedCredentials`](super::CachedCredentials), for
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
    pub(super) fn new(shared: Arc<Shared>, slot: Arc<Slot>) -> Self {
        Self { shared, slot }
    }

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
pub(super) async fn refresh(
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
        RouteKeys::new(Arc::clone(shared), Arc::clone(slot)).kick(now);
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
            max_age: e.max_age,
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
        if shared.too_old(Some(rotated_at), secret.max_age, now)
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
