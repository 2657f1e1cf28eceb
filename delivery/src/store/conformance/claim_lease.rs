//! `claim` hands out due messages once, and again only when the lease runs out.

use super::*;

/// Oldest due first: by `next_attempt_at`, then arrival.
pub async fn claim_hands_out_due_messages_oldest_due_first<S: QueueStore>(store: &S) {
    let late = enqueue(store, message("d", None, "late", at(20))).await;
    let early = enqueue(store, message("d", None, "early", at(10))).await;
    let same_a = enqueue(store, message("d", None, "same-a", at(15))).await;
    let same_b = enqueue(store, message("d", None, "same-b", at(15))).await;
    let claimed = store.claim("d", at(100), 10, LEASE).await.expect("claim");
    let ids: Vec<_> = claimed.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, vec![early, same_a, same_b, late]);
    for m in &claimed {
        assert_eq!(m.state, State::InFlight);
        assert_eq!(m.next_attempt_at, at(100).add(LEASE), "lease end");
        assert_eq!(m.updated_at, at(100));
        assert!(!m.payload.is_empty(), "claim returns the payload");
    }
    assert_eq!(get(store, &claimed[0].id).await.state, State::InFlight);
}

/// At most `limit`, and only the destination asked for; nothing not yet received.
pub async fn claim_respects_limit_and_destination<S: QueueStore>(store: &S) {
    for i in 0..5 {
        enqueue(store, message("a", None, &format!("a{i}"), at(i))).await;
        enqueue(store, message("b", None, &format!("b{i}"), at(i))).await;
    }
    let future = enqueue(store, message("a", None, "future", at(1000))).await;
    assert_eq!(claim_ids(store, "a", at(10), 0).await.len(), 0);
    let first = store.claim("a", at(10), 3, LEASE).await.expect("claim");
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|m| m.destination == "a"));
    let rest = claim_ids(store, "a", at(10), 10).await;
    assert_eq!(rest.len(), 2, "the two left, not the future one");
    assert!(!rest.contains(&future));
    assert!(claim_ids(store, "nobody", at(10), 10).await.is_empty());
    assert_eq!(claim_ids(store, "b", at(10), 10).await.len(), 5);
}

/// Claimed: not handed out again until `now + lease`; then again (at least once).
pub async fn claimed_message_is_held_until_its_lease_ends<S: QueueStore>(store: &S) {
    let id = enqueue(store, message("d", None, "x", at(0))).await;
    assert_eq!(claim_ids(store, "d", at(1), 10).await, vec![id.clone()]);
    assert!(
        claim_ids(store, "d", at(30), 10).await.is_empty(),
        "lease holds"
    );
    assert_eq!(
        claim_ids(store, "d", at(31), 10).await,
        vec![id.clone()],
        "lease over"
    );
    let m = get(store, &id).await;
    assert_eq!(m.state, State::InFlight);
    assert_eq!(m.next_attempt_at, at(31).add(LEASE));
    // The first worker's late settlement still counts: at least once, not exactly once.
    settle(
        store,
        &id,
        Settlement::Delivered(answered(at(32), 200)),
        at(32),
    )
    .await;
    assert!(claim_ids(store, "d", at(1000), 10).await.is_empty());
}

/// A retry waits for its time.
pub async fn scheduled_message_waits_until_due<S: QueueStore>(store: &S) {
    let id = enqueue(store, message("d", None, "x", at(0))).await;
    claim_ids(store, "d", at(1), 1).await;
    let retry = Settlement::Retry {
        attempt: answered(at(1), 503),
        at: at(60),
    };
    settle(store, &id, retry, at(2)).await;
    assert!(claim_ids(store, "d", at(59), 10).await.is_empty());
    assert_eq!(claim_ids(store, "d", at(60), 10).await, vec![id]);
}
