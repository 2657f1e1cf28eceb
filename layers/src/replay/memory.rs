//! [`MemoryReplayStore`]: the in-process replay store — bounded, O(1) per operation.
//!
//! Written here rather than on moka (which the first version used): moka's per-entry
//! expiry and compute-in-place cost about 2.5 µs per write on this machine, and every new
//! delivery needs two writes (reserve, commit), ~12 µs with eviction at capacity — more
//! than the whole rest of the stack. What this store needs is small: a map with a size
//! bound that evicts the oldest records first. Liveness never depends on eviction: each
//! record carries its end (Unix seconds) and is compared with the caller's clock.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::store::{ReplayKey, ReplayStore, Reservation, ReservationToken, StoreFuture};

/// Default number of delivery records kept: about 20 MB of memory.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// Records per shard below which the store is not split (small stores stay exact).
const MIN_SHARD_CAPACITY: u64 = 1024;
/// Most shards: enough to keep lock contention negligible on the sidecar's few cores.
const MAX_SHARDS: u64 = 16;

#[derive(Debug, Clone, Copy)]
enum State {
    Reserved(ReservationToken),
    Accepted { at: i64 },
}

#[derive(Debug, Clone, Copy)]
struct Record {
    state: State,
    /// Live while the caller's `now` is before this (Unix seconds).
    until: i64,
    /// Which insertion of the key this is (the eviction queue may hold older ones).
    generation: u64,
}

/// What a record means at `now`, if it is still live.
fn live(record: &Record, now: i64) -> Option<Reservation> {
    (now < record.until).then_some(match record.state {
        State::Reserved(_) => Reservation::InFlight,
        State::Accepted { at } => Reservation::Accepted { accepted_at: at },
    })
}

/// Expired records dropped per insertion at most: enough to outpace any arrival rate,
/// small enough that no one request pays for a whole backlog.
const EXPIRED_PER_INSERT: usize = 8;

/// Stale queue entries tolerated beyond twice the records held before a full compaction.
const COMPACT_SLACK: usize = 64;

/// A shard's bounds.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    records: usize,
    per_route: usize,
}

#[derive(Default)]
struct Shard {
    records: HashMap<ReplayKey, Record>,
    /// Keys in insertion order, oldest first, with the generation inserted. Entries whose
    /// record was removed or replaced since are skipped when they reach the front.
    order: VecDeque<(ReplayKey, u64)>,
    /// The same, per route, with the route's record count: a flood of fresh ids on one
    /// route evicts that route's records, never another's.
    routes: HashMap<Arc<str>, RouteRecords>,
}

#[derive(Default)]
struct RouteRecords {
    order: VecDeque<(ReplayKey, u64)>,
    live: usize,
}

impl Shard {
    fn insert(
        &mut self,
        key: &ReplayKey,
        state: State,
        until: i64,
        generation: u64,
        now: i64,
        bounds: Bounds,
    ) {
        self.expire(now);
        let record = Record {
            state,
            until,
            generation,
        };
        if self.records.insert(key.clone(), record).is_none() {
            self.routes.entry(Arc::clone(&key.route)).or_default().live += 1;
        }
        self.order.push_back((key.clone(), generation));
        let route = self.routes.entry(Arc::clone(&key.route)).or_default();
        route.order.push_back((key.clone(), generation));
        // The route's bound first, then the whole shard's; both bound their queues too
        // (releases leave stale queue entries).
        while route.live > bounds.per_route || route.order.len() > 2 * bounds.per_route {
            let Some((oldest, generation)) = route.order.pop_front() else {
                break;
            };
            if self
                .records
                .get(&oldest)
                .is_some_and(|r| r.generation == generation)
            {
                self.records.remove(&oldest);
                route.live -= 1;
            }
        }
        // The route's evictions leave stale entries in the shard's queue: drop them, so
        // the queue follows the records actually held rather than the whole capacity (a
        // flood on one route grew it to twice the capacity: ~90 B per request until then).
        self.compact();
        while self.records.len() > bounds.records || self.order.len() > 2 * bounds.records {
            let Some((oldest, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .records
                .get(&oldest)
                .is_some_and(|r| r.generation == generation)
            {
                self.remove(&oldest);
            }
        }
    }

    /// Drops the oldest records while they are expired (or already gone), a few per call:
    /// records leave once their window is over, not only when the store is full.
    fn expire(&mut self, now: i64) {
        let mut expired = 0;
        while expired < EXPIRED_PER_INSERT {
            let Some((oldest, generation)) = self.order.front() else {
                break;
            };
            let current = self
                .records
                .get(oldest)
                .filter(|r| r.generation == *generation);
            if current.is_some_and(|r| now < r.until) {
                break;
            }
            let (oldest, _) = self.order.pop_front().expect("the front exists");
            // Otherwise removed or replaced since: a stale entry, dropped for free.
            if current.is_some() {
                self.remove(&oldest);
                expired += 1;
            }
        }
    }

    /// Whether a queue entry still names the record held for its key.
    fn is_current(&self, (key, generation): &(ReplayKey, u64)) -> bool {
        self.records
            .get(key)
            .is_some_and(|r| r.generation == *generation)
    }

    /// Drops stale entries from the shard's queue: those at the front at once, the rest
    /// in one pass when they outnumber the records held (amortised O(1) per insertion).
    fn compact(&mut self) {
        while self.order.front().is_some_and(|e| !self.is_current(e)) {
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.records.len() + COMPACT_SLACK {
            let records = &self.records;
            self.order.retain(|(key, generation)| {
                records
                    .get(key)
                    .is_some_and(|r| r.generation == *generation)
            });
        }
    }

    /// Removes `key`'s record, keeping its route's count.
    fn remove(&mut self, key: &ReplayKey) {
        if self.records.remove(key).is_none() {
            return;
        }
        if let Some(route) = self.routes.get_mut(&key.route) {
            route.live -= 1;
            if route.live == 0 {
                self.routes.remove(&key.route);
            }
        }
    }
}

/// Delivery records in this process: bounded, oldest evicted first.
///
/// Liveness is decided by comparing each record's end with the caller's clock, so a fake
/// clock moves records past their window without waiting. Expired records are dropped a
/// few at a time as new ones arrive, not only when the store is full. When more distinct
/// deliveries arrive within a window than the capacity holds, the oldest records go first
/// and a replay of one of them is no longer detected — size the capacity to the
/// deliveries a window sees. [`with_route_capacity`](Self::with_route_capacity) bounds each
/// route too, so that a flood on one route evicts only its own records. Every new
/// delivery is admitted.
#[derive(Clone)]
pub struct MemoryReplayStore {
    shards: Arc<[Mutex<Shard>]>,
    bounds: Bounds,
    hasher: RandomState,
    counter: Arc<AtomicU64>,
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("entries", &self.len())
            .finish()
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl MemoryReplayStore {
    /// A store keeping at most `capacity` delivery records.
    pub fn new(capacity: u64) -> Self {
        let capacity = capacity.max(1);
        let shards = (capacity / MIN_SHARD_CAPACITY).clamp(1, MAX_SHARDS);
        Self {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            bounds: {
                let records = usize::try_from(capacity / shards)
                    .unwrap_or(usize::MAX)
                    .max(1);
                Bounds {
                    records,
                    per_route: records,
                }
            },
            hasher: RandomState::new(),
            counter: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Keeps at most about `capacity` records of any one route (default: the whole
    /// capacity), so that fresh ids on one route — which a scheme with unsigned ids lets
    /// anyone mint — evict that route's records, never another's.
    pub fn with_route_capacity(mut self, capacity: u64) -> Self {
        let shards = self.shards.len() as u64;
        let per_shard = usize::try_from(capacity.max(1).div_ceil(shards))
            .unwrap_or(usize::MAX)
            .max(1);
        self.bounds.per_route = per_shard.min(self.bounds.records);
        self
    }

    /// Records currently held.
    pub fn len(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .records
                    .len() as u64
            })
            .sum()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &ReplayKey) -> std::sync::MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        // A panic while holding the lock leaves consistent data: every update is one step.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn reserve_now(&self, key: &ReplayKey, now: i64, lease_until: i64) -> Reservation {
        let mut shard = self.shard(key);
        if let Some(found) = shard.records.get(key).and_then(|r| live(r, now)) {
            return found;
        }
        let token = ReservationToken(self.next());
        shard.insert(
            key,
            State::Reserved(token),
            lease_until,
            self.next(),
            now,
            self.bounds,
        );
        Reservation::Reserved(token)
    }

    fn commit_now(&self, key: &ReplayKey, now: i64, until: i64) {
        let mut shard = self.shard(key);
        match shard.records.get_mut(key) {
            Some(record) if matches!(record.state, State::Accepted { .. }) => {}
            Some(record) => {
                record.state = State::Accepted { at: now };
                record.until = until;
            }
            None => {
                let generation = self.next();
                shard.insert(
                    key,
                    State::Accepted { at: now },
                    until,
                    generation,
                    now,
                    self.bounds,
                );
            }
        }
    }

    fn release_now(&self, key: &ReplayKey, token: ReservationToken) {
        let mut shard = self.shard(key);
        if shard
            .records
            .get(key)
            .is_some_and(|r| matches!(r.state, State::Reserved(t) if t == token))
        {
            shard.remove(key);
        }
    }
}

impl ReplayStore for MemoryReplayStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn reserve<'a>(
        &'a self,
        key: &'a ReplayKey,
        now: i64,
        lease_until: i64,
    ) -> StoreFuture<'a, Reservation> {
        Box::pin(std::future::ready(Ok(self.reserve_now(
            key,
            now,
            lease_until,
        ))))
    }

    fn commit<'a>(
        &'a self,
        key: &'a ReplayKey,
        _token: ReservationToken,
        now: i64,
        until: i64,
    ) -> StoreFuture<'a, ()> {
        self.commit_now(key, now, until);
        Box::pin(std::future::ready(Ok(())))
    }

    fn release<'a>(&'a self, key: &'a ReplayKey, token: ReservationToken) -> StoreFuture<'a, ()> {
        self.release_now(key, token);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key(id: &str) -> ReplayKey {
        ReplayKey::new(Arc::from("github"), id)
    }

    async fn reserve(store: &MemoryReplayStore, id: &str, now: i64) -> Reservation {
        store.reserve(&key(id), now, now + 60).await.unwrap()
    }

    #[tokio::test]
    async fn second_reservation_of_a_live_id_is_in_flight() {
        let store = MemoryReplayStore::default();
        assert!(matches!(
            reserve(&store, "a", 0).await,
            Reservation::Reserved(_)
        ));
        assert_eq!(reserve(&store, "a", 1).await, Reservation::InFlight);
        assert!(matches!(
            reserve(&store, "b", 1).await,
            Reservation::Reserved(_)
        ));
    }

    #[tokio::test]
    async fn committed_id_reports_when_it_was_accepted_until_it_expires() {
        let store = MemoryReplayStore::default();
        let Reservation::Reserved(token) = reserve(&store, "a", 10).await else {
            panic!("fresh id not reserved");
        };
        store.commit(&key("a"), token, 12, 100).await.unwrap();
        assert_eq!(
            reserve(&store, "a", 99).await,
            Reservation::Accepted { accepted_at: 12 }
        );
        // At `until` the record is no longer live.
        assert!(matches!(
            reserve(&store, "a", 100).await,
            Reservation::Reserved(_)
        ));
    }

    #[tokio::test]
    async fn release_with_a_stale_token_keeps_the_new_holders_reservation() {
        let store = MemoryReplayStore::default();
        let Reservation::Reserved(first) = reserve(&store, "a", 0).await else {
            panic!("fresh id not reserved");
        };
        // The first lease ran out; a retry reserved the id again.
        let Reservation::Reserved(second) = reserve(&store, "a", 61).await else {
            panic!("expired lease not taken over");
        };
        assert_ne!(first, second);
        store.release(&key("a"), first).await.unwrap();
        assert_eq!(reserve(&store, "a", 62).await, Reservation::InFlight);
        store.release(&key("a"), second).await.unwrap();
        assert!(matches!(
            reserve(&store, "a", 62).await,
            Reservation::Reserved(_)
        ));
    }

    #[tokio::test]
    async fn release_does_not_undo_a_commit() {
        let store = MemoryReplayStore::default();
        let Reservation::Reserved(token) = reserve(&store, "a", 0).await else {
            panic!("fresh id not reserved");
        };
        store.commit(&key("a"), token, 1, 1000).await.unwrap();
        store.release(&key("a"), token).await.unwrap();
        assert_eq!(
            reserve(&store, "a", 2).await,
            Reservation::Accepted { accepted_at: 1 }
        );
    }

    #[tokio::test]
    async fn capacity_bounds_the_records_kept() {
        let store = MemoryReplayStore::new(10);
        for i in 0..100 {
            reserve(&store, &i.to_string(), 0).await;
        }
        assert!(store.len() <= 10, "kept {} records", store.len());
        // The newest delivery is always admitted (oldest evicted first).
        assert_eq!(reserve(&store, "99", 1).await, Reservation::InFlight);
    }

    #[tokio::test]
    async fn reserve_release_cycles_keep_the_eviction_queue_bounded() {
        let store = MemoryReplayStore::new(10);
        for i in 0..10_000 {
            let id = format!("failing-{}", i % 3);
            if let Reservation::Reserved(token) = reserve(&store, &id, i).await {
                store.release(&key(&id), token).await.unwrap();
            }
        }
        let queued: usize = store
            .shards
            .iter()
            .map(|s| s.lock().unwrap().order.len())
            .sum();
        assert!(queued <= 20, "queue grew to {queued}");
    }

    fn route_key(route: &str, id: &str) -> ReplayKey {
        ReplayKey::new(Arc::from(route), id)
    }

    async fn accept(store: &MemoryReplayStore, key: &ReplayKey, now: i64, until: i64) {
        let Reservation::Reserved(token) = store.reserve(key, now, now + 60).await.unwrap() else {
            panic!("{key:?} not reserved");
        };
        store.commit(key, token, now, until).await.unwrap();
    }

    #[tokio::test]
    async fn a_flood_on_one_route_evicts_only_that_routes_records() {
        // Unsigned ids (GitHub's X-GitHub-Delivery) let one captured delivery be replayed
        // with fresh ids: each is "new". The flood must not reopen other routes' windows.
        let store = MemoryReplayStore::new(4000).with_route_capacity(1000);
        let billing = route_key("billing", "d-1");
        accept(&store, &billing, 0, 3600).await;
        for i in 0..5000 {
            accept(
                &store,
                &route_key("github", &format!("forged-{i}")),
                1,
                3600,
            )
            .await;
        }
        assert_eq!(
            store.reserve(&billing, 2, 62).await.unwrap(),
            Reservation::Accepted { accepted_at: 0 },
            "the flood on github evicted billing's record"
        );
        // About the route's bound (it is split over the shards, rounded up) plus billing.
        assert!(store.len() <= 1010, "kept {} records", store.len());
        // The eviction queues follow the records held, not the whole capacity (4,000):
        // entries left by the route's evictions do not pile up (memory grew per request).
        let queued: usize = store
            .shards
            .iter()
            .map(|s| s.lock().unwrap().order.len())
            .sum();
        let bound = 2 * store.len() as usize + COMPACT_SLACK * store.shards.len();
        assert!(
            queued <= bound,
            "{queued} queued entries for {} records",
            store.len()
        );
        // The flooded route still refuses its newest replays.
        assert!(matches!(
            store
                .reserve(&route_key("github", "forged-4999"), 2, 62)
                .await
                .unwrap(),
            Reservation::Accepted { .. }
        ));
    }

    #[tokio::test]
    async fn expired_records_are_dropped_as_new_ones_arrive_not_only_when_full() {
        let store = MemoryReplayStore::new(100_000);
        for i in 0..1000 {
            accept(&store, &key(&format!("old-{i}")), 0, 600).await;
        }
        assert_eq!(store.len(), 1000);
        // Long after their window, new deliveries arrive: the expired records go, a few
        // with each arrival (in its shard), well before the store is full.
        for i in 0..1000 {
            accept(&store, &key(&format!("new-{i}")), 10_000 + i, 20_000).await;
        }
        assert_eq!(store.len(), 1000);
    }

    #[tokio::test]
    async fn evicting_a_stale_queue_entry_keeps_the_newer_record_of_that_key() {
        let store = MemoryReplayStore::new(2);
        let Reservation::Reserved(token) = reserve(&store, "a", 0).await else {
            panic!("a not reserved")
        };
        store.release(&key("a"), token).await.unwrap();
        reserve(&store, "b", 1).await;
        // "a" again: its first queue entry is now stale.
        assert!(matches!(
            reserve(&store, "a", 2).await,
            Reservation::Reserved(_)
        ));
        // Over capacity: the stale "a" entry is skipped, "b" (the oldest record) goes.
        reserve(&store, "c", 3).await;
        assert_eq!(
            reserve(&store, "a", 4).await,
            Reservation::InFlight,
            "the newer a was evicted"
        );
        assert!(
            matches!(reserve(&store, "b", 4).await, Reservation::Reserved(_)),
            "b should have been evicted"
        );
    }
}
