//! Properties every [`RateStore`] keeps, run against each backend by
//! [`rate_store_conformance!`](crate::rate_store_conformance).
//!
//! Stores shared by replicas read time on their server (Redis `TIME`), which a test cannot
//! fake; so these properties are stated on quotas slow enough that the time a test takes
//! does not matter (one request an hour), with tolerances of a second on durations. One
//! property is about time passing; it waits for a 50 ms interval, bounded.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::rate::{LimitKey, RateDecision, RateQuota, RateStore};

/// One request an hour per key, with a burst of `burst`.
pub fn hourly(burst: u32) -> RateQuota {
    RateQuota::new(1, Duration::from_secs(3600))
        .and_then(|q| q.burst(burst))
        .expect("a valid quota")
}

async fn check<S: RateStore>(store: &S, key: &LimitKey) -> RateDecision {
    store.check(key).await.expect("the store decides")
}

fn close_to(actual: Duration, expected: Duration) -> bool {
    let slack = Duration::from_secs(1);
    actual <= expected && actual + slack >= expected
}

/// A fresh key admits its burst, counting `remaining` down, then refuses.
pub async fn a_fresh_key_admits_its_burst_then_refuses<S: RateStore, G>(
    make: impl FnOnce(RateQuota) -> (S, G),
) {
    let (store, _guard) = make(hourly(3));
    assert_eq!(store.quota(), hourly(3));
    let key = LimitKey::Custom("tenant-a".into());
    for expected_remaining in [2, 1, 0] {
        let decision = check(&store, &key).await;
        assert!(decision.allowed, "within the burst: {decision:?}");
        assert_eq!(decision.limit, 3);
        assert_eq!(decision.remaining, expected_remaining, "{decision:?}");
        assert_eq!(decision.retry_after, Duration::ZERO);
    }
    let refused = check(&store, &key).await;
    assert!(!refused.allowed, "past the burst: {refused:?}");
    assert_eq!(refused.remaining, 0);
    assert_eq!(refused.limit, 3);
}

/// Refusals say when one request fits again, and when the bucket is full.
pub async fn a_refusal_says_when_to_retry_and_when_the_bucket_is_full<S: RateStore, G>(
    make: impl FnOnce(RateQuota) -> (S, G),
) {
    let (store, _guard) = make(hourly(2));
    let key = LimitKey::Global;
    let first = check(&store, &key).await;
    assert!(
        close_to(first.reset, Duration::from_secs(3600)),
        "{first:?}"
    );
    let second = check(&store, &key).await;
    assert!(
        close_to(second.reset, Duration::from_secs(7200)),
        "{second:?}"
    );
    let refused = check(&store, &key).await;
    assert!(!refused.allowed);
    assert!(
        close_to(refused.retry_after, Duration::from_secs(3600)),
        "{refused:?}"
    );
    assert!(
        close_to(refused.reset, Duration::from_secs(7200)),
        "{refused:?}"
    );
    // A refusal is not counted: the wait does not grow.
    let again = check(&store, &key).await;
    assert!(again.retry_after <= refused.retry_after, "{again:?}");
}

/// Every kind of key has a bucket of its own.
pub async fn keys_have_separate_buckets<S: RateStore, G>(make: impl FnOnce(RateQuota) -> (S, G)) {
    let (store, _guard) = make(hourly(1));
    let keys = [
        LimitKey::Global,
        LimitKey::Route("github".into()),
        LimitKey::Route("stripe".into()),
        LimitKey::client(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        LimitKey::client(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))),
        LimitKey::client("2001:db8::1".parse().expect("an address")),
        LimitKey::Custom("github".into()),
        LimitKey::Custom("{tenant}:with:odd chars".into()),
        LimitKey::Unidentified,
    ];
    for key in &keys {
        assert!(check(&store, key).await.allowed, "first of {key:?}");
    }
    for key in &keys {
        assert!(!check(&store, key).await.allowed, "second of {key:?}");
    }
}

/// Capacity comes back with time.
pub async fn capacity_comes_back_after_the_interval<S: RateStore, G>(
    make: impl FnOnce(RateQuota) -> (S, G),
) {
    let quota = RateQuota::per_second(20)
        .expect("quota")
        .burst(1)
        .expect("burst");
    let (store, _guard) = make(quota);
    let key = LimitKey::Custom("refill".into());
    assert!(check(&store, &key).await.allowed);
    let refused = check(&store, &key).await;
    assert!(!refused.allowed);
    assert!(
        refused.retry_after <= Duration::from_millis(50),
        "{refused:?}"
    );
    // The one wait in these properties, bounded by the quota's 50 ms interval.
    tokio::time::sleep(refused.retry_after + Duration::from_millis(20)).await;
    assert!(check(&store, &key).await.allowed, "refilled");
}

/// Concurrent checks never admit more than the burst (the decision is atomic).
pub async fn concurrent_checks_never_admit_more_than_the_burst<S: RateStore, G>(
    make: impl FnOnce(RateQuota) -> (S, G),
) {
    let (store, _guard) = make(hourly(10));
    let store = Arc::new(store);
    let key = LimitKey::Custom("crowd".into());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            let key = key.clone();
            tokio::spawn(async move { store.check(&key).await })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        if task.await.expect("task").expect("decided").allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10);
}
