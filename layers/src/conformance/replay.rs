//! Properties every [`ReplayStore`] keeps, run against each backend by
//! [`replay_store_conformance!`](crate::replay_store_conformance).
//!
//! Times are the caller's (Unix seconds), as the trait says: a backend compares them
//! with what it stored, so these properties move time by passing a later `now`, never by
//! waiting. They start at the current time so that a backend which also expires records
//! on its own clock (Redis `PX`) agrees.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::replay::{ReplayKey, ReplayStore, Reservation, ReservationToken};

const LEASE: i64 = 60;

fn start() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1_700_000_000, |d| d.as_secs() as i64)
}

fn key(route: &str, id: &str) -> ReplayKey {
    ReplayKey::new(Arc::from(route), id)
}

async fn reserve<S: ReplayStore>(store: &S, key: &ReplayKey, now: i64) -> Reservation {
    store
        .reserve(key, now, now + LEASE)
        .await
        .expect("the store answers")
}

async fn reserved<S: ReplayStore>(store: &S, key: &ReplayKey, now: i64) -> ReservationToken {
    match reserve(store, key, now).await {
        Reservation::Reserved(token) => token,
        other => panic!("{key:?} at {now}: expected Reserved, got {other:?}"),
    }
}

/// While one request holds an id, another with the same id is in flight; other ids are
/// free.
pub async fn a_live_reservation_makes_others_in_flight<S: ReplayStore, G>(
    make: impl FnOnce() -> (S, G),
) {
    let (store, _guard) = make();
    let t = start();
    reserved(&store, &key("github", "a"), t).await;
    assert_eq!(
        reserve(&store, &key("github", "a"), t + 1).await,
        Reservation::InFlight
    );
    reserved(&store, &key("github", "b"), t + 1).await;
}

/// A committed id answers `Accepted` with its time until the window ends, then is free.
pub async fn a_commit_reports_when_it_was_accepted_until_it_expires<S: ReplayStore, G>(
    make: impl FnOnce() -> (S, G),
) {
    let (store, _guard) = make();
    let t = start();
    let a = key("github", "a");
    let token = reserved(&store, &a, t).await;
    store
        .commit(&a, token, t + 2, t + 100)
        .await
        .expect("commit");
    assert_eq!(
        reserve(&store, &a, t + 99).await,
        Reservation::Accepted { accepted_at: t + 2 }
    );
    // At `until` the record is no longer live.
    reserved(&store, &a, t + 100).await;
}

/// A reservation whose lease ended (a crashed replica) does not block the retry.
pub async fn an_expired_lease_can_be_taken_over<S: ReplayStore, G>(make: impl FnOnce() -> (S, G)) {
    let (store, _guard) = make();
    let t = start();
    let a = key("github", "a");
    let first = reserved(&store, &a, t).await;
    assert_eq!(
        reserve(&store, &a, t + LEASE - 1).await,
        Reservation::InFlight
    );
    let second = reserved(&store, &a, t + LEASE).await;
    assert_ne!(first, second, "each reservation has its own token");
}

/// Releasing with a token whose lease ran out leaves the new holder's reservation.
pub async fn release_with_a_stale_token_keeps_the_new_holders_reservation<S: ReplayStore, G>(
    make: impl FnOnce() -> (S, G),
) {
    let (store, _guard) = make();
    let t = start();
    let a = key("github", "a");
    let first = reserved(&store, &a, t).await;
    let second = reserved(&store, &a, t + LEASE + 1).await;
    store.release(&a, first).await.expect("release");
    assert_eq!(
        reserve(&store, &a, t + LEASE + 2).await,
        Reservation::InFlight
    );
    store.release(&a, second).await.expect("release");
    reserved(&store, &a, t + LEASE + 2).await;
}

/// A release (the app failed) lets the provider's retry through at once.
pub async fn release_frees_the_id_for_the_providers_retry<S: ReplayStore, G>(
    make: impl FnOnce() -> (S, G),
) {
    let (store, _guard) = make();
    let t = start();
    let a = key("github", "a");
    let token = reserved(&store, &a, t).await;
    store.release(&a, token).await.expect("release");
    reserved(&store, &a, t + 1).await;
    // Releasing what is not there is not an error.
    store
        .release(&key("github", "never-seen"), token)
        .await
        .expect("release of an unknown id");
}

/// A late release (after the commit) does not undo the commit.
pub async fn release_does_not_undo_a_commit<S: ReplayStore, G>(make: impl FnOnce() -> (S, G)) {
    let (store, _guard) = make();
    let t = start();
    let a = key("github", "a");
    let token = reserved(&store, &a, t).await;
    store
        .commit(&a, token, t + 1, t + 1000)
        .await
        .expect("commit");
    store.release(&a, token).await.expect("release");
    assert_eq!(
        reserve(&store, &a, t + 2).await,
        Reservation::Accepted { accepted_at: t + 1 }
    );
}

/// The app did accept the delivery: a commit after the lease counts.
pub async fn commit_after_the_lease_ran_out_still_records_the_acceptance<S: ReplayStore, G>(
    make: impl FnOnce() -> (S, G),
) {
    let (store, _guard) = make();
    let t = start();
    let a = key("github", "a");
    let token = reserved(&store, &a, t).await;
    let late = t + LEASE + 5;
    store
        .commit(&a, token, late, late + 600)
        .await
        .expect("commit");
    assert_eq!(
        reserve(&store, &a, late + 1).await,
        Reservation::Accepted { accepted_at: late }
    );
}

/// The same delivery id on two routes is two records.
pub async fn routes_keep_separate_records<S: ReplayStore, G>(make: impl FnOnce() -> (S, G)) {
    let (store, _guard) = make();
    let t = start();
    let on_github = key("github", "same-id");
    let token = reserved(&store, &on_github, t).await;
    store
        .commit(&on_github, token, t, t + 600)
        .await
        .expect("commit");
    reserved(&store, &key("stripe", "same-id"), t).await;
    // Ids that could collide if route and id were joined naively.
    reserved(&store, &key("git", "hub:same-id"), t).await;
    reserved(&store, &key("github:same", "id"), t).await;
}

/// Of many concurrent reservations of one id, exactly one gets it.
pub async fn concurrent_reservations_admit_exactly_one<S: ReplayStore, G>(
    make: impl FnOnce() -> (S, G),
) {
    let (store, _guard) = make();
    let store = Arc::new(store);
    let t = start();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let a = key("github", "contended");
                store.reserve(&a, t, t + LEASE).await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task").expect("the store answers") {
            Reservation::Reserved(_) => winners += 1,
            Reservation::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1);
}
