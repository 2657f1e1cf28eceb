//! kill -9 of a process writing to the embedded store: every id it printed (acknowledged)
//! is there when the store is opened again. Real process, real disk, a few rounds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use hookguard_delivery::{EmbeddedOptions, EmbeddedQueueStore, ListQuery, MessageId, QueueStore};

/// The example binary, built by cargo next to this test's own executable.
fn enqueue_loop() -> std::path::PathBuf {
    let mut dir = std::env::current_exe().expect("test path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("examples").join("enqueue_loop");
    assert!(
        bin.exists(),
        "build it first: cargo build --example enqueue_loop ({bin:?})"
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_enqueue_survives_kill_9() {
    let bin = enqueue_loop();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acknowledged: Vec<MessageId> = Vec::new();
    // Pseudo-random kill moments, fixed so a failure can be replayed.
    let waits = [137u64, 412, 59, 268, 333];
    for (round, wait) in waits.iter().enumerate() {
        let durability = if round % 2 == 0 { "fsync" } else { "os" };
        let mut child = Command::new(&bin)
            .arg(dir.path())
            .arg(durability)
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
