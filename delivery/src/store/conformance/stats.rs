//! `stats`: per destination counts by state, pending bytes, the oldest pending message.

use super::*;

/// Every state counted where it is; bytes and age of pending messages only.
pub async fn stats_count_states_bytes_and_oldest_pending<S: QueueStore>(store: &S) {
    let mut stored = Vec::new();
    for (payload, secs) in [
        ("1", 30),
        ("22", 10),
        ("333", 20),
        ("4444", 40),
        ("55555", 5),
    ] {
        stored.push(enqueue(store, message("a", None, payload, at(secs))).await);
    }
    enqueue(store, message("b", None, "b", at(1))).await;
    // Oldest due first: "55555", "22", "333", "1"; "4444" stays ready.
    claim_ids(store, "a", at(100), 4).await;
    settle(
        store,
        &stored[4],
        Settlement::Delivered(answered(at(100), 200)),
        at(100),
    )
    .await;
    let dead = Settlement::Dead {
        attempt: None,
        reason: reason(DeadCode::Rejected),
    };
    settle(store, &stored[1], dead, at(100)).await;
    let retry = Settlement::Retry {
        attempt: answered(at(100), 500),
        at: at(900),
    };
    settle(store, &stored[2], retry, at(100)).await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.len(), 2);
    let a = &stats[0];
    assert_eq!(a.destination, "a");
    let counts: Vec<u64> = State::ALL.iter().map(|&s| a.count(s)).collect();
    // ready "4444", scheduled "333", in flight "1", delivered "55555", dead "22".
    assert_eq!(counts, vec![1, 1, 1, 1, 1]);
    assert_eq!(a.pending(), 3);
    assert_eq!(a.pending_bytes, 4 + 3 + 1);
    assert_eq!(a.oldest_pending, Some(at(20)));
    let b = &stats[1];
    assert_eq!(
        (b.destination.as_str(), b.ready, b.pending_bytes),
        ("b", 1, 1)
    );
    assert_eq!(b.oldest_pending, Some(at(1)));
}

/// A destination whose messages are all gone is not listed.
pub async fn stats_forget_a_destination_with_no_messages<S: QueueStore>(store: &S) {
    let id = enqueue(store, message("gone", None, "x", at(0))).await;
    assert_eq!(store.stats().await.expect("stats").len(), 1);
    store.delete(&id).await.expect("delete");
    assert!(store.stats().await.expect("stats").is_empty());
}
