//! kill -9 of a process writing to the embedded store: every id it printed (acknowledged)
//! is there when the store is opened again. Real process, real disk, a few rounds.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hookguard_delivery::{
    Bounds, Direction, Durability, EmbeddedOptions, EmbeddedQueueStore, ListQuery, MessageId,
    Metadata, NewMessage, QueueStore, Timestamp,
};

/// Set in the child: the store's directory (the child's durability in `KILL9_DURABILITY`).
const CHILD_DIR: &str = "HOOKGUARD_KILL9_DIR";
const CHILD_DURABILITY: &str = "HOOKGUARD_KILL9_DURABILITY";

/// The victim: this test binary run again with only `enqueue_loop_child` selected and the
/// directory in the environment (no second binary to build, so `cargo test` alone works).
fn enqueue_loop(dir: &std::path::Path, durability: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test path"));
    command
        .args([
            "--exact",
            "enqueue_loop_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_DURABILITY, durability);
    command
}

/// In the child only: enqueues 1 KiB messages from 16 tasks until killed, printing each
/// acknowledged id on its own line (flushed). Does nothing in a normal test run.
#[test]
fn enqueue_loop_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let durability = match std::env::var(CHILD_DURABILITY).as_deref() {
        Ok("os") => Durability::Os,
        _ => Durability::Fsync,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let options = EmbeddedOptions::default().durability(durability);
        let store = Arc::new(EmbeddedQueueStore::open(&dir, options).expect("open the store"));
        let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let (store, stdout) = (store.clone(), stdout.clone());
                tokio::spawn(async move {
                    // Bounded: the parent kills it long before.
                    for i in 0u64..10_000_000 {
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
                        if let Ok(id) = store.enqueue(new, Bounds::UNBOUNDED).await {
                            let mut out = stdout.lock().unwrap_or_else(|e| e.into_inner());
                            // The line goes out only once the id is acknowledged.
                            let _ = writeln!(out, "{id}");
                            let _ = out.flush();
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_enqueue_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acknowledged: Vec<MessageId> = Vec::new();
    // Pseudo-random kill moments, fixed so a failure can be replayed.
    let waits = [137u64, 412, 59, 268, 333];
    for (round, wait) in waits.iter().enumerate() {
        let durability = if round % 2 == 0 { "fsync" } else { "os" };
        let mut child = enqueue_loop(dir.path(), durability)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn enqueue_loop");
        let stdout = child.stdout.take().expect("stdout");
        let (first, first_seen) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut ids = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(id) = line.parse::<MessageId>() {
                    if ids.is_empty() {
                        let _ = first.send(());
                    }
                    ids.push(id);
                }
            }
            ids
        });
        // Once it is acknowledging, a little more, then SIGKILL (that is Child::kill).
        let writing = first_seen.recv_timeout(Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(*wait));
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        let printed = reader.join().expect("reader");
        assert!(
            writing.is_ok(),
            "round {round}: nothing acknowledged in 60 s"
        );
        eprintln!(
            "round {round} ({durability}): {} acknowledged before kill -9",
            printed.len()
        );
        acknowledged.extend(printed);

        let store = EmbeddedQueueStore::open(dir.path(), EmbeddedOptions::default())
            .expect("reopen after kill -9");
        let mut missing = 0;
        for id in &acknowledged {
            if store.get(id).await.expect("get").is_none() {
                missing += 1;
            }
        }
        assert_eq!(missing, 0, "round {round}: acknowledged ids lost");
        let all = ListQuery {
            limit: 10_000,
            ..ListQuery::default()
        };
        assert!(store.list(&all).await.expect("list").len() >= acknowledged.len().min(10_000));
    }
    assert!(
        acknowledged.len() > 100,
        "only {} enqueues in all rounds",
        acknowledged.len()
    );
}
