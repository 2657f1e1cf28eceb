//! [`RateLimiter`]: the rate limit's policy core, free of any HTTP framework.

use std::sync::Arc;
use std::time::Duration;

use governor::clock::DefaultClock;
use http::request::Parts;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::{
    LimitKey, MemoryStore, RateDecision, RateQuota, RateScope, RateStore, DEFAULT_MAX_KEYS,
};
use crate::reject::Rejection;

/// Shortest interval [`RateLimiter::spawn_sweeper`] accepts; shorter ones are raised to it
/// (a sweep walks the whole table).
pub const MIN_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A scope (what is counted together) and a store (where the counts live).
///
/// The tower [`RateLimit`](super::RateLimit) service and the sidecar both call it:
/// [`key_for`](Self::key_for) on the request head, then [`check`](Self::check), then
/// [`RateDecision::into_result`].
#[derive(Debug)]
pub struct RateLimiter<St = MemoryStore> {
    scope: RateScope,
    store: St,
}

impl RateLimiter<MemoryStore> {
    /// An in-memory limiter keeping up to [`DEFAULT_MAX_KEYS`] buckets.
    pub fn new(scope: RateScope, quota: RateQuota) -> Self {
        let store = MemoryStore::bounded(quota, DEFAULT_MAX_KEYS, DefaultClock::default());
        Self::with_store(scope, store)
    }
}

impl<St: RateStore> RateLimiter<St> {
    /// A limiter over any store.
    pub fn with_store(scope: RateScope, store: St) -> Self {
        Self { scope, store }
    }

    /// What is counted together.
    pub fn scope(&self) -> &RateScope {
        &self.scope
    }

    /// Where the counts live.
    pub fn store(&self) -> &St {
        &self.store
    }

    /// The bucket `request` is counted against (see [`RateScope::key_for`]).
    pub fn key_for(&self, request: &Parts) -> Result<LimitKey, Rejection> {
        self.scope.key_for(request)
    }

    /// Counts one request against `key`.
    pub fn check(&self, key: &LimitKey) -> St::Future {
        self.store.check(key)
    }

    /// Decides on a request head in one go: `Ok` with the bucket's state, or the 429
    /// (or 500/503) rejection.
    pub async fn decide(&self, request: &Parts) -> Result<RateDecision, Rejection> {
        let key = self.key_for(request)?;
        self.check(&key).await?.into_result()
    }

    /// Sweeps the store every `every` (at least [`MIN_SWEEP_INTERVAL`]) on a tokio task,
    /// until the limiter is dropped or the handle aborted. Must be called inside a tokio
    /// runtime.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) -> JoinHandle<()> {
        let every = every.max(MIN_SWEEP_INTERVAL);
        let limiter = Arc::downgrade(self);
        let mut interval = tokio::time::interval_at(Instant::now() + every, every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::spawn(async move {
            loop {
                interval.tick().await;
                let Some(limiter) = limiter.upgrade() else {
                    break;
                };
                // A sweep of a large table takes a while: keep it off the async workers.
                let swept = tokio::task::spawn_blocking(move || limiter.store.sweep()).await;
                if swept.is_err() {
                    break;
                }
            }
        })
    }
}
