//! `expire` removes delivered and dead messages after their retention, nothing else.

use super::*;

const DELIVERED_FOR: Duration = Duration::from_secs(60);
const DEAD_FOR: Duration = Duration::from_secs(600);

/// Each settled state by its own retention, counted from its last change.
pub async fn delivered_and_dead_expire_after_their_retention<S: QueueStore>(store: &S) {
    let delivered = enqueue(store, message("d", None, "ok", at(0))).await;
    let dead = enqueue(store, message("d", None, "dead", at(0))).await;
    claim_ids(store, "d", at(0), 10).await;
    settle(
        store,
        &delivered,
        Settlement::Delivered(answered(at(0), 200)),
        at(10),
    )
    .await;
    let kill = Settlement::Dead {
        attempt: None,
        reason: reason(DeadCode::Rejected),
    };
    settle(store, &dead, kill, at(20)).await;
    let expire = |secs| store.expire(at(secs), DELIVERED_FOR, DEAD_FOR);
    assert_eq!(expire(69).await.expect("expire"), 0);
    assert_eq!(expire(70).await.expect("expire"), 1);
    assert!(store.get(&delivered).await.expect("get").is_none());
    assert_eq!(expire(619).await.expect("expire"), 0);
    assert!(store.get(&dead).await.expect("get").is_some());
    assert_eq!(expire(620).await.expect("expire"), 1);
    assert!(store.get(&dead).await.expect("get").is_none());
    assert!(store.stats().await.expect("stats").is_empty());
}

/// Ready, scheduled and in-flight messages stay, however old.
pub async fn pending_messages_never_expire<S: QueueStore>(store: &S) {
    let ready = enqueue(store, message("d", None, "ready", at(0))).await;
    let scheduled = enqueue(store, message("d", None, "scheduled", at(0))).await;
    let flying = enqueue(store, message("d", None, "flying", at(0))).await;
    claim_ids(store, "d", at(0), 10).await;
    let retry = Settlement::Retry {
        attempt: answered(at(0), 503),
        at: at(1),
    };
    settle(store, &scheduled, retry, at(0)).await;
    settle(store, &ready, Settlement::Defer { at: at(0) }, at(0)).await;
    let removed = store
        .expire(at(1_000_000), Duration::ZERO, Duration::ZERO)
        .await;
    assert_eq!(removed.expect("expire"), 0);
    for id in [&ready, &scheduled, &flying] {
        assert!(store.get(id).await.expect("get").is_some());
    }
}
