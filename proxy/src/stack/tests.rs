use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use hookguard_config::{Config, Format};
use hookguard_layers::rate::{LimitKey, RateStore, DEFAULT_MAX_KEYS};

use super::{build, ProcessState};

fn client(n: u32) -> LimitKey {
    LimitKey::client(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))
}

async fn allowed(limiter: &super::RateLimiter, key: &LimitKey) -> bool {
    limiter.check(key).await.unwrap().allowed
}

/// The sidecar's limiter is the real one (`MemoryStore` on the monotonic clock, 100,000
/// keys), so the flood is real too and the test waits for the sweeper in real time: about
/// one refill period (1 s here), bounded by a deadline. The sweeper's own timing is tested
/// with virtual time in `hookguard-layers` (`sweeper_runs_on_its_interval_…`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_clients_does_not_throttle_new_ones_once_it_stops() {
    let text = r#"
upstream.address = "127.0.0.1:3000"
[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{ id = "primary", value = "s" }]
rate_limit.per_client = { requests = 1000, per = "1s" }
"#;
    let config = Config::from_text(
        text,
        Format::Toml,
        Path::new("h.toml"),
        &HashMap::<String, String>::new(),
    )
    .unwrap();
    let process = ProcessState::new(std::env::temp_dir());
    let _snapshot = build(config, &process).await.unwrap();
    let limiter = {
        let limiters = process.limiters.lock().unwrap();
        assert_eq!(limiters.len(), 1);
        limiters.values().next().cloned().unwrap()
    };

    // The flood: every bucket the table holds, then enough unknown clients to empty the
    // overflow bucket they share.
    let keys = DEFAULT_MAX_KEYS.get() as u32 + limiter.store().quota().limit();
    for n in 0..keys {
        limiter.check(&client(n)).await.unwrap();
    }
    // Unknown clients now share one bucket: it runs dry (it refills as the test runs, so
    // keep asking, boundedly, until it does).
    let mut next = keys;
    while allowed(&limiter, &client(next)).await {
        next += 1;
        assert!(next < 2 * keys, "the overflow bucket never ran dry");
    }
    let (a, b) = (client(next + 1), client(next + 2));

    // Once it stops, idle buckets are swept: two new clients get a whole burst each
    // instead of sharing the overflow bucket.
    let deadline = Instant::now() + Duration::from_secs(10);
    while limiter.store().memory().expect("buckets in memory").len() >= DEFAULT_MAX_KEYS.get() {
        assert!(
            Instant::now() < deadline,
            "the idle buckets were never swept"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..limiter.store().quota().limit() {
        assert!(allowed(&limiter, &a).await);
    }
    assert!(allowed(&limiter, &b).await, "b shares a's bucket");
}
