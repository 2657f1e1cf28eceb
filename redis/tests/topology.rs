//! The stores through Redis Sentinel and on a Redis Cluster, against real servers started
//! by the test support code: the conformance suites through each topology, and a
//! failover (kill -9 of the master, and `SENTINEL FAILOVER`) the stores follow within 5 s.
//!
//! The conformance tests share one Sentinel setup and one Cluster for the binary (each
//! test under its own key prefix); the failover tests start their own.

mod common;
use common::{hourly, recovers_within_5s};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookguard_delivery::message::Timestamp;
use hookguard_layers::rate::{LimitKey, RateStore};
use hookguard_layers::replay::{ReplayKey, ReplayStore, Reservation};
use hookguard_redis::{
    FailureMode, Redis, RedisError, RedisRateStore, RedisReplayStore, RedisSettings,
};
use hookguard_tests::{RedisCluster, RedisSentinel};

/// A key prefix no other test of this binary uses.
fn unique_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("t{}:", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn through_sentinel(setup: &RedisSentinel) -> Redis {
    let settings = RedisSettings::sentinel(setup.master_name(), setup.sentinel_addrs())
        .prefix(unique_prefix())
        .connect_timeout(Duration::from_millis(500))
        .command_timeout(Duration::from_secs(1));
    Redis::connect_lazy(settings).expect("valid sentinel settings")
}

fn on_cluster(cluster: &RedisCluster) -> Redis {
    let settings = RedisSettings::cluster(cluster.addrs())
        .prefix(unique_prefix())
        .command_timeout(Duration::from_secs(1));
    Redis::connect_lazy(settings).expect("valid cluster settings")
}

mod sentinel_backend {
    use super::*;

    hookguard_layers::rate_store_conformance!(|quota| {
        let redis = through_sentinel(RedisSentinel::shared());
        (
            RedisRateStore::new(redis, "route", quota, FailureMode::Closed),
            (),
        )
    });

    hookguard_layers::replay_store_conformance!(|| {
        let redis = through_sentinel(RedisSentinel::shared());
        (RedisReplayStore::new(redis, FailureMode::Closed), ())
    });
}

mod cluster_backend {
    use super::*;

    hookguard_layers::rate_store_conformance!(|quota| {
        let redis = on_cluster(RedisCluster::shared());
        (
            RedisRateStore::new(redis, "route", quota, FailureMode::Closed),
            (),
        )
    });

    hookguard_layers::replay_store_conformance!(|| {
        let redis = on_cluster(RedisCluster::shared());
        (RedisReplayStore::new(redis, FailureMode::Closed), ())
    });
}

mod cluster_queue {
    use hookguard_delivery::store::Durability;
    use hookguard_redis::RedisQueueStore;

    use super::*;

    hookguard_delivery::queue_store_conformance!({
        let redis = on_cluster(RedisCluster::shared());
        (RedisQueueStore::new(redis, Durability::Fsync), ())
    });
}

/// Rate and replay state written before a failover, then `fail` (kill -9 or `SENTINEL
/// FAILOVER`): both stores answer again within 5 s of the sentinel naming the new master,
/// on the new master, with the state the replica had.
async fn stores_follow_the_failover(fail: impl FnOnce(&mut RedisSentinel)) {
    let mut setup = RedisSentinel::start();
    let redis = through_sentinel(&setup);
    let rate = RedisRateStore::new(redis.clone(), "r", hourly(3), FailureMode::Closed);
    let replay = RedisReplayStore::new(redis.clone(), FailureMode::Closed);
    let key = ReplayKey::new(Arc::from("github"), "delivery-1");
    let now = Timestamp::now().as_unix_secs() as i64;

    assert!(rate.check(&LimitKey::Global).await.unwrap().allowed);
    let Reservation::Reserved(token) = replay.reserve(&key, now, now + 60).await.unwrap() else {
        panic!("a fresh id is reserved");
    };
    replay.commit(&key, token, now, now + 600).await.unwrap();
    let old = setup.master_addr();
    assert_eq!(redis.sentinel_master(), Some(old.to_string()));
    // Replication is asynchronous: wait until the replica has every write, so that what
    // the new master knows is what this test wrote.
    setup.wait_for_replication();

    let failed_at = Instant::now();
    fail(&mut setup);
    let new = setup.wait_for_failover(old);
    // Until the sentinel reconfigures a live old master, it still takes writes (Sentinel's
    // replication is asynchronous; such writes are lost): recovery is a command answered
    // by the new master.
    let took = recovers_within_5s("the rate store (after the failover)", async || {
        rate.check(&LimitKey::Global).await.is_ok()
            && redis.sentinel_master() == Some(new.to_string())
    })
    .await;
    eprintln!(
        "rate store answered on the new master {took:?} after the sentinel named {new}, {:?} after the failure",
        failed_at.elapsed()
    );
    assert!(redis.health().up);
    // The bucket came over with the replica: 1 before, 1 in the recovery (on the new
    // master), 1 now, of 3.
    let decision = rate.check(&LimitKey::Global).await.unwrap();
    assert!(decision.allowed);
    assert_eq!(decision.remaining, 0, "{decision:?}");
    // The accepted delivery came over too: a replay is refused on the new master.
    assert_eq!(
        replay.reserve(&key, now + 1, now + 61).await.unwrap(),
        Reservation::Accepted { accepted_at: now }
    );
    // And the new master takes writes.
    let fresh = ReplayKey::new(Arc::from("github"), "delivery-2");
    assert!(matches!(
        replay.reserve(&fresh, now, now + 60).await.unwrap(),
        Reservation::Reserved(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_follow_kill_9_of_the_master_within_5s() {
    stores_follow_the_failover(|setup| setup.kill9_master()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_follow_sentinel_failover_of_a_live_master_within_5s() {
    // The old master stays up and becomes a replica: commands on the old connection get
    // READONLY (or the connection is closed), and the link asks the sentinels again.
    stores_follow_the_failover(|setup| {
        let reply = setup.failover();
        assert!(reply.starts_with("+OK"), "SENTINEL FAILOVER: {reply}");
    })
    .await;
}

#[tokio::test]
async fn no_sentinel_answering_is_a_clear_error_within_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let settings = RedisSettings::sentinel("mymaster", [format!("127.0.0.1:{port}")])
        .connect_timeout(Duration::from_millis(200))
        .command_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = Redis::connect(settings).await.expect_err("no sentinel");
    assert!(started.elapsed() < Duration::from_secs(5));
    match err {
        RedisError::Unreachable { url, .. } => assert_eq!(
            url,
            format!("sentinel master \"mymaster\" via 127.0.0.1:{port}")
        ),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_master_name_the_sentinel_does_not_know_is_an_error() {
    let setup = RedisSentinel::shared();
    let settings = RedisSettings::sentinel("no-such-master", setup.sentinel_addrs())
        .command_timeout(Duration::from_secs(1));
    let err = Redis::connect(settings).await.expect_err("unknown name");
    assert!(
        matches!(err, RedisError::Unreachable { .. }),
        "{err}: an unknown name is not a url error"
    );
}

#[tokio::test]
async fn the_cluster_client_spreads_buckets_over_the_nodes() {
    let cluster = RedisCluster::shared();
    let redis = on_cluster(cluster);
    let prefix = redis.prefix().to_owned();
    let rate = RedisRateStore::new(redis, "spread", hourly(5), FailureMode::Closed);
    for i in 0..30 {
        let key = LimitKey::Custom(format!("client-{i}").into());
        assert!(rate.check(&key).await.unwrap().allowed);
    }
    // Every node holds some of this test's buckets (30 hash tags over 3 nodes).
    for node in cluster.nodes() {
        let keys = node.command(&format!("KEYS {{{prefix}rate:spread:*"));
        assert!(
            keys.contains(&format!("{prefix}rate:spread:")),
            "node {} holds none of the buckets: {keys:?}",
            node.addr()
        );
    }
}

/// A port nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port()
}

#[tokio::test]
async fn the_probe_names_the_master_and_the_sentinel_that_does_not_answer() {
    let setup = RedisSentinel::shared();
    let dead = format!("127.0.0.1:{}", closed_port());
    let mut sentinels = setup.sentinel_addrs();
    sentinels.push(dead.clone());
    let settings = RedisSettings::sentinel(setup.master_name(), sentinels)
        .connect_timeout(Duration::from_millis(300))
        .command_timeout(Duration::from_millis(500));
    let report = hookguard_redis::probe_topology(&settings)
        .await
        .expect("valid settings");
    let master = setup.master_addr().to_string();
    assert_eq!(
        report.master,
        Some((setup.master_name().to_owned(), Some(master.clone())))
    );
    assert!(report.ping.is_ok(), "{report}");
    let unreachable: Vec<&str> = report.unreachable().map(|n| n.address.as_str()).collect();
    assert_eq!(unreachable, [dead.as_str()], "{report}");
    let text = report.to_string();
    assert!(
        text.starts_with(&format!(
            "state: redis sentinel, master \"{}\" at {master}\n",
            setup.master_name()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("  sentinel {dead}: UNREACHABLE: ")),
        "{text}"
    );
    assert!(
        text.contains(&format!("  master {master}: answers (")),
        "{text}"
    );
}

#[tokio::test]
async fn the_probe_lists_the_cluster_nodes_and_the_seed_that_does_not_answer() {
    let cluster = RedisCluster::shared();
    let dead = format!("127.0.0.1:{}", closed_port());
    let mut seeds = cluster.addrs();
    seeds.push(dead.clone());
    let settings = RedisSettings::cluster(seeds)
        .connect_timeout(Duration::from_millis(300))
        .command_timeout(Duration::from_secs(1));
    let report = hookguard_redis::probe_topology(&settings)
        .await
        .expect("valid settings");
    assert_eq!(report.topology, "cluster");
    assert!(report.ping.is_ok(), "{report}");
    let mut masters: Vec<String> = report
        .nodes
        .iter()
        .filter(|n| n.role == "master" && n.answer.is_ok())
        .map(|n| n.address.clone())
        .collect();
    masters.sort();
    let mut expected = cluster.addrs();
    expected.sort();
    assert_eq!(masters, expected, "{report}");
    let unreachable: Vec<&str> = report.unreachable().map(|n| n.address.as_str()).collect();
    assert_eq!(unreachable, [dead.as_str()], "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_client_comes_back_within_5s_of_the_cluster_being_back() {
    let mut cluster = RedisCluster::start();
    cluster.kill9_all();
    // Started while no node answers (a sidecar starting degraded): nothing to connect to.
    let redis = Redis::connect_lazy(
        RedisSettings::cluster(cluster.addrs())
            .connect_timeout(Duration::from_millis(200))
            .command_timeout(Duration::from_millis(500)),
    )
    .expect("valid settings");
    assert!(redis.ping().await.is_err());
    let rate = RedisRateStore::new(redis.clone(), "back", hourly(5), FailureMode::Closed);
    assert!(rate.check(&LimitKey::Global).await.is_err(), "fails closed");

    for round in ["first connection", "reconnection"] {
        cluster.restart_all();
        let back = Instant::now();
        while rate.check(&LimitKey::Global).await.is_err() {
            assert!(
                back.elapsed() < Duration::from_secs(5),
                "{round}: not back within 5 s of the cluster being ok"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "{round}: the rate store answered {:?} after the cluster was ok",
            back.elapsed()
        );
        assert!(redis.health().up);
        cluster.kill9_all();
        assert!(
            rate.check(&LimitKey::Global).await.is_err(),
            "{round}: down again"
        );
    }
}
