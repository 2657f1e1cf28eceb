//! What `enqueue` acknowledges is stored, whole.

use super::*;

/// Every field given to `enqueue` comes back, ready at once.
pub async fn enqueued_message_is_stored_with_every_field<S: QueueStore>(store: &S) {
    let new = message("github", Some("repo-1"), "body-1", at(5));
    let id = enqueue(store, new.clone()).await;
    let m = get(store, &id).await;
    assert_eq!(m.id, id);
    assert_eq!(m.destination, new.destination);
    assert_eq!(m.direction, new.direction);
    assert_eq!(m.ordering_key, new.ordering_key);
    assert_eq!(m.payload, new.payload);
    assert_eq!(m.meta, new.meta);
    assert_eq!(m.state, State::Ready);
    assert!(m.attempts.is_empty());
    assert_eq!(m.next_attempt_at, at(5));
    assert_eq!(m.updated_at, at(5));
    assert_eq!(m.dead_reason, None);
}

/// Ids are distinct and time-ordered; seq grows with arrival.
pub async fn ids_are_unique_and_seq_follows_arrival<S: QueueStore>(store: &S) {
    let mut seen = Vec::new();
    for i in 0..20 {
        let dest = if i % 2 == 0 { "a" } else { "b" };
        let id = enqueue(store, message(dest, None, &format!("m{i}"), at(1))).await;
        seen.push(get(store, &id).await);
    }
    for pair in seen.windows(2) {
        assert!(pair[0].id < pair[1].id, "ids grow");
        assert!(pair[0].seq < pair[1].seq, "seq grows");
    }
}

/// `get` of an id never stored is `None`, and so are settle, requeue and delete.
pub async fn unknown_id_is_none<S: QueueStore>(store: &S) {
    let id = MessageId::generate();
    assert!(store.get(&id).await.expect("get").is_none());
    let delivered = Settlement::Delivered(answered(at(1), 200));
    assert!(!store.settle(&id, delivered, at(1)).await.expect("settle"));
    assert!(!store.requeue(&id, at(1)).await.expect("requeue"));
    assert!(!store.delete(&id).await.expect("delete"));
}
