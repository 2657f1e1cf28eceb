//! The dead-letter queue: listed with filters, put back or deleted by an operator only.

use super::*;
use crate::store::ListQuery;

/// Dead letters of `dest` with reason `code`, one per `secs` (each killed at that time).
async fn dead_letters<S: QueueStore>(
    store: &S,
    dest: &str,
    code: DeadCode,
    secs: &[u64],
) -> Vec<MessageId> {
    let mut ids = Vec::new();
    for &s in secs {
        let id = enqueue(store, message(dest, None, &format!("{dest}{s}"), at(s))).await;
        claim_ids(store, dest, at(s), 1).await;
        let dead = Settlement::Dead {
            attempt: Some(answered(at(s), 410)),
            reason: reason(code),
        };
        settle(store, &id, dead, at(s)).await;
        ids.push(id);
    }
    ids
}

fn ids(messages: Vec<Message>) -> Vec<MessageId> {
    messages.into_iter().map(|m| m.id).collect()
}

/// Every filter narrows the list; results come oldest id first.
pub async fn list_filters_by_state_destination_reason_and_time<S: QueueStore>(store: &S) {
    let a = dead_letters(store, "a", DeadCode::Rejected, &[10, 20]).await;
    let b = dead_letters(store, "b", DeadCode::RetriesExhausted, &[30]).await;
    let pending = enqueue(store, message("a", None, "pending", at(40))).await;
    let list = |q: ListQuery| async move { ids(store.list(&q).await.expect("list")) };
    let dead = ListQuery {
        state: Some(State::Dead),
        ..ListQuery::default()
    };
    assert_eq!(
        list(dead.clone()).await,
        vec![a[0].clone(), a[1].clone(), b[0].clone()]
    );
    assert_eq!(
        list(ListQuery::default()).await,
        vec![a[0].clone(), a[1].clone(), b[0].clone(), pending.clone()]
    );
    let ready = ListQuery {
        state: Some(State::Ready),
        ..ListQuery::default()
    };
    assert_eq!(list(ready).await, vec![pending]);
    let of_a = ListQuery {
        destination: Some("a".into()),
        ..dead.clone()
    };
    assert_eq!(list(of_a).await, a);
    let exhausted = ListQuery {
        reason: Some(DeadCode::RetriesExhausted),
        ..dead.clone()
    };
    assert_eq!(list(exhausted).await, b);
    let window = ListQuery {
        since: Some(at(20)),
        until: Some(at(30)),
        ..dead.clone()
    };
    assert_eq!(list(window).await, vec![a[1].clone()]);
    let shown = store.list(&dead).await.expect("list").remove(0);
    assert_eq!(
        shown.payload,
        Bytes::from("a10"),
        "list returns whole messages"
    );
    assert_eq!(shown.attempts, vec![answered(at(10), 410)]);
}

/// `after` + `limit` page through in id order without gaps or repeats.
pub async fn list_pages_by_id<S: QueueStore>(store: &S) {
    let all = dead_letters(store, "d", DeadCode::Rejected, &[1, 2, 3, 4, 5]).await;
    let mut seen = Vec::new();
    let mut query = ListQuery {
        state: Some(State::Dead),
        limit: 2,
        ..ListQuery::default()
    };
    loop {
        let page = ids(store.list(&query).await.expect("list"));
        assert!(page.len() <= 2);
        let Some(last) = page.last().cloned() else {
            break;
        };
        seen.extend(page);
        query.after = Some(last);
    }
    assert_eq!(seen, all);
}

/// Requeue: ready at `now`, reason cleared, attempts kept; claimable again.
pub async fn requeue_puts_a_dead_letter_back_with_its_history<S: QueueStore>(store: &S) {
    let id = dead_letters(store, "d", DeadCode::Rejected, &[5])
        .await
        .remove(0);
    assert!(store.requeue(&id, at(100)).await.expect("requeue"));
    let m = get(store, &id).await;
    assert_eq!(
        (m.state, m.next_attempt_at, m.updated_at),
        (State::Ready, at(100), at(100))
    );
    assert_eq!(m.dead_reason, None);
    assert_eq!(m.attempts, vec![answered(at(5), 410)]);
    let dead = ListQuery {
        state: Some(State::Dead),
        ..ListQuery::default()
    };
    assert!(store.list(&dead).await.expect("list").is_empty());
    assert_eq!(claim_ids(store, "d", at(100), 10).await, vec![id]);
}

/// Requeue of a pending or delivered message is `Ok(false)` and changes nothing.
pub async fn requeue_of_what_is_not_dead_is_false<S: QueueStore>(store: &S) {
    let id = enqueue(store, message("d", None, "x", at(0))).await;
    assert!(!store.requeue(&id, at(1)).await.expect("ready"));
    claim_ids(store, "d", at(1), 1).await;
    assert!(!store.requeue(&id, at(2)).await.expect("in flight"));
    settle(
        store,
        &id,
        Settlement::Delivered(answered(at(2), 200)),
        at(2),
    )
    .await;
    assert!(!store.requeue(&id, at(3)).await.expect("delivered"));
    assert_eq!(get(store, &id).await.state, State::Delivered);
}

/// Delete works in every state and only once.
pub async fn delete_removes_a_message_in_any_state<S: QueueStore>(store: &S) {
    let ready = enqueue(store, message("d", None, "ready", at(50))).await;
    let dead = dead_letters(store, "d", DeadCode::Rejected, &[1])
        .await
        .remove(0);
    let flying = enqueue(store, message("d", None, "flying", at(2))).await;
    claim_ids(store, "d", at(2), 1).await;
    for id in [&ready, &dead, &flying] {
        assert!(store.delete(id).await.expect("delete"));
        assert!(store.get(id).await.expect("get").is_none());
        assert!(!store.delete(id).await.expect("again"));
    }
    assert!(store
        .list(&ListQuery::default())
        .await
        .expect("list")
        .is_empty());
    assert!(claim_ids(store, "d", at(1000), 10).await.is_empty());
}
