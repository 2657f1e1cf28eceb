use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use governor::clock::FakeRelativeClock;

use super::*;

fn store(
    per_second: u32,
    burst: u32,
    max_keys: usize,
) -> (MemoryStore<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let quota = RateQuota::per_second(per_second)
        .unwrap()
        .burst(burst)
        .unwrap();
    (
        MemoryStore::with_clock(quota, max_keys, clock.clone()).unwrap(),
        clock,
    )
}

fn key(n: u32) -> LimitKey {
    LimitKey::Client(IpAddr::V4(Ipv4Addr::from(n)))
}

#[test]
fn burst_is_admitted_then_refused_until_capacity_returns() {
    let (store, clock) = store(2, 2, 10);
    let k = key(1);
    assert!(store.decide(&k).allowed);
    assert!(store.decide(&k).allowed);
    let refused = store.decide(&k);
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after, Duration::from_millis(500));

    clock.advance(Duration::from_millis(499));
    assert!(
        !store.decide(&k).allowed,
        "one nanosecond short of the interval"
    );
    clock.advance(Duration::from_millis(1));
    assert!(store.decide(&k).allowed);
    assert!(!store.decide(&k).allowed);
}

#[test]
fn remaining_and_reset_follow_the_bucket() {
    // 10 per minute, burst 10: one request's capacity returns every 6 s.
    let clock = FakeRelativeClock::default();
    let quota = RateQuota::per_minute(10).unwrap();
    let store = MemoryStore::with_clock(quota, 10, clock.clone()).unwrap();
    let k = LimitKey::Global;
    let first = store.decide(&k);
    assert_eq!((first.limit, first.remaining), (10, 9));
    assert_eq!(first.reset, Duration::from_secs(6));
    for _ in 0..8 {
        store.decide(&k);
    }
    let last = store.decide(&k);
    assert_eq!((last.allowed, last.remaining), (true, 0));
    assert_eq!(last.reset, Duration::from_secs(60));

    clock.advance(Duration::from_secs(2));
    let refused = store.decide(&k);
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    assert_eq!(refused.retry_after, Duration::from_secs(4));
    assert_eq!(refused.reset, Duration::from_secs(58));
}

#[test]
fn each_key_has_its_own_bucket() {
    let (store, _clock) = store(1, 1, 10);
    assert!(store.decide(&key(1)).allowed);
    assert!(!store.decide(&key(1)).allowed);
    assert!(store.decide(&key(2)).allowed);
    assert!(store.decide(&LimitKey::Custom("acme".into())).allowed);
    assert_eq!(store.len(), 3);
}

#[test]
fn a_flood_of_distinct_keys_cannot_grow_the_table_past_its_bound() {
    let (store, _clock) = store(1, 5, 100);
    let known = key(0);
    assert!(store.decide(&known).allowed);
    let mut admitted_new = 0;
    for n in 1..=10_000 {
        if store.decide(&key(n)).allowed {
            admitted_new += 1;
        }
    }
    assert_eq!(store.len(), 100, "bounded at max_keys");
    // 99 keys got a bucket of their own; all later ones shared the overflow bucket,
    // which admitted its burst of 5 and then refused.
    assert_eq!(admitted_new, 99 + 5);
    assert!(
        !store.decide(&key(50_000)).allowed,
        "unknown keys still share overflow"
    );
    // A known key keeps its own bucket through the flood.
    assert!(store.decide(&known).allowed);
    assert!(store.decide(&key(1)).allowed);
}

#[test]
fn concurrent_floods_respect_the_bound_exactly() {
    let (store, _clock) = store(1, 1, 1_000);
    let store = Arc::new(store);
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in 0..5_000 {
                    store.decide(&key(t * 1_000_000 + n));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(store.len(), 1_000);
}

#[test]
fn sweep_drops_idle_buckets_and_makes_room_again() {
    let (store, clock) = store(1, 3, 10);
    for n in 0..10 {
        store.decide(&key(n));
    }
    assert_eq!(store.len(), 10);
    assert!(store.decide(&key(100)).allowed, "overflow bucket");

    // Long enough for every bucket to be full again; key 0 is busy just before the sweep.
    clock.advance(Duration::from_secs(10));
    store.decide(&key(0));
    store.sweep();
    assert_eq!(store.len(), 1, "only the recently used key stays");

    // Room again: a new key gets a bucket of its own, with its full burst.
    for _ in 0..3 {
        assert!(store.decide(&key(200)).allowed);
    }
    assert!(!store.decide(&key(200)).allowed);
    assert_eq!(store.len(), 2);
}

#[test]
fn sweep_keeps_buckets_that_are_not_full_yet() {
    let (store, clock) = store(1, 3, 10);
    for _ in 0..3 {
        store.decide(&key(1));
    }
    clock.advance(Duration::from_secs(1));
    store.sweep();
    // Dropping it now would hand the key a fresh burst early.
    assert_eq!(store.len(), 1);
    assert!(store.decide(&key(1)).allowed);
    assert!(!store.decide(&key(1)).allowed);
}

#[test]
fn zero_max_keys_is_a_construction_error() {
    let quota = RateQuota::per_second(1).unwrap();
    let err = MemoryStore::new(quota, 0).unwrap_err();
    assert_eq!(err, RateConfigError::ZeroKeys);
}

#[tokio::test]
async fn store_future_resolves_to_the_same_decision() {
    let (store, _clock) = store(1, 1, 10);
    let allowed = RateStore::check(&store, &key(9)).await.unwrap();
    assert!(allowed.allowed);
    let refused = RateStore::check(&store, &key(9)).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(RateStore::quota(&store).limit(), 1);
}
