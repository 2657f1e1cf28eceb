//! Redis killed and restarted under the stores: the failure mode holds, nothing panics,
//! and service comes back within 5 s. Plus what a queue shared by replicas must keep.

mod common;
use common::{hourly, recovers_within_5s};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookguard_delivery::message::Timestamp;
use hookguard_delivery::store::conformance::message;
use hookguard_delivery::store::{Bounds, Durability, QueueStore};
use hookguard_layers::rate::{LimitKey, RateStore};
use hookguard_layers::replay::{ReplayKey, ReplayStore, Reservation};
use hookguard_redis::{
    FailureMode, Redis, RedisQueueStore, RedisRateStore, RedisReplayStore, RedisSettings,
};
use hookguard_tests::RedisServer;

fn connect(server: &RedisServer) -> Redis {
    let settings = RedisSettings::new(server.url())
        .connect_timeout(Duration::from_millis(200))
        .command_timeout(Duration::from_millis(300));
    Redis::connect_lazy(settings).expect("a valid url")
}

#[tokio::test]
async fn rate_fails_open_on_local_buckets_counts_it_and_recovers() {
    let mut server = RedisServer::start();
    let redis = connect(&server);
    let store = RedisRateStore::new(redis.clone(), "r", hourly(2), FailureMode::Open);
    let key = LimitKey::Global;
    assert!(store.check(&key).await.unwrap().allowed);
    assert!(redis.health().up);

    server.kill9();
    // Local buckets decide: the same quota, this replica alone.
    let local: Vec<bool> = futures_all(&store, &key, 3).await;
    assert_eq!(local, [true, true, false]);
    assert!(!redis.health().up);
    assert_eq!(redis.health().degraded[0], 3, "{:?}", redis.health());

    server.restart();
    recovers_within_5s("rate (after redis restarted)", async || {
        redis.ping().await.is_ok()
    })
    .await;
    // Redis came back empty (no persistence): a fresh bucket there.
    assert!(store.check(&key).await.unwrap().allowed);
    assert!(redis.health().up);
    assert_eq!(redis.health().degraded[0], 3, "no more degraded decisions");
}

async fn futures_all(store: &RedisRateStore, key: &LimitKey, n: usize) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(store.check(key).await.expect("fail open decides").allowed);
    }
    out
}

#[tokio::test]
async fn rate_fails_closed_with_a_store_error_when_asked() {
    let mut server = RedisServer::start();
    let store = RedisRateStore::new(connect(&server), "r", hourly(2), FailureMode::Closed);
    assert!(store.check(&LimitKey::Global).await.unwrap().allowed);
    server.kill9();
    let started = Instant::now();
    let err = store.check(&LimitKey::Global).await.expect_err("closed");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the timeouts"
    );
    assert!(
        err.to_string().starts_with("rate-limit store: redis"),
        "{err}"
    );
}

#[tokio::test]
async fn replay_fails_closed_by_default_and_recovers_with_persistence() {
    let mut server = RedisServer::builder().persistent().start();
    let redis = connect(&server);
    let store = RedisReplayStore::new(redis.clone(), FailureMode::Closed);
    let key = ReplayKey::new(Arc::from("github"), "d-1");
    let now = Timestamp::now().as_unix_secs() as i64;
    let Reservation::Reserved(token) = store.reserve(&key, now, now + 60).await.unwrap() else {
        panic!("fresh id");
    };
    store.commit(&key, token, now, now + 600).await.unwrap();

    server.kill9();
    let err = store
        .reserve(&key, now, now + 60)
        .await
        .expect_err("closed");
    assert_eq!(err.store, "redis");

    server.restart();
    let mut answer = None;
    recovers_within_5s("replay (after redis restarted)", async || {
        answer = store.reserve(&key, now + 1, now + 61).await.ok();
        answer.is_some()
    })
    .await;
    // The AOF (appendfsync always) kept the accepted record across kill -9.
    assert_eq!(answer, Some(Reservation::Accepted { accepted_at: now }));
    assert_eq!(
        redis.health().degraded[1],
        0,
        "closed never decides locally"
    );
}

#[tokio::test]
async fn replay_fail_open_decides_locally_and_commits_to_redis_once_back() {
    let mut server = RedisServer::start();
    let redis = connect(&server);
    let store = RedisReplayStore::new(redis.clone(), FailureMode::Open);
    let key = ReplayKey::new(Arc::from("github"), "d-2");
    let now = Timestamp::now().as_unix_secs() as i64;
    server.kill9();
    let Reservation::Reserved(token) = store.reserve(&key, now, now + 60).await.unwrap() else {
        panic!("local reservation");
    };
    assert_eq!(
        store.reserve(&key, now, now + 60).await.unwrap(),
        Reservation::InFlight
    );
    assert_eq!(redis.health().degraded[1], 2);
    server.restart();
    recovers_within_5s("replay (after redis restarted)", async || {
        redis.ping().await.is_ok()
    })
    .await;
    // The commit of a local reservation reaches Redis: other replicas see it.
    store.commit(&key, token, now, now + 600).await.unwrap();
    let other_replica = RedisReplayStore::new(connect(&server), FailureMode::Closed);
    assert_eq!(
        other_replica
            .reserve(&key, now + 1, now + 61)
            .await
            .unwrap(),
        Reservation::Accepted { accepted_at: now }
    );
}

#[tokio::test]
async fn an_enqueued_message_survives_kill_9_of_a_persistent_redis() {
    let mut server = RedisServer::builder().persistent().start();
    let store = RedisQueueStore::new(connect(&server), Durability::Fsync);
    let now = Timestamp::now();
    let mut ids = Vec::new();
    for i in 0..20 {
        let new = message("d", None, &format!("p{i}"), now);
        ids.push(
            store
                .enqueue(new, Bounds::UNBOUNDED)
                .await
                .expect("enqueue"),
        );
    }
    server.kill9();
    assert!(store
        .enqueue(message("d", None, "x", now), Bounds::UNBOUNDED)
        .await
        .is_err());
    server.restart();
    recovers_within_5s("queue (after redis restarted)", async || {
        store.healthy().await.is_ok()
    })
    .await;
    for id in &ids {
        assert!(store.get(id).await.unwrap().is_some(), "{id} survived");
    }
    let claimed = store
        .claim("d", now, 100, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_claiming_at_once_never_get_the_same_message() {
    let server = RedisServer::start();
    let a = Arc::new(RedisQueueStore::new(connect(&server), Durability::Os));
    let b = Arc::new(RedisQueueStore::new(connect(&server), Durability::Os));
    let now = Timestamp::now();
    for i in 0..200 {
        let key = format!("k{}", i % 7);
        let new = message("d", Some(&key), &format!("p{i}"), now);
        a.enqueue(new, Bounds::UNBOUNDED).await.unwrap();
    }
    let lease = Duration::from_secs(30);
    let mut seen = std::collections::HashSet::new();
    for round in 0..60 {
        let (x, y) = tokio::join!(a.claim("d", now, 5, lease), b.claim("d", now, 5, lease));
        let (x, y) = (x.unwrap(), y.unwrap());
        let mut keys = std::collections::HashSet::new();
        for m in x.iter().chain(&y) {
            assert!(
                seen.insert(m.id.clone()),
                "round {round}: {} claimed twice",
                m.id
            );
            assert!(
                keys.insert(m.ordering_key.clone()),
                "two of one lane in flight"
            );
        }
        for m in x.iter().chain(&y) {
            let done = hookguard_delivery::message::Settlement::Delivered(
                hookguard_delivery::store::conformance::answered(now, 200),
            );
            assert!(a.settle(&m.id, done, now).await.unwrap());
        }
    }
    assert_eq!(seen.len(), 200);
}
