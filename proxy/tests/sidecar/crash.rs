//! Durability, proven with kill -9: the sidecar is SIGKILLed at random moments while
//! signed deliveries stream in; after each restart every delivery that was answered 2xx
//! reaches the app (at least once), and none answered with a refusal does.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookguard_tests::{try_send, upstream, Signer};

use super::{config, github_route, sidecar, SECRET};

/// Kill rounds, and concurrent senders during each.
const ROUNDS: usize = 5;
const SENDERS: usize = 16;

/// What a sender saw for one delivery id.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    Accepted,
    Refused(u16),
    NoAnswer,
}

/// A small deterministic generator for the kill moments (the seed is printed, so a failing
/// run can be repeated with HOOKGUARD_CRASH_SEED).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[tokio::test]
async fn kill_9_at_random_moments_loses_no_acknowledged_delivery() {
    let seed = std::env::var("HOOKGUARD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("HOOKGUARD_CRASH_SEED={seed}");
    let mut rng = Lcg(seed);
    // The app takes a moment per delivery, so deliveries are in flight when the kill lands.
    let app = upstream()
        .record()
        .delay(Duration::from_millis(3))
        .start()
        .await;
    let mut proxy = sidecar()
        .config(config(
            &app,
            "[queue]\nretry_schedule = [\"100ms\"]",
            &github_route(
                "github",
                "/webhooks/github",
                "delivery = \"queue\"\nqueue = { max_retries = 10 }",
            ),
        ))
        .start()
        .await;
    let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
    let url = proxy.url("/webhooks/github");
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for sender in 0..SENDERS {
            let (stop, seen, url) = (Arc::clone(&stop), Arc::clone(&seen), url.clone());
            senders.push(tokio::spawn(async move {
                let signer = Signer::new("github", SECRET);
                // Bounded: a sender stops at the flag or after 10,000 requests.
                for n in 0..10_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let id = format!("r{round}-s{sender}-n{n}");
                    let body = format!("{{\"id\":\"{id}\",\"pad\":\"{}\"}}", "x".repeat(512));
                    let outcome = match try_send(signer.post(&url, body.as_bytes(), &id)).await {
                        Ok(a) if (200..300).contains(&a.status) => Seen::Accepted,
                        Ok(a) => Seen::Refused(a.status),
                        Err(_) => Seen::NoAnswer,
                    };
                    seen.lock().unwrap().insert(id, outcome);
                    if outcome == Seen::NoAnswer {
                        break; // the sidecar is gone
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(150 + rng.next(600))).await;
        proxy.kill9();
        stop.store(true, Ordering::SeqCst);
        for s in senders {
            s.await.unwrap();
        }
        proxy.restart().await;
    }
    let seen = seen.lock().unwrap().clone();
    let accepted: HashSet<&String> = seen
        .iter()
        .filter(|(_, s)| **s == Seen::Accepted)
        .map(|(id, _)| id)
        .collect();
    assert!(
        accepted.len() > 100,
        "too little load to prove anything: {}",
        accepted.len()
    );
    let delivered = || -> HashSet<String> {
        app.requests()
            .iter()
            .filter(|r| r.status_ok())
            .filter_map(|r| r.header("x-github-delivery").map(str::to_owned))
            .collect()
    };
    // Bounded, and longer than `assert_eventually!`: a loaded CI machine may take a while
    // to drain what five rounds queued. A failure says whether messages were still queued
    // (slow) or gone (lost).
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !accepted.iter().all(|id| delivered().contains(*id)) {
        if std::time::Instant::now() >= deadline {
            let metrics = proxy.metrics().await;
            let pending: Vec<&str> = metrics
                .lines()
                .filter(|l| l.starts_with("hookguard_queue_messages{"))
                .collect();
            panic!(
                "lost: {} of {} acknowledged deliveries never reached the app (seed {seed}); queue: {pending:?}",
                accepted.iter().filter(|id| !delivered().contains(**id)).count(),
                accepted.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = delivered();
    for (id, s) in &seen {
        if let Seen::Refused(status) = s {
            assert!(
                !delivered.contains(id),
                "{id} was refused with {status} and still delivered"
            );
        }
    }
    let no_answer = seen.values().filter(|s| **s == Seen::NoAnswer).count();
    let duplicates = app.requests().len() - delivered.len();
    println!(
        "kill -9 x{ROUNDS}: {} acknowledged, all delivered; {no_answer} cut off by the kill; {} deliveries in all ({duplicates} repeats or failed attempts)",
        accepted.len(),
        app.requests().len()
    );
}
