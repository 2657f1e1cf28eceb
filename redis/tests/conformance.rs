//! The layers' and delivery's store conformance suites against the Redis stores, each
//! test on its own real `redis-server` (started on a free port, killed after the test).

use hookguard_redis::{FailureMode, Redis, RedisRateStore, RedisReplayStore, RedisSettings};
use hookguard_tests::RedisServer;

fn connect(server: &RedisServer) -> Redis {
    Redis::connect_lazy(RedisSettings::new(server.url())).expect("a valid url")
}

mod redis_backend {
    use super::*;

    hookguard_layers::rate_store_conformance!(|quota| {
        let server = RedisServer::start();
        let store = RedisRateStore::new(connect(&server), "route", quota, FailureMode::Closed);
        (store, server)
    });

    hookguard_layers::replay_store_conformance!(|| {
        let server = RedisServer::start();
        let store = RedisReplayStore::new(connect(&server), FailureMode::Closed);
        (store, server)
    });
}

mod redis_queue {
    use hookguard_delivery::store::Durability;
    use hookguard_redis::RedisQueueStore;

    use super::*;

    hookguard_delivery::queue_store_conformance!({
        let server = RedisServer::start();
        let store = RedisQueueStore::new(connect(&server), Durability::Fsync);
        (store, server)
    });
}
