//! The [`QueueStore`] trait: where messages wait, and the contract every backend keeps.
//!
//! Backends: [`MemoryQueueStore`] (in process; the reference the other backends are tested
//! against, and the store of tests), the embedded disk store (the default of the sidecar),
//! and Redis Streams (shared by replicas). One conformance suite runs against each.
//!
//! # The contract
//! - **Acknowledged means durable.** When `enqueue` returns `Ok`, the message survives a
//!   crash of the process (and, with [`Durability::Fsync`], a power loss). Callers answer
//!   2xx only after that.
//! - **At least once.** A claimed message whose lease ends without a settlement is
//!   claimable again (a worker that crashed mid-delivery); a backend that owns its files
//!   alone may release every lease when it opens.
//! - **Ordering lanes.** Within one destination, a message with an ordering key is never
//!   claimed while an earlier message (lower `seq`) with the same key is pending (ready,
//!   scheduled or in flight). A dead or delivered head lets the lane move on.
//! - **Bounds.** `enqueue` refuses with [`StoreError::Full`] when the destination already
//!   holds `max_messages` pending messages or `max_bytes` of pending payloads.
//! - **Dead letters stay** until an operator retries or deletes them, or `expire` removes
//!   them after the dead retention.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::message::{DeadCode, Message, MessageId, NewMessage, Settlement, State, Timestamp};

#[cfg(feature = "conformance")]
pub mod conformance;
mod embedded;
mod memory;

pub use embedded::{CommitObserver, CommitStats, EmbeddedOptions, EmbeddedQueueStore};
pub use memory::MemoryQueueStore;

/// When an acknowledged enqueue is safe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Written and `fsync`ed before the acknowledgement: survives a power loss or a kernel
    /// crash. Many enqueues share one fsync (group commit).
    #[default]
    Fsync,
    /// Written to the operating system before the acknowledgement: survives a crash (or
    /// kill -9) of the process, not of the machine.
    Os,
}

/// A destination's bounds on what may wait in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Pending messages at most.
    pub max_messages: u64,
    /// Pending payload bytes at most.
    pub max_bytes: u64,
}

impl Bounds {
    /// No bound (tests).
    pub const UNBOUNDED: Bounds = Bounds {
        max_messages: u64::MAX,
        max_bytes: u64::MAX,
    };
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The destination's queue is at its bound: refuse, and let the sender retry.
    #[error("queue for {destination} is full ({what})")]
    Full {
        /// The destination.
        destination: String,
        /// Which bound: "10000 messages" or "64 MiB".
        what: String,
    },
    /// The backend failed (disk, network); nothing was acknowledged.
    #[error("queue store: {0}")]
    Backend(String),
    /// A stored record could not be decoded.
    #[error("queue store: record {id} is corrupt: {detail}")]
    Corrupt {
        /// The record's id, as far as it could be read.
        id: String,
        /// What is wrong.
        detail: String,
    },
    /// The store has been closed.
    #[error("queue store is closed")]
    Closed,
}

/// Which messages to list (the dead-letter queue's filters, and more).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Only messages in this state (usually `Dead`).
    pub state: Option<State>,
    /// Only this destination.
    pub destination: Option<String>,
    /// Only this dead-letter reason.
    pub reason: Option<DeadCode>,
    /// Only messages whose state changed at or after this time.
    pub since: Option<Timestamp>,
    /// Only messages whose state changed before this time.
    pub until: Option<Timestamp>,
    /// Only messages after this id (pagination: ids are time-ordered).
    pub after: Option<MessageId>,
    /// At most this many (0: the store's default page of 100).
    pub limit: usize,
}

impl ListQuery {
    /// Whether `message` passes every filter but `after` and `limit`.
    pub fn matches(&self, message: &Message) -> bool {
        self.state.is_none_or(|s| s == message.state)
            && self
                .destination
                .as_deref()
                .is_none_or(|d| d == message.destination)
            && self
                .reason
                .is_none_or(|r| message.dead_reason.as_ref().is_some_and(|d| d.code == r))
            && self.since.is_none_or(|t| message.updated_at >= t)
            && self.until.is_none_or(|t| message.updated_at < t)
    }

    /// The page size to use.
    pub fn page(&self) -> usize {
        match self.limit {
            0 => 100,
            n => n.min(10_000),
        }
    }
}

/// What one destination holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationStats {
    /// The destination.
    pub destination: String,
    /// Messages waiting for their first attempt.
    pub ready: u64,
    /// Messages waiting for a retry.
    pub scheduled: u64,
    /// Messages being delivered.
    pub in_flight: u64,
    /// Delivered messages still kept (retention).
    pub delivered: u64,
    /// Dead letters.
    pub dead: u64,
    /// Payload bytes of pending messages.
    pub pending_bytes: u64,
    /// `received_at` of the oldest pending message.
    pub oldest_pending: Option<Timestamp>,
}

impl DestinationStats {
    /// The count for one state.
    pub fn count(&self, state: State) -> u64 {
        match state {
            State::Ready => self.ready,
            State::Scheduled => self.scheduled,
            State::InFlight => self.in_flight,
            State::Delivered => self.delivered,
            State::Dead => self.dead,
        }
    }

    pub(crate) fn count_mut(&mut self, state: State) -> &mut u64 {
        match state {
            State::Ready => &mut self.ready,
            State::Scheduled => &mut self.scheduled,
            State::InFlight => &mut self.in_flight,
            State::Delivered => &mut self.delivered,
            State::Dead => &mut self.dead,
        }
    }

    /// Messages still to deliver.
    pub fn pending(&self) -> u64 {
        self.ready + self.scheduled + self.in_flight
    }
}

/// Where messages wait. See the module docs for the contract.
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Stores a new message; `Ok` only once it is durable. Refuses with
    /// [`StoreError::Full`] beyond `bounds`.
    async fn enqueue(&self, message: NewMessage, bounds: Bounds) -> Result<MessageId, StoreError>;

    /// Hands out up to `limit` messages of `destination` that are due at `now` (ready or
    /// scheduled with `next_attempt_at <= now`, or in flight with an expired lease), oldest
    /// due first, respecting ordering lanes. They become `InFlight` until `now + lease`.
    async fn claim(
        &self,
        destination: &str,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Message>, StoreError>;

    /// Ends a claim: records the attempt (if any) and moves the message on. Settling a
    /// message that is not in flight (an operator deleted it meanwhile) is not an error:
    /// returns `Ok(false)`.
    async fn settle(
        &self,
        id: &MessageId,
        settlement: Settlement,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// One message.
    async fn get(&self, id: &MessageId) -> Result<Option<Message>, StoreError>;

    /// Messages matching `query`, oldest id first.
    async fn list(&self, query: &ListQuery) -> Result<Vec<Message>, StoreError>;

    /// Puts a dead message back to ready (attempt history kept). `Ok(false)` when it is
    /// not dead or does not exist.
    async fn requeue(&self, id: &MessageId, now: Timestamp) -> Result<bool, StoreError>;

    /// Removes a message whatever its state. `Ok(false)` when it does not exist.
    async fn delete(&self, id: &MessageId) -> Result<bool, StoreError>;

    /// Per destination counts, bytes and the oldest pending message.
    async fn stats(&self) -> Result<Vec<DestinationStats>, StoreError>;

    /// Removes delivered messages settled before `now - delivered_for` and dead ones
    /// before `now - dead_for`. Returns how many were removed.
    async fn expire(
        &self,
        now: Timestamp,
        delivered_for: Duration,
        dead_for: Duration,
    ) -> Result<u64, StoreError>;

    /// Whether the store can take writes (for `/readyz`).
    async fn healthy(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The bound `message` would cross in `stats`, as text for [`StoreError::Full`].
pub fn crossed_bound(stats: &DestinationStats, size: u64, bounds: Bounds) -> Option<String> {
    if stats.pending() >= bounds.max_messages {
        Some(format!("{} messages", bounds.max_messages))
    } else if stats.pending_bytes.saturating_add(size) > bounds.max_bytes {
        Some(format!("{} bytes", bounds.max_bytes))
    } else {
        None
    }
}
