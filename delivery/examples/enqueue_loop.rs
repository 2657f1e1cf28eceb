//! Opens an embedded store and enqueues 1 KiB messages from 16 tasks until killed,
//! printing each acknowledged id on its own line (flushed) — the kill -9 test's victim.
//!
//! `cargo run --example enqueue_loop -- /tmp/q fsync` then Ctrl-C (or `kill -9`), and
//! count the lines: every printed id is in the store when it is opened again.

use std::io::Write;
use std::sync::Arc;

use hookguard_delivery::{
    Bounds, Direction, Durability, EmbeddedOptions, EmbeddedQueueStore, Metadata, NewMessage,
    QueueStore, Timestamp,
};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: enqueue_loop DIR [fsync|os]");
        std::process::exit(2);
    };
    let durability = match args.next().as_deref() {
        Some("os") => Durability::Os,
        _ => Durability::Fsync,
    };
    let options = EmbeddedOptions::default().durability(durability);
    let store = match EmbeddedQueueStore::open(&path, options) {
        Ok(store) => Arc::new(store),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let (store, stdout) = (store.clone(), stdout.clone());
            tokio::spawn(async move {
                for i in 0u64.. {
                    let new = NewMessage {
                        destination: format!("d{}", task % 2),
                        direction: Direction::Inbound,
                        ordering_key: (task % 4 == 0).then(|| format!("k{task}")),
                        payload: vec![b'x'; 1024].into(),
                        meta: Metadata {
                            received_at: Timestamp::now(),
                            delivery_id: Some(format!("{task}-{i}")),
                            ..Metadata::default()
                        },
                    };
                    match store.enqueue(new, Bounds::UNBOUNDED).await {
                        Ok(id) => {
                            let mut out = stdout.lock().unwrap_or_else(|e| e.into_inner());
                            // The line goes out only once the id is acknowledged.
                            let _ = writeln!(out, "{id}");
                            let _ = out.flush();
                        }
                        Err(e) => eprintln!("enqueue: {e}"),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}
