//! [`RedisRateStore`]: rate-limit buckets in Redis, shared by every replica.
//!
//! One decision is one round trip: a Lua script runs GCRA (the algorithm governor runs
//! in memory, with the same `remaining`, `reset` and `retry_after`) on the bucket's
//! theoretical arrival time, read from and written to one key that expires when the
//! bucket would be full again. Time is Redis's own (`TIME`), so replicas with skewed
//! clocks still agree. Each bucket's key carries its own hash tag, so buckets spread over
//! a Cluster's slots.
//!
//! When Redis does not answer in time, [`FailureMode::Open`] (the default for rate limits)
//! decides on a local [`MemoryStore`] with the same quota: each replica then limits alone,
//! and the decision is counted as degraded.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hookguard_layers::rate::{
    LimitKey, MemoryStore, RateDecision, RateQuota, RateStore, RateStoreError, DEFAULT_MAX_KEYS,
};
use redis::Script;

use crate::connection::{FailureMode, Feature, Redis};

/// GCRA on microseconds (exact in a double up to 2^53 µs, i.e. for the next 250 years).
/// KEYS[1] the bucket; ARGV[1] the interval (µs, may be fractional), ARGV[2] the burst.
/// Returns {allowed (0/1), remaining, reset (µs), retry_after (µs)} as integers.
const GCRA: &str = r#"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tolerance = interval * (burst - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - tolerance > now then
  local wait = tat - tolerance - now
  return {0, 0, math.ceil(wait + interval * (burst - 1)), math.ceil(wait)}
end
local new_tat = tat + interval
local remaining = math.floor((tolerance + interval - (new_tat - now)) / interval)
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, remaining, math.ceil(interval * (burst - remaining)), 0}
"#;

/// Buckets of one limiter (a route, or the global limit) in Redis.
#[derive(Clone)]
pub struct RedisRateStore {
    redis: Redis,
    /// `prefix` `rate:` namespace `:` — the key's start, before the bucket's own part.
    key_start: Arc<str>,
    quota: RateQuota,
    on_failure: FailureMode,
    fallback: Arc<MemoryStore>,
    script: Arc<Script>,
}

impl std::fmt::Debug for RedisRateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateStore")
            .field("key_start", &self.key_start)
            .field("quota", &self.quota)
            .field("on_failure", &self.on_failure)
            .finish()
    }
}

impl RedisRateStore {
    /// Buckets under `quota`, in namespace `namespace` (the route id, or `global`): two
    /// limiters with different namespaces never share a bucket.
    pub fn new(redis: Redis, namespace: &str, quota: RateQuota, on_failure: FailureMode) -> Self {
        let key_start = format!("{}rate:{}:", redis.prefix(), namespace).into();
        let fallback =
            MemoryStore::new(quota, DEFAULT_MAX_KEYS.get()).expect("DEFAULT_MAX_KEYS is not zero");
        Self {
            redis,
            key_start,
            quota,
            on_failure,
            fallback: Arc::new(fallback),
            script: Arc::new(Script::new(GCRA)),
        }
    }

    /// The Redis key of `key`'s bucket: `{prefix rate:namespace:kind:value}`, all of it
    /// one hash tag (a bucket lives on one Cluster slot, buckets spread over all).
    fn redis_key(&self, key: &LimitKey) -> String {
        let bucket = match key {
            LimitKey::Global => "g".to_owned(),
            LimitKey::Route(route) => format!("r:{route}"),
            LimitKey::Client(ip) => format!("c:{ip}"),
            LimitKey::Custom(custom) => format!("k:{custom}"),
            LimitKey::Unidentified => "u".to_owned(),
            // LimitKey may grow: a new kind still gets a bucket of its own.
            #[allow(unreachable_patterns)]
            other => format!("o:{other:?}"),
        };
        // A `}` inside a custom key ends the hash tag early: the key is still the same for
        // the same bucket (and unique), only that bucket's slot is picked from less of it.
        format!("{{{}{}}}", self.key_start, bucket)
    }
}

impl RateStore for RedisRateStore {
    type Future = Pin<Box<dyn Future<Output = Result<RateDecision, RateStoreError>> + Send>>;

    fn check(&self, key: &LimitKey) -> Self::Future {
        let store = self.clone();
        let key = key.clone();
        Box::pin(async move {
            let interval_us = store.quota.replenish_interval().as_nanos() as f64 / 1000.0;
            let burst = store.quota.limit();
            let redis_key = store.redis_key(&key);
            let script = Arc::clone(&store.script);
            let answer = store
                .redis
                .run(Feature::Rate, |mut c| async move {
                    script
                        .key(redis_key)
                        .arg(format!("{interval_us:.3}"))
                        .arg(burst)
                        .invoke_async::<(i64, i64, i64, i64)>(&mut c)
                        .await
                })
                .await;
            match answer {
                Ok((allowed, remaining, reset_us, retry_us)) => Ok(RateDecision {
                    allowed: allowed == 1,
                    limit: burst,
                    remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                    reset: micros(reset_us),
                    retry_after: micros(retry_us),
                }),
                Err(e) => match store.on_failure {
                    FailureMode::Open => {
                        store.redis.record_degraded(Feature::Rate, &e);
                        Ok(store.fallback.decide(&key))
                    }
                    FailureMode::Closed => Err(RateStoreError(e.to_string())),
                },
            }
        })
    }

    fn quota(&self) -> RateQuota {
        self.quota
    }

    /// Redis expires idle buckets itself; only the fallback needs sweeping.
    fn sweep(&self) {
        self.fallback.sweep();
    }
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}
