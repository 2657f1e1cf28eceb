//! Redis backends for hookguard's shared state, so that several replicas of one app share
//! rate-limit buckets, replay records and the delivery queue.
//!
//! - [`Redis`] ([`connection`]): one multiplexed connection (redis-rs's connection
//!   manager: reconnects with backoff) built from [`RedisSettings`] — `redis://` or
//!   `rediss://`, a key prefix, timeouts — plus health: whether Redis answers, commands'
//!   latency, and decisions taken without it ("degraded"), logged at most once a minute.
//!   [`Topology`]: one server, a master found through Sentinel (followed across a
//!   failover), or a Cluster; [`probe_topology`] says which nodes answer.
//! - [`RedisRateStore`] ([`rate`]): layers' `RateStore`, GCRA in one Lua script per decision.
//! - [`RedisReplayStore`] ([`replay`]): layers' `ReplayStore`, two-phase reserve / commit /
//!   release.
//! - [`RedisQueueStore`] ([`queue`]): delivery's `QueueStore`.
//! - [`RedisRecords`] ([`records`]): a small set of records every replica shares (the
//!   admin API's keys and audit log, API-made subscriptions), with a signal when another
//!   replica changed it (pub/sub, and a periodic version check as a safety net).
//!
//! Each store takes a [`FailureMode`]: `Closed` answers an error when Redis does not (the
//! layers turn it into 503 + `Retry-After`), `Open` decides on local in-memory state
//! instead, counted as degraded.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hookguard_redis::RedisError> {
//! use hookguard_layers::rate::{LimitKey, RateQuota, RateStore};
//! use hookguard_redis::{FailureMode, Redis, RedisRateStore, RedisSettings};
//!
//! let redis = Redis::connect(RedisSettings::new("redis://127.0.0.1:6379/")).await?;
//! let quota = RateQuota::per_minute(100).unwrap();
//! let store = RedisRateStore::new(redis, "github", quota, FailureMode::Open);
//! let decision = store.check(&LimitKey::Global).await.unwrap();
//! assert!(decision.allowed);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

pub mod connection;
pub mod queue;
pub mod rate;
pub mod records;
pub mod replay;

pub use connection::{
    probe_topology, CommandObserver, Connection, FailureMode, Feature, NodeReport, Redis,
    RedisError, RedisHealth, RedisSettings, Topology, TopologyReport,
};
pub use queue::RedisQueueStore;
pub use rate::RedisRateStore;
pub use records::RedisRecords;
pub use replay::RedisReplayStore;
