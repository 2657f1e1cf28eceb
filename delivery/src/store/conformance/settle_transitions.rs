//! `settle` moves an in-flight message on, and nothing else.

use super::*;

async fn claimed<S: QueueStore>(store: &S) -> MessageId {
    let id = enqueue(store, message("d", None, "x", at(0))).await;
    assert_eq!(claim_ids(store, "d", at(10), 1).await, vec![id.clone()]);
    id
}

/// Delivered: the attempt is kept, the state is final.
pub async fn delivered_records_the_attempt<S: QueueStore>(store: &S) {
    let id = claimed(store).await;
    settle(
        store,
        &id,
        Settlement::Delivered(answered(at(10), 204)),
        at(11),
    )
    .await;
    let m = get(store, &id).await;
    assert_eq!(m.state, State::Delivered);
    assert_eq!(m.attempts, vec![answered(at(10), 204)]);
    assert_eq!(m.updated_at, at(11));
}

/// Retry: the attempt is kept, scheduled for `at`; the next claim may take it then.
pub async fn retry_schedules_the_next_attempt<S: QueueStore>(store: &S) {
    let id = claimed(store).await;
    let retry = Settlement::Retry {
        attempt: timed_out(at(10)),
        at: at(70),
    };
    settle(store, &id, retry, at(40)).await;
    let m = get(store, &id).await;
    assert_eq!(
        (m.state, m.next_attempt_at, m.updated_at),
        (State::Scheduled, at(70), at(40))
    );
    assert_eq!(m.attempts, vec![timed_out(at(10))]);
    assert_eq!(claim_ids(store, "d", at(70), 1).await, vec![id.clone()]);
    let retry = Settlement::Retry {
        attempt: answered(at(70), 502),
        at: at(200),
    };
    settle(store, &id, retry, at(71)).await;
    assert_eq!(get(store, &id).await.attempts.len(), 2, "history grows");
}

/// Dead: the reason and the last attempt, if any, are kept.
pub async fn dead_records_the_reason<S: QueueStore>(store: &S) {
    let id = claimed(store).await;
    let dead = Settlement::Dead {
        attempt: None,
        reason: reason(DeadCode::NoDestination),
    };
    settle(store, &id, dead, at(12)).await;
    let m = get(store, &id).await;
    assert_eq!(m.state, State::Dead);
    assert_eq!(m.dead_reason, Some(reason(DeadCode::NoDestination)));
    assert!(m.attempts.is_empty());
    assert_eq!(m.updated_at, at(12));
}

/// Defer: no attempt; back to ready (never attempted) or scheduled (attempted before).
pub async fn defer_records_no_attempt<S: QueueStore>(store: &S) {
    let id = claimed(store).await;
    settle(store, &id, Settlement::Defer { at: at(50) }, at(11)).await;
    let m = get(store, &id).await;
    assert_eq!((m.state, m.next_attempt_at), (State::Ready, at(50)));
    assert!(m.attempts.is_empty());
    claim_ids(store, "d", at(50), 1).await;
    let retry = Settlement::Retry {
        attempt: answered(at(50), 500),
        at: at(60),
    };
    settle(store, &id, retry, at(51)).await;
    claim_ids(store, "d", at(60), 1).await;
    settle(store, &id, Settlement::Defer { at: at(90) }, at(61)).await;
    let m = get(store, &id).await;
    assert_eq!(
        (m.state, m.next_attempt_at, m.attempts.len()),
        (State::Scheduled, at(90), 1)
    );
}

/// Settling a ready, scheduled, delivered, dead or deleted message is `Ok(false)` and
/// changes nothing.
pub async fn settling_what_is_not_in_flight_is_false<S: QueueStore>(store: &S) {
    let ready = enqueue(store, message("d", None, "x", at(100))).await;
    let before = get(store, &ready).await;
    let delivered = || Settlement::Delivered(answered(at(1), 200));
    assert!(!store
        .settle(&ready, delivered(), at(1))
        .await
        .expect("settle"));
    assert_eq!(get(store, &ready).await, before);
    let id = claimed(store).await;
    settle(store, &id, delivered(), at(11)).await;
    assert!(!store.settle(&id, delivered(), at(12)).await.expect("twice"));
    let retry = Settlement::Retry {
        attempt: answered(at(12), 500),
        at: at(13),
    };
    assert!(!store
        .settle(&id, retry, at(12))
        .await
        .expect("after delivered"));
    assert_eq!(get(store, &id).await.state, State::Delivered);
    store.delete(&id).await.expect("delete");
    assert!(!store
        .settle(&id, delivered(), at(13))
        .await
        .expect("deleted"));
}
