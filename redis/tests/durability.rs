//! `fsync` durability of the Redis queue on the server this machine has: `WAITAOF 1 0`
//! on Redis 7.2 and later; before that (Debian's 7.0) the store falls back on the server's
//! `appendfsync`, which the test support sets to `always` — then an acknowledged enqueue
//! survives `kill -9` of Redis.

use std::time::Duration;

use hookguard_delivery::message::Timestamp;
use hookguard_delivery::store::conformance::message;
use hookguard_delivery::store::{Bounds, Durability, QueueStore};
use hookguard_redis::{Redis, RedisQueueStore, RedisSettings};
use hookguard_tests::RedisServer;

fn connect(server: &RedisServer) -> Redis {
    let settings = RedisSettings::new(server.url()).command_timeout(Duration::from_secs(2));
    Redis::connect_lazy(settings).expect("a valid url")
}

/// `(major, minor)` of the server's `redis_version`.
fn version(server: &RedisServer) -> (u32, u32) {
    let text = server
        .info_field("redis_version")
        .expect("INFO redis_version");
    let mut parts = text.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// How many times the server ran `WAITAOF` (0 when it has no such command).
fn waitaof_calls(server: &RedisServer) -> u64 {
    let stats = server.command("INFO commandstats");
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_waitaof:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// How many `ERR` replies the server gave (an unknown command is one).
fn err_replies(server: &RedisServer) -> u64 {
    server
        .command("INFO errorstats")
        .lines()
        .find_map(|l| l.strip_prefix("errorstat_ERR:count="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn fsync_waits_for_the_aof_or_falls_back_on_appendfsync_always() {
    let mut server = RedisServer::builder().persistent().start();
    assert!(
        server.command("CONFIG GET appendfsync").contains("always"),
        "the test support starts a persistent server with appendfsync always"
    );
    let store = RedisQueueStore::new(connect(&server), Durability::Fsync);
    assert!(store.waits_for_aof(), "WAITAOF is tried first");
    let id = store
        .enqueue(
            message("d", None, "one", Timestamp::now()),
            Bounds::UNBOUNDED,
        )
        .await
        .expect("enqueued");

    let has_waitaof = version(&server) >= (7, 2);
    if has_waitaof {
        assert!(store.waits_for_aof());
        assert_eq!(waitaof_calls(&server), 1, "one WAITAOF per enqueue");
    } else {
        // This machine's server: the store got "unknown command" and falls back...
        assert!(!store.waits_for_aof(), "{:?}", version(&server));
        // ...for good: later enqueues send no WAITAOF (no more error replies).
        let errors = err_replies(&server);
        for payload in ["two", "three"] {
            store
                .enqueue(
                    message("d", None, payload, Timestamp::now()),
                    Bounds::UNBOUNDED,
                )
                .await
                .expect("enqueued");
        }
        assert_eq!(err_replies(&server), errors);
    }

    // Either way the acknowledged message is on disk: kill -9, restart from the AOF.
    server.kill9();
    server.restart();
    let store = RedisQueueStore::new(connect(&server), Durability::Fsync);
    let stored = store
        .get(&id)
        .await
        .expect("read")
        .expect("kept across kill -9");
    assert_eq!(&stored.payload[..], b"one");
}

#[tokio::test]
async fn os_durability_never_asks_for_waitaof() {
    let server = RedisServer::builder().persistent().start();
    let store = RedisQueueStore::new(connect(&server), Durability::Os);
    assert!(!store.waits_for_aof());
    // The first enqueue opens the connection (redis-rs's CLIENT SETINFO is an error
    // reply on 7.0); after it, an unknown WAITAOF would be one more.
    let enqueue = async |payload: &str| {
        store
            .enqueue(
                message("d", None, payload, Timestamp::now()),
                Bounds::UNBOUNDED,
            )
            .await
            .expect("enqueued")
    };
    enqueue("one").await;
    let errors = err_replies(&server);
    enqueue("two").await;
    enqueue("three").await;
    assert_eq!(err_replies(&server), errors);
    assert_eq!(waitaof_calls(&server), 0);
}
