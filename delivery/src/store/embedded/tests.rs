//! What only a store on disk can get wrong: reopening, corruption, group commit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::message::{DeadCode, MessageId, Settlement, State};
use crate::store::conformance::{answered, at, message};
use crate::store::{Bounds, Durability, ListQuery, QueueStore, StoreError};

const LEASE: Duration = Duration::from_secs(30);

fn open(dir: &tempfile::TempDir) -> EmbeddedQueueStore {
    EmbeddedQueueStore::open(dir.path(), EmbeddedOptions::default()).expect("open")
}

async fn enqueue(store: &EmbeddedQueueStore, dest: &str, key: Option<&str>, i: u64) -> MessageId {
    store
        .enqueue(
            message(dest, key, &format!("m{i}"), at(i)),
            Bounds::UNBOUNDED,
        )
        .await
        .expect("enqueue")
}

mod reopen {
    use super::*;

    #[tokio::test]
    async fn everything_acknowledged_is_there_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let mut ids = Vec::new();
        for i in 0..50 {
            ids.push(enqueue(&store, "d", None, i).await);
        }
        store.claim("d", at(100), 3, LEASE).await.unwrap();
        store
            .settle(
                &ids[0],
                Settlement::Delivered(answered(at(100), 200)),
                at(101),
            )
            .await
            .unwrap();
        let before = store
            .list(&ListQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        drop(store);
        let store = open(&dir);
        let after = store
            .list(&ListQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(after.len(), 50);
        for (b, a) in before.iter().zip(&after) {
            if b.state == State::InFlight {
                assert_eq!(a.state, State::Ready);
            } else {
                assert_eq!(a, b);
            }
        }
        let stats = store.stats().await.unwrap();
        assert_eq!(
            (stats[0].ready, stats[0].delivered, stats[0].in_flight),
            (49, 1, 0)
        );
    }

    #[tokio::test]
    async fn in_flight_goes_back_to_waiting_due_when_it_was_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let fresh = enqueue(&store, "d", None, 0).await;
        let retried = enqueue(&store, "d", None, 1).await;
        store.claim("d", at(10), 10, LEASE).await.unwrap();
        let retry = Settlement::Retry {
            attempt: answered(at(10), 503),
            at: at(20),
        };
        store.settle(&retried, retry, at(10)).await.unwrap();
        store.claim("d", at(20), 10, LEASE).await.unwrap();
        drop(store);
        let store = open(&dir);
        let fresh = store.get(&fresh).await.unwrap().unwrap();
        assert_eq!((fresh.state, fresh.next_attempt_at), (State::Ready, at(10)));
        let retried = store.get(&retried).await.unwrap().unwrap();
        assert_eq!(
            (retried.state, retried.next_attempt_at),
            (State::Scheduled, at(20))
        );
        // Due at once: no waiting out a lease nobody holds.
        assert_eq!(store.claim("d", at(21), 10, LEASE).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn seq_and_lane_order_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let mut lane = Vec::new();
        for i in 0..3 {
            lane.push(enqueue(&store, "d", Some("k"), i).await);
        }
        let last = enqueue(&store, "d", None, 3).await;
        store.claim("d", at(5), 1, LEASE).await.unwrap();
        let seq_before = store.get(&last).await.unwrap().unwrap().seq;
        store.delete(&last).await.unwrap();
        drop(store);
        let store = open(&dir);
        let next = enqueue(&store, "d", None, 4).await;
        assert!(
            store.get(&next).await.unwrap().unwrap().seq > seq_before,
            "seq never reused"
        );
        for id in &lane {
            let claimed = store.claim("d", at(100), 10, LEASE).await.unwrap();
            let claimed: Vec<_> = claimed
                .into_iter()
                .map(|m| m.id)
                .filter(|i| *i != next)
                .collect();
            assert_eq!(claimed, vec![id.clone()]);
            let done = Settlement::Delivered(answered(at(100), 200));
            assert!(store.settle(id, done, at(100)).await.unwrap());
        }
    }
}

mod corruption {
    use super::*;

    /// Overwrites `id`'s head record with bytes that do not decode.
    fn corrupt(dir: &tempfile::TempDir, id: &MessageId) {
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let messages = db
            .keyspace("messages", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        messages
            .insert(id.as_bytes(), [1u8, 0xff, 0xff, 0xff])
            .unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }

    #[tokio::test]
    async fn corrupt_record_is_reported_and_dead_lettered_not_blocking_its_lane() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let bad = enqueue(&store, "d", Some("k"), 0).await;
        let behind = enqueue(&store, "d", Some("k"), 1).await;
        let other = enqueue(&store, "d", None, 2).await;
        drop(store);
        corrupt(&dir, &bad);

        let store = open(&dir);
        match store.get(&bad).await {
            Err(StoreError::Corrupt { id, detail }) => {
                assert_eq!(id, bad.to_string());
                assert!(detail.contains("head record"), "{detail}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        let all = store.list(&ListQuery::default()).await.unwrap();
        assert_eq!(all.len(), 2, "list leaves the corrupt record out");
        let claimed: Vec<_> = store
            .claim("d", at(10), 10, LEASE)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(claimed, vec![other], "the corrupt head is skipped");
        let dead = store.get(&bad).await.unwrap().expect("dead-lettered");
        assert_eq!(dead.state, State::Dead);
        assert_eq!(dead.destination, "d");
        assert_eq!(dead.dead_reason.unwrap().code, DeadCode::Undecodable);
        assert_eq!(dead.payload, "m0", "the payload is kept for the operator");
        let claimed: Vec<_> = store
            .claim("d", at(11), 10, LEASE)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(claimed, vec![behind], "its lane moved on");
        assert!(store.delete(&bad).await.unwrap());
    }

    #[tokio::test]
    async fn corrupt_record_outside_the_due_index_can_be_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let id = enqueue(&store, "d", None, 0).await;
        store.claim("d", at(1), 1, LEASE).await.unwrap();
        store
            .settle(&id, Settlement::Delivered(answered(at(1), 200)), at(1))
            .await
            .unwrap();
        drop(store);
        corrupt(&dir, &id);
        let store = open(&dir);
        assert!(matches!(
            store
                .settle(&id, Settlement::Defer { at: at(1) }, at(2))
                .await,
            Err(StoreError::Corrupt { .. })
        ));
        assert!(store.delete(&id).await.unwrap());
        assert!(store.get(&id).await.unwrap().is_none());
        assert_eq!(
            store
                .expire(at(10_000), Duration::ZERO, Duration::ZERO)
                .await
                .unwrap(),
            0
        );
    }
}

mod group_commit {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_enqueues_share_commits_and_the_observer_sees_them() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let counted = seen.clone();
        let options = EmbeddedOptions {
            commit_interval: Duration::from_millis(5),
            ..EmbeddedOptions::default()
        }
        .observer(move |records: usize, _latency: Duration| {
            counted.fetch_add(records, Ordering::Relaxed);
        });
        let store = Arc::new(EmbeddedQueueStore::open(dir.path(), options).unwrap());
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { enqueue(&store, "d", None, i).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let stats = store.commit_stats();
        assert_eq!(stats.records, 64);
        assert!(stats.commits < 32, "64 writes in {} commits", stats.commits);
        assert_eq!(seen.load(Ordering::Relaxed), 64);
    }

    #[tokio::test]
    async fn os_durability_acknowledges_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default().durability(Durability::Os);
        let store = EmbeddedQueueStore::open(dir.path(), options.clone()).unwrap();
        let id = enqueue(&store, "d", None, 0).await;
        drop(store);
        let store = EmbeddedQueueStore::open(dir.path(), options).unwrap();
        assert!(store.get(&id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn closed_store_refuses_and_reports_unhealthy() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.healthy().await.unwrap();
        store.close();
        let refused = store
            .enqueue(message("d", None, "x", at(0)), Bounds::UNBOUNDED)
            .await;
        assert!(matches!(refused, Err(StoreError::Closed)));
        assert!(store.healthy().await.is_err());
    }

    #[test]
    fn open_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = EmbeddedQueueStore::open(&file, EmbeddedOptions::default()).unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
