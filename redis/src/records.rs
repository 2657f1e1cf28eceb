//! [`RedisRecords`]: a small named set of records (id → bytes) that every replica shares,
//! with a capped log beside it, and a signal when another replica changed the set — what
//! the admin API's keys and the outbound side's API-made subscriptions are kept in.
//!
//! The records are opaque bytes here: the sidecar serialises (and seals) them, as it does
//! for its embedded store. Redis holds, under one hash tag (one Cluster slot, so the
//! script below touches keys of one slot only):
//!
//! - `{<prefix>records:<name>}` — a hash, id → record;
//! - `{<prefix>records:<name>}:version` — a counter, incremented by every change in the
//!   same script as the change, so a reader that loaded version `v` has exactly what `v`
//!   says;
//! - `{<prefix>records:<name>}:log` — a list, newest first, trimmed to what is kept.
//!
//! **Propagation.** Every change is published on `<prefix>records:<name>:changed` (payload:
//! the new version). [`RedisRecords::watch`] subscribes to that channel (its own
//! connection) and, as a safety net for a lost message or a reconnection, reads the
//! version every `every`; either wakes [`RedisRecords::changed`] when the version differs
//! from the one last loaded by [`RedisRecords::all`]. A Redis that comes back (restarted,
//! perhaps empty) wakes it too. So with `every` = 500 ms a change reaches every replica
//! within about half a second even when its message is lost, and within milliseconds
//! otherwise.
//!
//! Reads never block on a Redis that is down beyond the command timeout: the caller keeps
//! what it loaded last (the sidecar's key table keeps serving) and loads again when woken.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hookguard_redis::RedisError> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use hookguard_redis::{Redis, RedisRecords, RedisSettings};
//!
//! let settings = RedisSettings::new("redis://127.0.0.1:6379/");
//! let redis = Redis::connect(settings.clone()).await?;
//! let keys = Arc::new(RedisRecords::new(redis, "keys"));
//! keys.watch(settings, Duration::from_millis(500));
//! keys.put("k_1", b"{\"enabled\":true}").await?;
//! keys.changed().await; // another replica wakes here, then calls `all()`
//! let all = keys.all().await?;
//! assert_eq!(all.len(), 1);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::Script;
use secrecy::ExposeSecret as _;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::connection::{Feature, Redis, RedisError, RedisSettings};

/// KEYS[1] the hash, KEYS[2] the version; ARGV: channel, `put`|`del`, id, value.
/// Changes one record, increments the version and publishes it; returns 1 when a record
/// was written or removed, 0 when a delete found none.
const CHANGE: &str = r#"
local n
if ARGV[2] == 'put' then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
  n = 1
else
  n = redis.call('HDEL', KEYS[1], ARGV[3])
end
local version = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], version)
return n
"#;

/// Longest pause between attempts to subscribe again.
const MAX_RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// A named set of records shared by every replica; see the module docs.
pub struct RedisRecords {
    redis: Redis,
    name: String,
    hash: String,
    version: String,
    log: String,
    channel: String,
    change: Script,
    /// The version the last successful [`RedisRecords::all`] returned.
    loaded: Mutex<Option<u64>>,
    changed: Notify,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRecords")
            .field("redis", &self.redis)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisRecords {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RedisRecords {
    /// The set `name` (e.g. `keys`) under `redis`'s prefix.
    pub fn new(redis: Redis, name: &str) -> Self {
        let base = format!("{{{}records:{name}}}", redis.prefix());
        Self {
            hash: base.clone(),
            version: format!("{base}:version"),
            log: format!("{base}:log"),
            channel: format!("{}records:{name}:changed", redis.prefix()),
            name: name.to_owned(),
            redis,
            change: Script::new(CHANGE),
            loaded: Mutex::new(None),
            changed: Notify::new(),
            tasks: Mutex::default(),
        }
    }

    /// Where Redis is (credentials removed), for messages.
    pub fn url(&self) -> &str {
        self.redis.url()
    }

    /// Every record by id, read in one transaction with the version it belongs to (which
    /// [`RedisRecords::watch`] then compares against).
    pub async fn all(&self) -> Result<BTreeMap<String, Vec<u8>>, RedisError> {
        let (hash, version) = (self.hash.clone(), self.version.clone());
        let (loaded, records): (Option<u64>, BTreeMap<String, Vec<u8>>) = self
            .redis
            .run(Feature::Health, |mut c| async move {
                redis::pipe()
                    .atomic()
                    .get(version)
                    .hgetall(hash)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        *lock(&self.loaded) = Some(loaded.unwrap_or(0));
        Ok(records)
    }

    /// Creates or replaces the record `id`, and tells every replica.
    pub async fn put(&self, id: &str, value: &[u8]) -> Result<(), RedisError> {
        self.change("put", id, value).await.map(drop)
    }

    /// Removes the record `id` (and tells every replica); whether there was one.
    pub async fn delete(&self, id: &str) -> Result<bool, RedisError> {
        self.change("del", id, b"").await.map(|n| n > 0)
    }

    async fn change(&self, op: &str, id: &str, value: &[u8]) -> Result<i64, RedisError> {
        self.redis
            .run(Feature::Health, |mut c| async move {
                self.change
                    .key(&self.hash)
                    .key(&self.version)
                    .arg(&self.channel)
                    .arg(op)
                    .arg(id)
                    .arg(value)
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await
    }

    /// The version now in Redis (0 before the first change, or after an empty restart).
    pub async fn version(&self) -> Result<u64, RedisError> {
        let version = self.version.clone();
        let current: Option<u64> = self
            .redis
            .run(Feature::Health, |mut c| async move {
                redis::cmd("GET").arg(version).query_async(&mut c).await
            })
            .await?;
        Ok(current.unwrap_or(0))
    }

    /// Adds `entry` to the log, keeping the newest `keep` entries.
    pub async fn push_log(&self, entry: &[u8], keep: usize) -> Result<(), RedisError> {
        let last = isize::try_from(keep)
            .unwrap_or(isize::MAX)
            .saturating_sub(1);
        let log = self.log.clone();
        self.redis
            .run(Feature::Health, |mut c| async move {
                redis::pipe()
                    .atomic()
                    .lpush(&log, entry)
                    .ignore()
                    .ltrim(&log, 0, last)
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
    }

    /// The newest `limit` log entries, newest first.
    pub async fn log(&self, limit: usize) -> Result<Vec<Vec<u8>>, RedisError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let last = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let log = self.log.clone();
        self.redis
            .run(Feature::Health, |mut c| async move {
                redis::cmd("LRANGE")
                    .arg(log)
                    .arg(0)
                    .arg(last)
                    .query_async(&mut c)
                    .await
            })
            .await
    }

    /// Resolves when the set may have changed since the last [`RedisRecords::all`] (a
    /// wake-up that came while nobody waited is kept for the next call).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Whether `version` is the one loaded last.
    fn is_loaded(&self, version: u64) -> bool {
        *lock(&self.loaded) == Some(version)
    }

    /// Starts watching for changes made by other replicas: a subscription to the change
    /// channel on a connection of its own (made from `settings`), and a version check
    /// every `every`. Both end when the records are dropped.
    pub fn watch(self: &Arc<Self>, settings: RedisSettings, every: Duration) {
        let poll = tokio::spawn(poll(Arc::downgrade(self), every));
        let subscribe = tokio::spawn(subscribe(Arc::downgrade(self), settings));
        lock(&self.tasks).extend([poll, subscribe]);
    }
}

/// The safety net: compares the version with the one loaded every `every`, and wakes the
/// reader when Redis answers again after it did not.
async fn poll(records: Weak<RedisRecords>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut answered = true;
    loop {
        interval.tick().await;
        let Some(records) = records.upgrade() else {
            return;
        };
        match records.version().await {
            Ok(version) => {
                if !answered || !records.is_loaded(version) {
                    records.changed.notify_one();
                }
                answered = true;
            }
            Err(_) => answered = false,
        }
    }
}

/// Listens on the change channel; subscribes again (and wakes the reader, in case it
/// missed a change meanwhile) after the connection is lost.
async fn subscribe(records: Weak<RedisRecords>, settings: RedisSettings) {
    let (channel, name) = match records.upgrade() {
        Some(r) => (r.channel.clone(), r.name.clone()),
        None => return,
    };
    let client = match redis::Client::open(settings.url.expose_secret()) {
        Ok(client) => client,
        Err(_) => {
            // `Redis::connect` already refused such a URL; the version check still works.
            tracing::warn!(records = %name, "redis: cannot subscribe to changes; relying on the periodic version check");
            return;
        }
    };
    let mut delay = Duration::from_millis(50);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        if let Ok(Ok(pubsub)) = tokio::time::timeout(settings.connect_timeout, subscribed).await {
            delay = Duration::from_millis(50);
            match records.upgrade() {
                Some(r) => r.changed.notify_one(),
                None => return,
            }
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Some(records) = records.upgrade() else {
                    return;
                };
                let version: Option<u64> = message.get_payload().ok();
                if version.is_none_or(|v| !records.is_loaded(v)) {
                    records.changed.notify_one();
                }
            }
        }
        if records.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RESUBSCRIBE_DELAY);
    }
}
