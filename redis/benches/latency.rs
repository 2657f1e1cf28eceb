//! p50 / p99 of one rate decision and of one replay reserve + commit against a real local
//! `redis-server` (started on a free port, AOF off), one call at a time, so each sample is
//! one round trip plus the script: what a request pays on the sidecar's path.
//!
//!   cargo bench -p hookguard-redis --bench latency            # SAMPLES=20000
//!   TOPOLOGY=sentinel cargo bench -p hookguard-redis --bench latency   # through Sentinel
//!   TOPOLOGY=cluster cargo bench -p hookguard-redis --bench latency    # on a 3-master Cluster
//!
//! Not a criterion bench: criterion reports means and medians, and the tail is the point.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookguard_layers::rate::{LimitKey, RateQuota, RateStore};
use hookguard_layers::replay::{ReplayKey, ReplayStore, Reservation};
use hookguard_redis::{FailureMode, Redis, RedisRateStore, RedisReplayStore, RedisSettings};
use hookguard_tests::{RedisCluster, RedisSentinel, RedisServer};

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    format!(
        "p50 {:.1} µs  p99 {:.1} µs  max {:.1} µs  ({} samples)",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        samples.len()
    )
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: a quick pass then.
    let full = std::env::args().any(|a| a == "--bench");
    let samples: usize = std::env::var("SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 20_000 } else { 200 });
    // The servers live until the end; only the settings differ between topologies.
    let topology = std::env::var("TOPOLOGY").unwrap_or_else(|_| "standalone".into());
    let (settings, _servers): (RedisSettings, Box<dyn std::any::Any>) = match topology.as_str() {
        "sentinel" => {
            let setup = RedisSentinel::start();
            let settings = RedisSettings::sentinel(setup.master_name(), setup.sentinel_addrs());
            (settings, Box::new(setup))
        }
        "cluster" => {
            let cluster = RedisCluster::start();
            (RedisSettings::cluster(cluster.addrs()), Box::new(cluster))
        }
        _ => {
            let server = RedisServer::start();
            (RedisSettings::new(server.url()), Box::new(server))
        }
    };
    println!("topology: {topology}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let redis = Redis::connect(settings).await.expect("redis answers");
        let quota = RateQuota::per_second(1_000_000).expect("quota");
        let rate = RedisRateStore::new(redis.clone(), "bench", quota, FailureMode::Closed);
        let replay = RedisReplayStore::new(redis, FailureMode::Closed);
        // Warm-up: connection, script cache.
        for i in 0..1000 {
            rate.check(&LimitKey::Custom(format!("k{}", i % 100).into()))
                .await
                .expect("decision");
        }
        let mut decisions = Vec::with_capacity(samples);
        for i in 0..samples {
            let key = LimitKey::Custom(format!("k{}", i % 1000).into());
            let started = Instant::now();
            let decision = rate.check(&key).await.expect("decision");
            decisions.push(started.elapsed());
            assert!(decision.allowed);
        }
        println!("rate decision (GCRA script):  {}", percentiles(decisions));

        let route: Arc<str> = Arc::from("bench");
        let now = 1_700_000_000;
        let mut reserves = Vec::with_capacity(samples);
        for i in 0..samples {
            let key = ReplayKey::new(Arc::clone(&route), &format!("delivery-{i}"));
            let started = Instant::now();
            let Reservation::Reserved(token) =
                replay.reserve(&key, now, now + 60).await.expect("reserve")
            else {
                panic!("a fresh id is reserved");
            };
            replay
                .commit(&key, token, now, now + 86_400)
                .await
                .expect("commit");
            reserves.push(started.elapsed());
        }
        println!("replay reserve + commit:      {}", percentiles(reserves));
    });
}
