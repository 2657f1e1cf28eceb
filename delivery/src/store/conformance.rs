//! One conformance suite for every [`QueueStore`] backend (feature `conformance`).
//!
//! Each property of the contract is an `async fn` taking `&impl QueueStore`, grouped by
//! property (acknowledgements, claim and lease, ordering lanes, bounds, settle
//! transitions, dead letters, expiry, stats). [`queue_store_conformance!`] expands to one
//! `#[tokio::test]` per property, so a backend in another crate runs the very same tests:
//!
//! ```ignore
//! // tests/conformance.rs of a backend crate (dev-dependency on hookguard-delivery with
//! // the `conformance` feature, and tokio with `macros` + `rt`):
//! mod redis {
//!     hookguard_delivery::queue_store_conformance!({
//!         let server = start_redis(); // the guard: lives as long as the test
//!         (RedisQueueStore::connect(server.url()).unwrap(), server)
//!     });
//! }
//! ```
//!
//! The expression yields `(store, guard)`; the guard (a temporary directory, a server the
//! test started, or `()`) is dropped after the test. Expectations are written out here,
//! never taken from another backend.

use std::time::Duration;

use bytes::Bytes;

use crate::message::{
    Attempt, AttemptOutcome, DeadCode, DeadReason, Direction, ErrorKind, Message, MessageId,
    Metadata, NewMessage, Settlement, State, Timestamp,
};
use crate::store::{Bounds, QueueStore};

/// Expands to one `#[tokio::test]` per property of the [`QueueStore`] contract, run
/// against the store that `$make` (an expression yielding `(store, guard)`) creates.
/// Invoke it once per module.
#[macro_export]
macro_rules! queue_store_conformance {
    ($make:expr) => {
        $crate::__queue_store_conformance_groups! { $make;
            acknowledgements {
                enqueued_message_is_stored_with_every_field,
                ids_are_unique_and_seq_follows_arrival,
                unknown_id_is_none,
            }
            claim_lease {
                claim_hands_out_due_messages_oldest_due_first,
                claim_respects_limit_and_destination,
                claimed_message_is_held_until_its_lease_ends,
                scheduled_message_waits_until_due,
            }
            ordering_lanes {
                same_key_is_claimed_one_at_a_time_in_arrival_order,
                failing_head_holds_back_only_its_own_key,
                dead_or_deleted_head_lets_the_lane_move_on,
                requeued_earlier_message_goes_before_its_lane,
                expired_lease_of_a_head_keeps_the_lane_blocked_until_reclaimed,
            }
            bounds {
                full_at_max_messages_per_destination,
                full_at_max_bytes,
                settled_messages_free_the_bound,
            }
            settle_transitions {
                delivered_records_the_attempt,
                retry_schedules_the_next_attempt,
                dead_records_the_reason,
                defer_records_no_attempt,
                settling_what_is_not_in_flight_is_false,
            }
            dead_letters {
                list_filters_by_state_destination_reason_and_time,
                list_pages_by_id,
                requeue_puts_a_dead_letter_back_with_its_history,
                requeue_of_what_is_not_dead_is_false,
                delete_removes_a_message_in_any_state,
            }
            expiry {
                delivered_and_dead_expire_after_their_retention,
                pending_messages_never_expire,
            }
            stats {
                stats_count_states_bytes_and_oldest_pending,
                stats_forget_a_destination_with_no_messages,
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __queue_store_conformance_groups {
    ($make:expr; $($group:ident { $($test:ident),* $(,)? })*) => {
        $(
            mod $group {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[tokio::test]
                    async fn $test() {
                        let (store, _guard) = $make;
                        $crate::store::conformance::$group::$test(&store).await;
                    }
                )*
            }
        )*
    };
}

/// An arbitrary, fixed start of time.
pub const T0: Timestamp = Timestamp(1_700_000_000_000);

/// `T0` plus `secs` seconds.
pub fn at(secs: u64) -> Timestamp {
    T0.add(Duration::from_secs(secs))
}

/// A message for `destination` received at `received`.
pub fn message(
    destination: &str,
    key: Option<&str>,
    payload: &str,
    received: Timestamp,
) -> NewMessage {
    NewMessage {
        destination: destination.into(),
        direction: Direction::Inbound,
        ordering_key: key.map(Into::into),
        payload: Bytes::from(payload.to_owned()),
        meta: Metadata {
            received_at: received,
            client_ip: Some("192.0.2.7".into()),
            delivery_id: Some(format!("delivery-{payload}")),
            secret_id: Some("primary".into()),
            event_type: Some("push".into()),
        },
    }
}

/// An attempt at `at` that got `status`.
pub fn answered(at: Timestamp, status: u16) -> Attempt {
    Attempt {
        at,
        duration_ms: 12,
        outcome: AttemptOutcome::Status {
            code: status,
            retry_after: None,
            body: None,
        },
    }
}

/// An attempt at `at` that timed out.
pub fn timed_out(at: Timestamp) -> Attempt {
    Attempt {
        at,
        duration_ms: 30_000,
        outcome: AttemptOutcome::Error {
            kind: ErrorKind::Timeout,
            detail: "no answer in 30s".into(),
        },
    }
}

/// A dead reason with `code`.
pub fn reason(code: DeadCode) -> DeadReason {
    DeadReason {
        code,
        detail: format!("because {}", code.as_str()),
    }
}

const LEASE: Duration = Duration::from_secs(30);

async fn enqueue<S: QueueStore>(store: &S, new: NewMessage) -> MessageId {
    store
        .enqueue(new, Bounds::UNBOUNDED)
        .await
        .expect("enqueue")
}

async fn claim_ids<S: QueueStore>(
    store: &S,
    dest: &str,
    now: Timestamp,
    limit: usize,
) -> Vec<MessageId> {
    store
        .claim(dest, now, limit, LEASE)
        .await
        .expect("claim")
        .into_iter()
        .map(|m| m.id)
        .collect()
}

async fn get<S: QueueStore>(store: &S, id: &MessageId) -> Message {
    store.get(id).await.expect("get").expect("message exists")
}

async fn settle<S: QueueStore>(store: &S, id: &MessageId, settlement: Settlement, now: Timestamp) {
    assert!(
        store.settle(id, settlement, now).await.expect("settle"),
        "settled"
    );
}

/// Claims exactly `id` (alone due) and settles it dead.
async fn kill<S: QueueStore>(store: &S, dest: &str, id: &MessageId, now: Timestamp) {
    let claimed = claim_ids(store, dest, now, 10).await;
    assert!(claimed.contains(id), "{id} claimable, got {claimed:?}");
    let dead = Settlement::Dead {
        attempt: Some(answered(now, 404)),
        reason: reason(DeadCode::Rejected),
    };
    settle(store, id, dead, now).await;
}

pub mod acknowledgements;
pub mod bounds;
pub mod claim_lease;
pub mod dead_letters;
pub mod expiry;
pub mod ordering_lanes;
pub mod settle_transitions;
pub mod stats;
