//! [`RedisRecords`] against a real `redis-server`: two handles (two replicas) on one Redis,
//! a change made through one wakes the other — by pub/sub, and by the version check when
//! the message never came (a write behind its back) — and a Redis that comes back wakes
//! it too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookguard_redis::{Redis, RedisRecords, RedisSettings};
use hookguard_tests::RedisServer;

fn settings(server: &RedisServer) -> RedisSettings {
    RedisSettings::new(server.url())
        .prefix("t:")
        .connect_timeout(Duration::from_millis(300))
        .command_timeout(Duration::from_millis(300))
}

fn replica(server: &RedisServer, every: Duration) -> Arc<RedisRecords> {
    let settings = settings(server);
    let redis = Redis::connect_lazy(settings.clone()).expect("a valid url");
    let records = Arc::new(RedisRecords::new(redis, "keys"));
    records.watch(settings, every);
    records
}

/// Waits for `records.changed()` at most `within`; how long it took.
async fn woken(records: &RedisRecords, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    tokio::time::timeout(within, records.changed())
        .await
        .ok()
        .map(|()| started.elapsed())
}

/// Drains the wake-ups pending (the first subscription and the first check each wake
/// once), after loading.
async fn settle(records: &RedisRecords) {
    records.all().await.expect("redis answers");
    while woken(records, Duration::from_millis(700)).await.is_some() {
        records.all().await.expect("redis answers");
    }
}

#[tokio::test]
async fn records_are_kept_by_id_and_deleted_and_the_log_is_capped_newest_first() {
    let server = RedisServer::start();
    let records = replica(&server, Duration::from_secs(60));
    assert!(records.all().await.unwrap().is_empty());
    records.put("b", b"2").await.unwrap();
    records.put("a", b"1").await.unwrap();
    records.put("b", b"3").await.unwrap();
    let all: Vec<(String, Vec<u8>)> = records.all().await.unwrap().into_iter().collect();
    assert_eq!(
        all,
        [("a".into(), b"1".to_vec()), ("b".into(), b"3".to_vec())]
    );
    assert!(records.delete("a").await.unwrap());
    assert!(!records.delete("a").await.unwrap());
    assert_eq!(records.version().await.unwrap(), 5, "every change counts");
    for n in 1..=5u8 {
        records.push_log(&[n], 3).await.unwrap();
    }
    assert_eq!(records.log(10).await.unwrap(), [vec![5], vec![4], vec![3]]);
    assert_eq!(records.log(1).await.unwrap(), [vec![5]]);
    assert!(records.log(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_change_by_one_replica_wakes_the_other_at_once_by_pubsub() {
    let server = RedisServer::start();
    // The version check every minute: only the published message can wake B in time.
    let (a, b) = (
        replica(&server, Duration::from_secs(60)),
        replica(&server, Duration::from_secs(60)),
    );
    settle(&b).await;
    a.put("k_1", b"x").await.unwrap();
    let took = woken(&b, Duration::from_secs(1))
        .await
        .expect("B was not told within 1 s");
    assert!(took < Duration::from_secs(1));
    assert_eq!(b.all().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_change_whose_message_was_lost_is_found_by_the_version_check() {
    let server = RedisServer::start();
    let b = replica(&server, Duration::from_millis(200));
    settle(&b).await;
    // Written behind the replicas' backs: no message is published.
    server.command("HSET {t:records:keys} k_9 y");
    server.command("INCR {t:records:keys}:version");
    woken(&b, Duration::from_secs(1))
        .await
        .expect("the version check never noticed");
    assert_eq!(b.all().await.unwrap().len(), 1);
    // Nothing changed since: no more wake-ups.
    assert!(woken(&b, Duration::from_millis(600)).await.is_none());
}

#[tokio::test]
async fn a_redis_that_comes_back_empty_wakes_the_reader_and_reads_fail_meanwhile() {
    let mut server = RedisServer::start();
    let b = replica(&server, Duration::from_millis(200));
    b.put("k_1", b"x").await.unwrap();
    settle(&b).await;
    server.kill9();
    assert!(b.all().await.is_err(), "a read without redis is an error");
    assert!(b.put("k_2", b"y").await.is_err());
    server.restart();
    woken(&b, Duration::from_secs(3))
        .await
        .expect("not woken when redis came back");
    assert!(b.all().await.unwrap().is_empty(), "restarted without data");
}
