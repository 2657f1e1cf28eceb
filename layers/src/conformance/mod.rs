//! Conformance suites for the layers' store traits (feature `conformance`): the same
//! properties, run against the in-memory stores here and the Redis stores of
//! `hookguard-redis` — the way tower-sessions tests its stores.
//!
//! Each property is an `async fn` taking a factory; the macros expand to one
//! `#[tokio::test]` per property (the calling crate needs tokio with `macros` and `rt`):
//!
//! ```ignore
//! mod memory {
//!     hookguard_layers::rate_store_conformance!(|quota| {
//!         (MemoryStore::new(quota, 1000).unwrap(), ())
//!     });
//!     hookguard_layers::replay_store_conformance!(|| (MemoryReplayStore::default(), ()));
//! }
//! ```
//!
//! The factory returns `(store, guard)`; the guard (a server the test started, or `()`)
//! lives as long as the test. Expectations are written out here, never taken from
//! another backend.

pub mod rate;
pub mod replay;

/// One `#[tokio::test]` per [`RateStore`](crate::rate::RateStore) property, against the
/// store that `$make` (a closure from a [`RateQuota`](crate::rate::RateQuota) to
/// `(store, guard)`) builds.
#[macro_export]
macro_rules! rate_store_conformance {
    ($make:expr) => {
        $crate::__store_conformance_tests! { rate, $make;
            a_fresh_key_admits_its_burst_then_refuses,
            a_refusal_says_when_to_retry_and_when_the_bucket_is_full,
            keys_have_separate_buckets,
            capacity_comes_back_after_the_interval,
            concurrent_checks_never_admit_more_than_the_burst,
        }
    };
}

/// One `#[tokio::test]` per [`ReplayStore`](crate::replay::ReplayStore) property, against
/// the store that `$make` (a closure yielding `(store, guard)`) builds.
#[macro_export]
macro_rules! replay_store_conformance {
    ($make:expr) => {
        $crate::__store_conformance_tests! { replay, $make;
            a_live_reservation_makes_others_in_flight,
            a_commit_reports_when_it_was_accepted_until_it_expires,
            an_expired_lease_can_be_taken_over,
            release_with_a_stale_token_keeps_the_new_holders_reservation,
            release_frees_the_id_for_the_providers_retry,
            release_does_not_undo_a_commit,
            commit_after_the_lease_ran_out_still_records_the_acceptance,
            routes_keep_separate_records,
            concurrent_reservations_admit_exactly_one,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    ($suite:ident, $make:expr; $($test:ident),* $(,)?) => {
        mod $suite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    $crate::conformance::$suite::$test($make).await;
                }
            )*
        }
    };
}
