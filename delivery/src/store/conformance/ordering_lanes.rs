//! Messages with the same ordering key go one at a time, in arrival order.

use super::*;

/// Only the lane's head is claimable; the next one after it is delivered.
pub async fn same_key_is_claimed_one_at_a_time_in_arrival_order<S: QueueStore>(store: &S) {
    let ids: Vec<_> = enqueue_lane(store, "d", Some("k"), 3).await;
    for (i, id) in ids.iter().enumerate() {
        let claimed = claim_ids(store, "d", at(100 + i as u64), 10).await;
        assert_eq!(claimed, vec![id.clone()], "step {i}");
        assert!(claim_ids(store, "d", at(100 + i as u64), 10)
            .await
            .is_empty());
        let done = Settlement::Delivered(answered(at(100), 200));
        settle(store, id, done, at(100 + i as u64)).await;
    }
}

/// A head waiting for its retry holds back its own key only.
pub async fn failing_head_holds_back_only_its_own_key<S: QueueStore>(store: &S) {
    let k1 = enqueue_lane(store, "d", Some("k1"), 2).await;
    let k2 = enqueue_lane(store, "d", Some("k2"), 1).await;
    let free = enqueue(store, message("d", None, "free", at(50))).await;
    let first = claim_ids(store, "d", at(100), 10).await;
    assert_eq!(first, vec![k1[0].clone(), k2[0].clone(), free.clone()]);
    settle(
        store,
        &free,
        Settlement::Delivered(answered(at(100), 200)),
        at(100),
    )
    .await;
    let retry = Settlement::Retry {
        attempt: answered(at(100), 500),
        at: at(500),
    };
    settle(store, &k1[0], retry, at(100)).await;
    settle(
        store,
        &k2[0],
        Settlement::Delivered(answered(at(100), 200)),
        at(100),
    )
    .await;
    assert!(
        claim_ids(store, "d", at(200), 10).await.is_empty(),
        "k1's second waits"
    );
    assert_eq!(
        claim_ids(store, "d", at(500), 10).await,
        vec![k1[0].clone()]
    );
    // The lane key is per destination: the same key elsewhere is another lane.
    let other = enqueue(store, message("e", Some("k1"), "other", at(1))).await;
    assert_eq!(claim_ids(store, "e", at(600), 10).await, vec![other]);
}

/// Dead and deleted heads do not hold their lane.
pub async fn dead_or_deleted_head_lets_the_lane_move_on<S: QueueStore>(store: &S) {
    let ids = enqueue_lane(store, "d", Some("k"), 3).await;
    kill(store, "d", &ids[0], at(100)).await;
    assert_eq!(
        claim_ids(store, "d", at(101), 10).await,
        vec![ids[1].clone()]
    );
    assert!(store.delete(&ids[1]).await.expect("delete"));
    assert_eq!(
        claim_ids(store, "d", at(102), 10).await,
        vec![ids[2].clone()]
    );
}

/// An earlier message put back by an operator goes before the rest of its lane.
pub async fn requeued_earlier_message_goes_before_its_lane<S: QueueStore>(store: &S) {
    let ids = enqueue_lane(store, "d", Some("k"), 2).await;
    kill(store, "d", &ids[0], at(100)).await;
    assert_eq!(
        claim_ids(store, "d", at(101), 10).await,
        vec![ids[1].clone()]
    );
    let retry = Settlement::Retry {
        attempt: timed_out(at(101)),
        at: at(150),
    };
    settle(store, &ids[1], retry, at(101)).await;
    assert!(store.requeue(&ids[0], at(120)).await.expect("requeue"));
    assert_eq!(
        claim_ids(store, "d", at(200), 10).await,
        vec![ids[0].clone()]
    );
    assert!(claim_ids(store, "d", at(200), 10).await.is_empty());
    settle(
        store,
        &ids[0],
        Settlement::Delivered(answered(at(200), 200)),
        at(200),
    )
    .await;
    assert_eq!(
        claim_ids(store, "d", at(201), 10).await,
        vec![ids[1].clone()]
    );
}

/// A head whose lease ran out is claimed again before anything behind it.
pub async fn expired_lease_of_a_head_keeps_the_lane_blocked_until_reclaimed<S: QueueStore>(
    store: &S,
) {
    let ids = enqueue_lane(store, "d", Some("k"), 2).await;
    assert_eq!(
        claim_ids(store, "d", at(100), 10).await,
        vec![ids[0].clone()]
    );
    assert_eq!(
        claim_ids(store, "d", at(200), 10).await,
        vec![ids[0].clone()]
    );
    let defer = Settlement::Defer { at: at(300) };
    settle(store, &ids[0], defer, at(200)).await;
    assert!(claim_ids(store, "d", at(299), 10).await.is_empty());
    assert_eq!(
        claim_ids(store, "d", at(300), 10).await,
        vec![ids[0].clone()]
    );
}

/// `n` messages in lane `key`, received one second apart from `T0`.
async fn enqueue_lane<S: QueueStore>(
    store: &S,
    dest: &str,
    key: Option<&str>,
    n: u64,
) -> Vec<MessageId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let payload = format!("{}-{i}", key.unwrap_or("-"));
        ids.push(enqueue(store, message(dest, key, &payload, at(i))).await);
    }
    ids
}
