//! [`MemoryStore`]: governor's GCRA over a bounded, in-process key table.

use std::future::{ready, Ready};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::StateStore;

use super::{LimitKey, RateConfigError, RateDecision, RateQuota, RateStore, RateStoreError};

/// Default bound on the number of buckets a [`MemoryStore`] keeps.
pub const DEFAULT_MAX_KEYS: NonZeroUsize = match NonZeroUsize::new(100_000) {
    Some(n) => n,
    None => unreachable!(),
};

/// Rate-limit buckets in process memory: governor's GCRA, one 8-byte state per key, and
/// a table that cannot outgrow `max_keys`.
///
/// **Bounded memory.** Buckets idle long enough to be full again are dropped by
/// [`sweep`](RateStore::sweep) (run it on a timer: [`RateLimiter::spawn_sweeper`]). And
/// however fast new keys arrive, the table never holds more than `max_keys`: once it is
/// full, requests with keys it does not know share one *overflow* bucket under the same
/// quota until a sweep makes room. Known keys keep their own buckets. So a flood of
/// distinct keys (spoofed tenants, a botnet) is limited as if it were one client, rather
/// than either growing memory or locking out everyone new.
///
/// [`RateLimiter::spawn_sweeper`]: super::RateLimiter::spawn_sweeper
pub struct MemoryStore<C: Clock = DefaultClock> {
    limiter: governor::RateLimiter<LimitKey, BoundedState, C, StateInformationMiddleware>,
    quota: RateQuota,
    max_keys: usize,
}

impl MemoryStore {
    /// A store keeping at most `max_keys` buckets, on the monotonic clock.
    pub fn new(quota: RateQuota, max_keys: usize) -> Result<Self, RateConfigError> {
        Self::with_clock(quota, max_keys, DefaultClock::default())
    }
}

impl<C: Clock> MemoryStore<C> {
    /// A store on `clock` (governor's `FakeRelativeClock` in tests).
    pub fn with_clock(
        quota: RateQuota,
        max_keys: usize,
        clock: C,
    ) -> Result<Self, RateConfigError> {
        let max_keys = NonZeroUsize::new(max_keys).ok_or(RateConfigError::ZeroKeys)?;
        Ok(Self::bounded(quota, max_keys, clock))
    }

    pub(super) fn bounded(quota: RateQuota, max_keys: NonZeroUsize, clock: C) -> Self {
        let max_keys = max_keys.get();
        let state = BoundedState {
            map: DashMap::new(),
            max_keys,
            len: AtomicUsize::new(0),
            overflow: Tat::default(),
        };
        Self {
            limiter: governor::RateLimiter::new(quota.governor(), state, clock),
            quota,
            max_keys,
        }
    }

    /// Counts one request against `key`, synchronously.
    pub fn decide(&self, key: &LimitKey) -> RateDecision {
        let limit = self.quota.limit();
        let interval = self.quota.replenish_interval();
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateDecision {
                    allowed: true,
                    limit,
                    remaining,
                    reset: interval.saturating_mul(limit.saturating_sub(remaining)),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                RateDecision {
                    allowed: false,
                    limit,
                    remaining: 0,
                    reset: wait.saturating_add(interval.saturating_mul(limit - 1)),
                    retry_after: wait,
                }
            }
        }
    }

    /// Buckets currently kept (the overflow bucket not counted).
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no bucket is kept.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// The most buckets this store keeps.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Drops buckets idle long enough to be full again, and gives their memory back.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

impl<C> RateStore for MemoryStore<C>
where
    C: Clock + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    // Decided in the call: nothing to wait for.
    type Future = Ready<Result<RateDecision, RateStoreError>>;

    fn check(&self, key: &LimitKey) -> Self::Future {
        ready(Ok(self.decide(key)))
    }

    fn quota(&self) -> RateQuota {
        self.quota
    }

    fn sweep(&self) {
        MemoryStore::sweep(self);
    }
}

impl<C: Clock> std::fmt::Debug for MemoryStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("quota", &self.quota)
            .field("keys", &self.len())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

/// The key table behind governor: at most `max_keys` entries, then one shared overflow
/// bucket (see [`MemoryStore`]).
struct BoundedState {
    map: DashMap<LimitKey, Tat>,
    max_keys: usize,
    /// Entries in `map`, kept exactly: slots are reserved before inserting.
    len: AtomicUsize,
    overflow: Tat,
}

impl StateStore for BoundedState {
    type Key = LimitKey;

    fn measure_and_replace<T, F, E>(&self, key: &LimitKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(tat) = self.map.get(key) {
            return tat.measure_and_replace(f);
        }
        // Reserve a slot first, so concurrent first requests cannot overshoot the bound.
        if self.len.fetch_add(1, Ordering::AcqRel) >= self.max_keys {
            self.len.fetch_sub(1, Ordering::AcqRel);
            return self.overflow.measure_and_replace(f);
        }
        match self.map.entry(key.clone()) {
            Entry::Occupied(entry) => {
                // Another request inserted it meanwhile: give the slot back.
                self.len.fetch_sub(1, Ordering::AcqRel);
                entry.get().measure_and_replace(f)
            }
            Entry::Vacant(entry) => entry.insert(Tat::default()).measure_and_replace(f),
        }
    }
}

impl ShrinkableKeyedStateStore<LimitKey> for BoundedState {
    fn retain_recent(&self, drop_below: Nanos) {
        let mut dropped = 0;
        self.map.retain(|_, tat| {
            let keep = !tat.is_older_than(drop_below);
            dropped += usize::from(!keep);
            keep
        });
        self.len.fetch_sub(dropped, Ordering::AcqRel);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One bucket: its theoretical arrival time in nanoseconds since the limiter started,
/// 0 meaning "never seen" (governor's `InMemoryState`, whose helpers are crate-private).
#[derive(Default)]
struct Tat(AtomicU64);

impl Tat {
    fn measure_and_replace<T, F, E>(&self, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let read = |raw: u64| (raw != 0).then(|| Nanos::from(raw));
        let mut prev = self.0.load(Ordering::Acquire);
        loop {
            let (result, next) = f(read(prev))?;
            match self.0.compare_exchange_weak(
                prev,
                next.as_u64(),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(result),
                Err(current) => prev = current,
            }
        }
    }

    fn is_older_than(&self, nanos: Nanos) -> bool {
        self.0.load(Ordering::Relaxed) <= nanos.as_u64()
    }
}

#[cfg(test)]
mod tests;
