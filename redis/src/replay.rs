//! [`RedisReplayStore`]: delivery-id records in Redis, shared by every replica, so a
//! delivery accepted by one replica and replayed to another is refused.
//!
//! Two-phase like the in-memory store, so a crash between reserve and commit never turns
//! a provider's retry into a "duplicate":
//! - **reserve**: one script — if no live record, `SET key r:<token>:<lease_until> PX lease`;
//! - **commit**: `SET key a:<accepted_at>:<until> PX window` (even after the lease ran out:
//!   the app did accept the delivery);
//! - **release**: one script — `DEL` only if the record is still this token's reservation.
//!
//! Liveness compares the stored end with the caller's clock (as the trait says); the `PX`
//! expiry only reclaims memory. Each record's key is its own hash tag (Cluster-ready).
//!
//! With [`FailureMode::Closed`] (the default for the replay guard) a Redis that does not
//! answer is a store error: the guard answers 503 + `Retry-After`, so nothing is replayed
//! and nothing is lost. With [`FailureMode::Open`] the replica decides on its own
//! in-memory records meanwhile (counted as degraded).

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hookguard_layers::replay::{
    MemoryReplayStore, ReplayKey, ReplayStore, Reservation, ReservationToken, StoreError,
    StoreFuture,
};
use redis::Script;

use crate::connection::{FailureMode, Feature, Redis, RedisError};

/// KEYS[1] the record; ARGV: now, lease_until, token, ttl (ms).
/// Returns {0} reserved, {1} in flight, {2, accepted_at} accepted.
const RESERVE: &str = r#"
local now = tonumber(ARGV[1])
local record = redis.call('GET', KEYS[1])
if record then
  local kind, value, till = string.match(record, '^(%a):(%-?%d+):(%-?%d+)$')
  if kind and tonumber(till) > now then
    if kind == 'a' then return {2, tonumber(value)} end
    return {1, 0}
  end
end
redis.call('SET', KEYS[1], 'r:' .. ARGV[3] .. ':' .. ARGV[2], 'PX', ARGV[4])
return {0, 0}
"#;

/// KEYS[1] the record; ARGV[1] the token. Deletes only this token's reservation.
const RELEASE: &str = r#"
local record = redis.call('GET', KEYS[1])
if record and string.sub(record, 1, string.len(ARGV[1]) + 3) == 'r:' .. ARGV[1] .. ':' then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Tokens of reservations taken in the fallback store carry this bit; Redis's never do.
const FALLBACK_TOKEN: u64 = 1 << 63;

/// Replay records in Redis; see the module docs.
pub struct RedisReplayStore {
    redis: Redis,
    on_failure: FailureMode,
    fallback: MemoryReplayStore,
    reserve: Script,
    release: Script,
    tokens: RandomState,
    issued: AtomicU64,
}

impl std::fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("redis", &self.redis)
            .field("on_failure", &self.on_failure)
            .finish()
    }
}

impl RedisReplayStore {
    /// Records in `redis` under its prefix.
    pub fn new(redis: Redis, on_failure: FailureMode) -> Self {
        Self {
            redis,
            on_failure,
            fallback: MemoryReplayStore::default(),
            reserve: Script::new(RESERVE),
            release: Script::new(RELEASE),
            tokens: RandomState::new(),
            issued: AtomicU64::new(0),
        }
    }

    /// `{prefix replay:<route length>:<route>:<id>}`: the length keeps (`git`, `hub:x`)
    /// and (`github`, `x`)… apart; the braces make the record its own hash tag.
    fn redis_key(&self, key: &ReplayKey) -> String {
        format!(
            "{{{}replay:{}:{}:{}}}",
            self.redis.prefix(),
            key.route.len(),
            key.route,
            key.delivery_id
        )
    }

    /// A token no other reservation holds: random per process, counted within it.
    fn next_token(&self) -> u64 {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        self.tokens.hash_one(n) & !FALLBACK_TOKEN
    }

    fn store_error(e: &RedisError) -> StoreError {
        StoreError {
            store: "redis",
            problem: e.to_string(),
        }
    }
}

/// Milliseconds from `now` to `until` (Unix seconds), at least 1 (`PX` refuses 0).
fn ttl_ms(now: i64, until: i64) -> i64 {
    until.saturating_sub(now).max(0).saturating_mul(1000).max(1)
}

impl ReplayStore for RedisReplayStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn reserve<'a>(
        &'a self,
        key: &'a ReplayKey,
        now: i64,
        lease_until: i64,
    ) -> StoreFuture<'a, Reservation> {
        Box::pin(async move {
            let token = self.next_token();
            let redis_key = self.redis_key(key);
            let answer = self
                .redis
                .run(Feature::Replay, |mut c| async move {
                    self.reserve
                        .key(redis_key)
                        .arg(now)
                        .arg(lease_until)
                        .arg(token)
                        .arg(ttl_ms(now, lease_until))
                        .invoke_async::<Vec<i64>>(&mut c)
                        .await
                })
                .await;
            match answer {
                Ok(reply) => match reply.as_slice() {
                    [0, ..] => Ok(Reservation::Reserved(ReservationToken(token))),
                    [1, ..] => Ok(Reservation::InFlight),
                    [2, accepted_at, ..] => Ok(Reservation::Accepted {
                        accepted_at: *accepted_at,
                    }),
                    other => Err(StoreError {
                        store: "redis",
                        problem: format!("unexpected reserve reply {other:?}"),
                    }),
                },
                Err(e) if self.on_failure == FailureMode::Open => {
                    self.redis.record_degraded(Feature::Replay, &e);
                    Ok(match self.fallback.reserve(key, now, lease_until).await? {
                        Reservation::Reserved(t) => {
                            Reservation::Reserved(ReservationToken(t.0 | FALLBACK_TOKEN))
                        }
                        other => other,
                    })
                }
                Err(e) => Err(Self::store_error(&e)),
            }
        })
    }

    fn commit<'a>(
        &'a self,
        key: &'a ReplayKey,
        token: ReservationToken,
        now: i64,
        until: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if token.0 & FALLBACK_TOKEN != 0 {
                let local = ReservationToken(token.0 & !FALLBACK_TOKEN);
                self.fallback.commit(key, local, now, until).await?;
            }
            // Committed to Redis in every case when it answers: a delivery accepted while
            // Redis was down is still remembered by every replica once it is back.
            let redis_key = self.redis_key(key);
            let answer = self
                .redis
                .run(Feature::Replay, |mut c| async move {
                    redis::cmd("SET")
                        .arg(redis_key)
                        .arg(format!("a:{now}:{until}"))
                        .arg("PX")
                        .arg(ttl_ms(now, until))
                        .query_async::<()>(&mut c)
                        .await
                })
                .await;
            match answer {
                Ok(()) => Ok(()),
                Err(e) if self.on_failure == FailureMode::Open || token.0 & FALLBACK_TOKEN != 0 => {
                    self.redis.record_degraded(Feature::Replay, &e);
                    Ok(())
                }
                Err(e) => Err(Self::store_error(&e)),
            }
        })
    }

    fn release<'a>(&'a self, key: &'a ReplayKey, token: ReservationToken) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if token.0 & FALLBACK_TOKEN != 0 {
                let local = ReservationToken(token.0 & !FALLBACK_TOKEN);
                return self.fallback.release(key, local).await;
            }
            let redis_key = self.redis_key(key);
            self.redis
                .run(Feature::Replay, |mut c| async move {
                    self.release
                        .key(redis_key)
                        .arg(token.0)
                        .invoke_async::<i64>(&mut c)
                        .await
                })
                .await
                .map(drop)
                // A release that does not reach Redis leaves the reservation to its lease.
                .map_err(|e| Self::store_error(&e))
        })
    }
}

/// Shares one store between the routes' guards.
pub type SharedReplayStore = Arc<RedisReplayStore>;
