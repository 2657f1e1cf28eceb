//! [`RedisQueueStore`]: delivery's [`QueueStore`] in Redis, so a message accepted by one
//! replica and not yet delivered when that replica dies is delivered by another.
//!
//! # Why not Streams
//! The issue suggested Streams (consumer group, `XAUTOCLAIM`). The [`QueueStore`] contract
//! does not fit them: leases run on the caller's clock (`claim(now, lease)`), ordering
//! lanes hold back a key's later messages while an earlier one is pending, and operators
//! list, requeue and delete any message by id. A consumer group's pending list reclaims on
//! the server's idle time and knows no lanes, so the conformance suite's lease and lane
//! properties could not hold. The store keeps what a stream would give — one atomic
//! record per message, reclaim of expired leases, retries scheduled in a sorted set, dead
//! letters kept apart (`settled`) — in plain keys changed by one Lua script.
//!
//! # Layout
//! Every key sits under one hash tag, `{<prefix>queue}`, so the script's keys share a
//! Cluster slot (the queue then lives on one shard; rate and replay keys spread):
//! - `head` hash: id → the message without its payload (version byte + postcard), so a
//!   claim or a settlement rewrites ~100 bytes, not the request; `body` hash: id → payload;
//!   `ver` hash: id → a counter every change bumps (compare-and-set);
//! - `ids` sorted set (score 0, ids in lexical = time order): pages of `list`;
//! - per destination: `due:` (pending id → when due, ms: next attempt or lease end),
//!   `oldest:` (pending id → received at), `stats:` (counts per state and pending
//!   bytes), and per ordering key `lane:` (pending id → seq);
//! - `settled` (delivered and dead id → when settled: retention), `dests`, `seq`.
//!
//! # Invariants
//! - Every change of a message is one run of [`TRANSITION`]: it checks the version the
//!   caller read, then moves the message's entries from its old index to its new one
//!   atomically. Two replicas claiming the same message: one wins, the other skips it.
//! - A claim of a message with an ordering key checks, in the same script, that it heads
//!   its lane (no pending message of that key with a lower seq).
//! - The transitions themselves are delivery's `Message::{claim, apply, requeue}`, as in
//!   every backend, so they cannot diverge.
//!
//! # Durability
//! `enqueue` returns after Redis executed the write. With [`Durability::Fsync`] it then
//! asks `WAITAOF 1 0` (Redis 7.2+) so the 2xx follows the AOF fsync; an older server
//! answers that the command is unknown, and durability is then the server's
//! `appendfsync` setting (`always` for the guarantee; see the README on AOF).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use hookguard_delivery::message::{Message, MessageId, NewMessage, Settlement, State, Timestamp};
use hookguard_delivery::store::{
    Bounds, DestinationStats, Durability, ListQuery, QueueStore, StoreError,
};
use redis::Script;
use serde::{Deserialize, Serialize};

use crate::connection::{Feature, Redis, RedisError};

/// The head format's version byte.
const HEAD_V1: u8 = 1;
/// Compare-and-set retries of one settle / requeue / delete before giving up.
const CAS_ATTEMPTS: usize = 8;
/// Candidates read per round of a claim or a list.
const BATCH: usize = 128;

/// KEYS: head body ver ids settled dests stats due oldest lane
/// ARGV: 1 id, 2 expected version ('' = must not exist), 3 old state ('' = none),
///   4 new state ('' = delete), 5 head, 6 body ('' = keep), 7 size, 8 due (ms),
///   9 seq, 10 received_at, 11 updated_at, 12 destination, 13 lane used (0/1),
///   14 must head its lane (0/1), 15 max messages ('' = no check), 16 max bytes.
/// Returns 1 done, 0 version changed, -1 full (messages), -2 full (bytes), -3 lane blocked.
const TRANSITION: &str = r#"
local id = ARGV[1]
local current = redis.call('HGET', KEYS[3], id)
if ARGV[2] == '' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
local size = tonumber(ARGV[7])
local pending = {ready = true, scheduled = true, in_flight = true}
if ARGV[15] ~= '' then
  local s = redis.call('HMGET', KEYS[7], 'ready', 'scheduled', 'in_flight', 'bytes')
  local count = (tonumber(s[1]) or 0) + (tonumber(s[2]) or 0) + (tonumber(s[3]) or 0)
  if count >= tonumber(ARGV[15]) then return -1 end
  if (tonumber(s[4]) or 0) + size > tonumber(ARGV[16]) then return -2 end
end
if ARGV[14] == '1' then
  local head = redis.call('ZRANGE', KEYS[10], 0, 0)
  if head[1] ~= id then return -3 end
end
local old, new = ARGV[3], ARGV[4]
if old ~= '' then
  redis.call('HINCRBY', KEYS[7], old, -1)
  if pending[old] then
    redis.call('HINCRBY', KEYS[7], 'bytes', -size)
    redis.call('ZREM', KEYS[8], id)
    redis.call('ZREM', KEYS[9], id)
    if ARGV[13] == '1' then redis.call('ZREM', KEYS[10], id) end
  else
    redis.call('ZREM', KEYS[5], id)
  end
end
if new ~= '' then
  redis.call('HINCRBY', KEYS[7], new, 1)
  if pending[new] then
    redis.call('HINCRBY', KEYS[7], 'bytes', size)
    redis.call('ZADD', KEYS[8], ARGV[8], id)
    redis.call('ZADD', KEYS[9], ARGV[10], id)
    if ARGV[13] == '1' then redis.call('ZADD', KEYS[10], ARGV[9], id) end
  else
    redis.call('ZADD', KEYS[5], ARGV[11], id)
  end
  redis.call('HSET', KEYS[1], id, ARGV[5])
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[2], id, ARGV[6]) end
  redis.call('HINCRBY', KEYS[3], id, 1)
  redis.call('ZADD', KEYS[4], 0, id)
  redis.call('SADD', KEYS[6], ARGV[12])
else
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
end
local s = redis.call('HMGET', KEYS[7], 'ready', 'scheduled', 'in_flight', 'delivered', 'dead')
local total = 0
for _, n in ipairs(s) do total = total + (tonumber(n) or 0) end
if total == 0 then
  redis.call('DEL', KEYS[7])
  redis.call('SREM', KEYS[6], ARGV[12])
end
return 1
"#;

/// A message as its head record holds it (payload stored apart).
#[derive(Serialize, Deserialize)]
struct Head {
    payload_len: u64,
    message: Message,
}

fn encode_head(message: &Message) -> Vec<u8> {
    let mut head = Head {
        payload_len: message.size(),
        message: message.clone(),
    };
    head.message.payload = Bytes::new();
    let mut out = vec![HEAD_V1];
    // postcard into a Vec cannot fail for these types.
    out.extend(postcard::to_allocvec(&head).unwrap_or_default());
    out
}

fn decode_head(id: &str, bytes: &[u8]) -> Result<Head, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        id: id.to_owned(),
        detail,
    };
    match bytes.split_first() {
        Some((&HEAD_V1, rest)) => {
            postcard::from_bytes(rest).map_err(|e| corrupt(format!("head record: {e}")))
        }
        Some((v, _)) => Err(corrupt(format!("head record: unknown version byte {v}"))),
        None => Err(corrupt("head record: empty".into())),
    }
}

/// The stats field of a state.
fn field(state: State) -> &'static str {
    match state {
        State::Ready => "ready",
        State::Scheduled => "scheduled",
        State::InFlight => "in_flight",
        State::Delivered => "delivered",
        State::Dead => "dead",
    }
}

/// A message read with the version it had.
struct Versioned {
    message: Message,
    version: String,
}

/// One change for [`TRANSITION`].
struct Change<'a> {
    id: String,
    /// The message before (None: a new one) and its version.
    before: Option<&'a Versioned>,
    /// The message after (None: deleted).
    after: Option<&'a Message>,
    /// The payload to store (enqueue only).
    body: Option<&'a Bytes>,
    bounds: Option<Bounds>,
    must_head_lane: bool,
}

/// The delivery queue in Redis; see the module docs.
pub struct RedisQueueStore {
    redis: Redis,
    durability: Durability,
    /// `{prefix queue}:` — every key's start.
    base: String,
    transition: Script,
    /// Cleared when the server says it has no `WAITAOF` (before 7.2).
    waitaof: AtomicBool,
}

impl std::fmt::Debug for RedisQueueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueueStore")
            .field("redis", &self.redis)
            .field("durability", &self.durability)
            .finish()
    }
}

fn backend(e: RedisError) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl RedisQueueStore {
    /// The queue in `redis`, under its prefix.
    pub fn new(redis: Redis, durability: Durability) -> Self {
        let base = format!("{{{}queue}}:", redis.prefix());
        Self {
            redis,
            durability,
            base,
            transition: Script::new(TRANSITION),
            waitaof: AtomicBool::new(true),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.base)
    }

    fn dest_key(&self, kind: &str, destination: &str) -> String {
        format!("{}{kind}:{}:{destination}", self.base, destination.len())
    }

    fn lane_key(&self, destination: &str, ordering_key: Option<&str>) -> String {
        match ordering_key {
            Some(k) => format!("{}lane:{}:{destination}:{k}", self.base, destination.len()),
            None => self.key("lane:-"),
        }
    }

    /// Runs one change; the script's answer.
    async fn apply(&self, change: Change<'_>) -> Result<i64, StoreError> {
        let message = change
            .after
            .or(change.before.map(|b| &b.message))
            .ok_or_else(|| StoreError::Backend("a change without a message".into()))?;
        let destination = message.destination.clone();
        let keys = [
            self.key("head"),
            self.key("body"),
            self.key("ver"),
            self.key("ids"),
            self.key("settled"),
            self.key("dests"),
            self.dest_key("stats", &destination),
            self.dest_key("due", &destination),
            self.dest_key("oldest", &destination),
            self.lane_key(&destination, message.ordering_key.as_deref()),
        ];
        let size = change
            .before
            .map(|b| b.message.size())
            .or(change.body.map(|b| b.len() as u64))
            .unwrap_or(0);
        let mut invocation = self.transition.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        let after = change.after;
        invocation
            .arg(&change.id)
            .arg(change.before.map_or("", |b| b.version.as_str()))
            .arg(change.before.map_or("", |b| field(b.message.state)))
            .arg(after.map_or("", |m| field(m.state)))
            .arg(after.map(encode_head).unwrap_or_default())
            .arg(change.body.map(|b| b.to_vec()).unwrap_or_default())
            .arg(size)
            .arg(after.map_or(0, |m| m.next_attempt_at.0))
            .arg(message.seq)
            .arg(message.meta.received_at.0)
            .arg(after.map_or(0, |m| m.updated_at.0))
            .arg(&destination)
            .arg(u8::from(message.ordering_key.is_some()))
            .arg(u8::from(
                change.must_head_lane && message.ordering_key.is_some(),
            ))
            .arg(
                change
                    .bounds
                    .map(|b| b.max_messages.to_string())
                    .unwrap_or_default(),
            )
            .arg(
                change
                    .bounds
                    .map(|b| b.max_bytes.to_string())
                    .unwrap_or_default(),
            );
        self.redis
            .run(Feature::Queue, |mut c| async move {
                invocation.invoke_async::<i64>(&mut c).await
            })
            .await
            .map_err(backend)
    }

    /// Messages with their versions, in the order of `ids` (missing ones left out).
    async fn read(&self, ids: &[String], with_body: bool) -> Result<Vec<Versioned>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (head, body, ver) = (self.key("head"), self.key("body"), self.key("ver"));
        let ids_owned = ids.to_vec();
        type Rows = (
            Vec<Option<Vec<u8>>>,
            Vec<Option<Vec<u8>>>,
            Vec<Option<String>>,
        );
        let (heads, bodies, versions): Rows = self
            .redis
            .run(Feature::Queue, |mut c| async move {
                let mut pipe = redis::pipe();
                pipe.atomic();
                pipe.cmd("HMGET").arg(&head).arg(&ids_owned);
                if with_body {
                    pipe.cmd("HMGET").arg(&body).arg(&ids_owned);
                } else {
                    // Keeps the reply's shape: one entry per id.
                    pipe.cmd("HMGET").arg(&body).arg("-");
                }
                pipe.cmd("HMGET").arg(&ver).arg(&ids_owned);
                pipe.query_async(&mut c).await
            })
            .await
            .map_err(backend)?;
        let mut out = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let (Some(Some(head)), Some(Some(version))) = (heads.get(i), versions.get(i)) else {
                continue;
            };
            let mut stored = decode_head(id, head)?;
            if with_body {
                let payload = bodies.get(i).cloned().flatten().unwrap_or_default();
                if payload.len() as u64 != stored.payload_len {
                    return Err(StoreError::Corrupt {
                        id: id.clone(),
                        detail: format!(
                            "payload is {} bytes, its head says {}",
                            payload.len(),
                            stored.payload_len
                        ),
                    });
                }
                stored.message.payload = Bytes::from(payload);
            } else {
                // Sizes still count right (bounds, stats) without the bytes.
                stored.message.payload = Bytes::from(vec![0; stored.payload_len as usize]);
            }
            out.push(Versioned {
                message: stored.message,
                version: version.clone(),
            });
        }
        Ok(out)
    }

    async fn read_one(&self, id: &MessageId) -> Result<Option<Versioned>, StoreError> {
        Ok(self.read(&[id.to_string()], true).await?.pop())
    }

    /// Reads `id`, lets `change` decide the new message (None: leave it), and writes it
    /// with a compare-and-set, again on a concurrent change. `Ok(false)` when `change`
    /// declined or the message does not exist.
    async fn update(
        &self,
        id: &MessageId,
        change: impl Fn(&Message) -> Option<Option<Message>>,
    ) -> Result<bool, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(current) = self.read_one(id).await? else {
                return Ok(false);
            };
            let Some(after) = change(&current.message) else {
                return Ok(false);
            };
            let answer = self
                .apply(Change {
                    id: id.to_string(),
                    before: Some(&current),
                    after: after.as_ref(),
                    body: None,
                    bounds: None,
                    must_head_lane: false,
                })
                .await?;
            if answer == 1 {
                return Ok(true);
            }
        }
        Err(StoreError::Backend(format!(
            "message {id} kept changing under {CAS_ATTEMPTS} attempts to update it"
        )))
    }

    /// Whether `fsync` durability waits for `WAITAOF`: true until the server answers that
    /// it has no such command (Redis before 7.2, Valkey before 8), or has AOF off.
    pub fn waits_for_aof(&self) -> bool {
        self.durability == Durability::Fsync && self.waitaof.load(Ordering::Relaxed)
    }

    /// Without `WAITAOF`, the server's `appendfsync` is the guarantee: logged once, a
    /// warning unless it is `always` (`CONFIG GET` may be renamed away on a managed Redis:
    /// then it is said to be unknown).
    async fn report_appendfsync(&self) {
        let policy = self
            .redis
            .run(Feature::Queue, |mut c| async move {
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("appendfsync")
                    .query_async::<Vec<String>>(&mut c)
                    .await
            })
            .await
            .ok()
            .and_then(|reply| reply.get(1).cloned());
        match policy.as_deref() {
            Some("always") => tracing::info!(
                "redis has no WAITAOF (before 7.2): an enqueue is on disk when Redis answers (appendfsync always)"
            ),
            Some(other) => tracing::warn!(
                appendfsync = other,
                "redis has no WAITAOF (before 7.2) and appendfsync is not \"always\": a 2xx may precede the fsync, and a crash of Redis can lose the last second of messages"
            ),
            None => tracing::warn!(
                "redis has no WAITAOF (before 7.2) and its appendfsync is unknown: durability is whatever the server's AOF setting gives"
            ),
        }
    }

    async fn wait_for_aof(&self) -> Result<(), StoreError> {
        if self.durability != Durability::Fsync || !self.waitaof.load(Ordering::Relaxed) {
            return Ok(());
        }
        let answer = self
            .redis
            .run(Feature::Queue, |mut c| async move {
                // A Cluster client sends WAITAOF to every master and answers one reply
                // per node: the shape differs, only success matters.
                redis::cmd("WAITAOF")
                    .arg(1)
                    .arg(0)
                    .arg(0)
                    .query_async::<redis::Value>(&mut c)
                    .await
            })
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(RedisError::Command(text))
                if text.to_ascii_lowercase().contains("unknown command") =>
            {
                self.waitaof.store(false, Ordering::Relaxed);
                self.report_appendfsync().await;
                Ok(())
            }
            // AOF off: nothing to wait for; the server's persistence is what it is.
            Err(RedisError::Command(text)) if text.contains("appendonly") => {
                self.waitaof.store(false, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(backend(e)),
        }
    }
}

#[async_trait]
impl QueueStore for RedisQueueStore {
    async fn enqueue(&self, new: NewMessage, bounds: Bounds) -> Result<MessageId, StoreError> {
        let seq_key = self.key("seq");
        let seq: u64 = self
            .redis
            .run(Feature::Queue, |mut c| async move {
                redis::cmd("INCR").arg(seq_key).query_async(&mut c).await
            })
            .await
            .map_err(backend)?;
        let id = MessageId::generate();
        let message = Message::from_new(new, id.clone(), seq);
        let payload = message.payload.clone();
        let answer = self
            .apply(Change {
                id: id.to_string(),
                before: None,
                after: Some(&message),
                body: Some(&payload),
                bounds: Some(bounds),
                must_head_lane: false,
            })
            .await?;
        if answer < 0 {
            let what = if answer == -1 {
                format!("{} messages", bounds.max_messages)
            } else {
                format!("{} bytes", bounds.max_bytes)
            };
            return Err(StoreError::Full {
                destination: message.destination,
                what,
            });
        }
        if answer != 1 {
            return Err(StoreError::Backend(format!("id {id} already taken")));
        }
        self.wait_for_aof().await?;
        Ok(id)
    }

    async fn claim(
        &self,
        destination: &str,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Message>, StoreError> {
        let due_key = self.dest_key("due", destination);
        let mut claimed = Vec::new();
        let mut offset = 0;
        while claimed.len() < limit {
            let due_key = due_key.clone();
            let ids: Vec<String> = self
                .redis
                .run(Feature::Queue, |mut c| async move {
                    redis::cmd("ZRANGE")
                        .arg(due_key)
                        .arg("-inf")
                        .arg(now.0)
                        .arg("BYSCORE")
                        .arg("LIMIT")
                        .arg(offset)
                        .arg(BATCH)
                        .query_async(&mut c)
                        .await
                })
                .await
                .map_err(backend)?;
            if ids.is_empty() {
                break;
            }
            offset += ids.len();
            let mut candidates = self.read(&ids, true).await?;
            candidates.retain(|v| v.message.is_due(now));
            // A lane's later messages wait for its head: of each key, only the due message
            // with the lowest seq may be claimed this round (the script checks that it
            // heads the lane; an earlier one not due yet holds it back).
            let mut lane_heads: HashMap<&str, u64> = HashMap::new();
            for v in &candidates {
                if let Some(key) = &v.message.ordering_key {
                    let seq = lane_heads.entry(key.as_str()).or_insert(v.message.seq);
                    *seq = (*seq).min(v.message.seq);
                }
            }
            let lane_heads: HashMap<String, u64> = lane_heads
                .into_iter()
                .map(|(k, seq)| (k.to_owned(), seq))
                .collect();
            candidates.retain(|v| {
                v.message
                    .ordering_key
                    .as_ref()
                    .is_none_or(|k| lane_heads.get(k) == Some(&v.message.seq))
            });
            candidates.sort_by_key(|v| (v.message.next_attempt_at, v.message.seq));
            for candidate in &candidates {
                if claimed.len() >= limit {
                    break;
                }
                let mut after = candidate.message.clone();
                after.claim(now, lease);
                let answer = self
                    .apply(Change {
                        id: candidate.message.id.to_string(),
                        before: Some(candidate),
                        after: Some(&after),
                        body: None,
                        bounds: None,
                        must_head_lane: true,
                    })
                    .await?;
                // 0: another replica changed it first; -3: its lane is held by an earlier one.
                if answer == 1 {
                    claimed.push(after);
                    // Claimed ones leave the due range the next page starts from.
                    offset = offset.saturating_sub(1);
                }
            }
            if ids.len() < BATCH {
                break;
            }
        }
        Ok(claimed)
    }

    async fn settle(
        &self,
        id: &MessageId,
        settlement: Settlement,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.update(id, |m| {
            (m.state == State::InFlight).then(|| {
                let mut after = m.clone();
                after.apply(settlement.clone(), now);
                Some(after)
            })
        })
        .await
    }

    async fn get(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        Ok(self.read_one(id).await?.map(|v| v.message))
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Message>, StoreError> {
        let ids_key = self.key("ids");
        let mut from = match &query.after {
            Some(after) => format!("({after}"),
            None => "-".to_owned(),
        };
        let page = query.page();
        let mut out = Vec::new();
        loop {
            let (key, start) = (ids_key.clone(), from.clone());
            let ids: Vec<String> = self
                .redis
                .run(Feature::Queue, |mut c| async move {
                    redis::cmd("ZRANGE")
                        .arg(key)
                        .arg(start)
                        .arg("+")
                        .arg("BYLEX")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(BATCH)
                        .query_async(&mut c)
                        .await
                })
                .await
                .map_err(backend)?;
            let Some(last) = ids.last() else { break };
            from = format!("({last}");
            for v in self.read(&ids, true).await? {
                if query.matches(&v.message) {
                    out.push(v.message);
                    if out.len() >= page {
                        return Ok(out);
                    }
                }
            }
            if ids.len() < BATCH {
                break;
            }
        }
        Ok(out)
    }

    async fn requeue(&self, id: &MessageId, now: Timestamp) -> Result<bool, StoreError> {
        self.update(id, |m| {
            (m.state == State::Dead).then(|| {
                let mut after = m.clone();
                after.requeue(now);
                Some(after)
            })
        })
        .await
    }

    async fn delete(&self, id: &MessageId) -> Result<bool, StoreError> {
        self.update(id, |_| Some(None)).await
    }

    async fn stats(&self) -> Result<Vec<DestinationStats>, StoreError> {
        let dests_key = self.key("dests");
        let mut destinations: Vec<String> = self
            .redis
            .run(Feature::Queue, |mut c| async move {
                redis::cmd("SMEMBERS")
                    .arg(dests_key)
                    .query_async(&mut c)
                    .await
            })
            .await
            .map_err(backend)?;
        destinations.sort();
        let mut out = Vec::with_capacity(destinations.len());
        for destination in destinations {
            let (stats_key, oldest_key) = (
                self.dest_key("stats", &destination),
                self.dest_key("oldest", &destination),
            );
            type Row = (HashMap<String, i64>, Vec<(String, f64)>);
            let (counts, oldest): Row = self
                .redis
                .run(Feature::Queue, |mut c| async move {
                    redis::pipe()
                        .atomic()
                        .cmd("HGETALL")
                        .arg(stats_key)
                        .cmd("ZRANGE")
                        .arg(oldest_key)
                        .arg(0)
                        .arg(0)
                        .arg("WITHSCORES")
                        .query_async(&mut c)
                        .await
                })
                .await
                .map_err(backend)?;
            let count = |name: &str| counts.get(name).copied().unwrap_or(0).max(0) as u64;
            let stats = DestinationStats {
                ready: count("ready"),
                scheduled: count("scheduled"),
                in_flight: count("in_flight"),
                delivered: count("delivered"),
                dead: count("dead"),
                pending_bytes: count("bytes"),
                oldest_pending: oldest.first().map(|(_, at)| Timestamp(*at as u64)),
                destination,
            };
            out.push(stats);
        }
        Ok(out)
    }

    async fn expire(
        &self,
        now: Timestamp,
        delivered_for: Duration,
        dead_for: Duration,
    ) -> Result<u64, StoreError> {
        let horizon = now
            .0
            .saturating_sub(delivered_for.min(dead_for).as_millis() as u64);
        let settled_key = self.key("settled");
        let mut removed = 0;
        let mut offset = 0;
        loop {
            let key = settled_key.clone();
            let ids: Vec<String> = self
                .redis
                .run(Feature::Queue, |mut c| async move {
                    redis::cmd("ZRANGE")
                        .arg(key)
                        .arg("-inf")
                        .arg(horizon)
                        .arg("BYSCORE")
                        .arg("LIMIT")
                        .arg(offset)
                        .arg(BATCH)
                        .query_async(&mut c)
                        .await
                })
                .await
                .map_err(backend)?;
            if ids.is_empty() {
                break;
            }
            let mut kept = 0;
            for v in self.read(&ids, false).await? {
                if !v.message.expired(now, delivered_for, dead_for) {
                    kept += 1;
                    continue;
                }
                let answer = self
                    .apply(Change {
                        id: v.message.id.to_string(),
                        before: Some(&v),
                        after: None,
                        body: None,
                        bounds: None,
                        must_head_lane: false,
                    })
                    .await?;
                if answer == 1 {
                    removed += 1;
                } else {
                    kept += 1;
                }
            }
            if ids.len() < BATCH {
                break;
            }
            offset += kept;
        }
        Ok(removed)
    }

    async fn healthy(&self) -> Result<(), StoreError> {
        self.redis.ping().await.map(drop).map_err(backend)
    }
}
