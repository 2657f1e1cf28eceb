//! `enqueue` refuses with `Full` at a destination's bounds, counting pending messages only.

use super::*;

fn full(result: Result<MessageId, crate::StoreError>) -> String {
    match result {
        Err(crate::StoreError::Full { destination, what }) => format!("{destination}: {what}"),
        other => panic!("expected Full, got {other:?}"),
    }
}

/// The `max_messages + 1`-th pending message is refused; other destinations are not.
pub async fn full_at_max_messages_per_destination<S: QueueStore>(store: &S) {
    let bounds = Bounds {
        max_messages: 3,
        max_bytes: u64::MAX,
    };
    for i in 0..3 {
        store
            .enqueue(message("d", None, &format!("{i}"), at(i)), bounds)
            .await
            .expect("fits");
    }
    let refused = store.enqueue(message("d", None, "x", at(9)), bounds).await;
    assert_eq!(full(refused), "d: 3 messages");
    store
        .enqueue(message("other", None, "x", at(9)), bounds)
        .await
        .expect("other fits");
    assert_eq!(
        store.list(&Default::default()).await.expect("list").len(),
        4
    );
}

/// Pending payload bytes may reach `max_bytes`, not cross it.
pub async fn full_at_max_bytes<S: QueueStore>(store: &S) {
    let bounds = Bounds {
        max_messages: u64::MAX,
        max_bytes: 10,
    };
    store
        .enqueue(message("d", None, "123456", at(0)), bounds)
        .await
        .expect("6 bytes");
    let refused = store
        .enqueue(message("d", None, "12345", at(1)), bounds)
        .await;
    assert_eq!(full(refused), "d: 10 bytes");
    store
        .enqueue(message("d", None, "1234", at(2)), bounds)
        .await
        .expect("exactly 10");
}

/// Delivered and dead messages do not count; in-flight and scheduled ones do.
pub async fn settled_messages_free_the_bound<S: QueueStore>(store: &S) {
    let bounds = Bounds {
        max_messages: 2,
        max_bytes: u64::MAX,
    };
    let a = store
        .enqueue(message("d", None, "a", at(0)), bounds)
        .await
        .expect("a");
    let b = store
        .enqueue(message("d", None, "b", at(1)), bounds)
        .await
        .expect("b");
    claim_ids(store, "d", at(5), 10).await;
    let retry = Settlement::Retry {
        attempt: answered(at(5), 503),
        at: at(60),
    };
    settle(store, &b, retry, at(5)).await;
    full(store.enqueue(message("d", None, "c", at(6)), bounds).await);
    settle(
        store,
        &a,
        Settlement::Delivered(answered(at(5), 200)),
        at(6),
    )
    .await;
    let c = store
        .enqueue(message("d", None, "c", at(7)), bounds)
        .await
        .expect("c fits");
    full(store.enqueue(message("d", None, "e", at(8)), bounds).await);
    kill(store, "d", &c, at(9)).await;
    store
        .enqueue(message("d", None, "e", at(10)), bounds)
        .await
        .expect("e fits");
}
