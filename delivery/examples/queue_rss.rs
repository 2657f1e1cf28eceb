//! Memory with many queued messages: `fill` enqueues N 1 KiB messages (os durability, 64
//! callers); `open` opens the filled store in a fresh process, claims once, and prints the
//! resident set size (VmRSS, Linux) and how long opening took.
//!
//! `cargo run --release --example queue_rss -- fill /tmp/q 1000000`
//! `cargo run --release --example queue_rss -- open /tmp/q`

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookguard_delivery::{
    Bounds, Direction, Durability, EmbeddedOptions, EmbeddedQueueStore, Metadata, NewMessage,
    QueueStore, Timestamp,
};

fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "VmRSS: unknown".into())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: queue_rss fill DIR N | queue_rss open DIR");
        std::process::exit(2);
    };
    let started = Instant::now();
    let options = EmbeddedOptions::default().durability(Durability::Os);
    let store = match EmbeddedQueueStore::open(path, options) {
        Ok(store) => Arc::new(store),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!("opened in {:?}; {}", started.elapsed(), rss());
    if mode == "fill" {
        let total: u64 = args
            .get(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000_000);
        let callers: Vec<_> = (0..64)
            .map(|c| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..total / 64 {
                        let new = NewMessage {
                            destination: format!("route-{}", c % 4),
                            direction: Direction::Inbound,
                            ordering_key: None,
                            payload: vec![b'x'; 1024].into(),
                            meta: Metadata {
                                received_at: Timestamp(i),
                                ..Metadata::default()
                            },
                        };
                        if let Err(e) = store.enqueue(new, Bounds::UNBOUNDED).await {
                            eprintln!("{e}");
                            return;
                        }
                    }
                })
            })
            .collect();
        for caller in callers {
            let _ = caller.await;
        }
        println!("filled {total} in {:?}; {}", started.elapsed(), rss());
    } else {
        let claimed = store
            .claim("route-0", Timestamp::now(), 100, Duration::from_secs(30))
            .await;
        let stats = store.stats().await.unwrap_or_default();
        let pending: u64 = stats.iter().map(|s| s.pending()).sum();
        println!(
            "{pending} pending; claimed {}; {}",
            claimed.map(|c| c.len()).unwrap_or(0),
            rss()
        );
    }
}
