//! What several of the Redis test binaries share.
#![allow(dead_code)] // each binary uses its own part

use std::time::{Duration, Instant};

use hookguard_layers::rate::RateQuota;

/// One request an hour after a burst of `burst`.
pub fn hourly(burst: u32) -> RateQuota {
    RateQuota::new(1, Duration::from_secs(3600))
        .and_then(|q| q.burst(burst))
        .expect("quota")
}

/// Polls `ok` until it holds, failing after 5 s (the recovery the issue asks for); `what`
/// says what had to come back and after what.
pub async fn recovers_within_5s(what: &str, mut ok: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if ok().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not back within 5 s");
}
