//! The message model: what the store keeps for one delivery, and how it changes.
//!
//! A message is created by [`QueueStore::enqueue`](crate::QueueStore::enqueue) from a
//! [`NewMessage`], handed to a worker by `claim`, and ends `Delivered` or `Dead` through
//! `settle`. The request itself (method, target, headers, body) travels as an opaque,
//! possibly sealed [`NewMessage::payload`]: stores never look inside it (see
//! [`crate::seal`]), so encryption at rest is the same for every backend and a record that
//! cannot be opened is a worker's finding, dead-lettered with a reason, never a panic.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. The engine's only notion of time, so tests inject it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The system clock's time.
    pub fn now() -> Self {
        Self(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        )
    }

    /// `self + d`, saturating.
    #[allow(clippy::should_implement_trait)] // saturating, unlike what `+` promises
    pub fn add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_millis() as u64))
    }

    /// How long from `earlier` to `self` (zero when `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Seconds since the epoch.
    pub fn as_unix_secs(self) -> u64 {
        self.0 / 1000
    }
}

/// A message's id: a UUIDv7 (time-ordered, unique across replicas), printed as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(uuid::Uuid);

impl MessageId {
    /// A fresh id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// The 16 bytes (big-endian, so byte order is time order).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// From the 16 bytes of [`MessageId::as_bytes`].
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Uuid::from_bytes(bytes))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl std::str::FromStr for MessageId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| format!("not a message id: {s:?} (expected a UUID)"))
    }
}

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Provider → hookguard → the app (a route in queue mode).
    Inbound,
    /// The app → hookguard → a subscribed endpoint.
    Outbound,
}

impl Direction {
    /// `inbound` or `outbound` (metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// What is known about a delivery besides the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// When hookguard accepted it.
    pub received_at: Timestamp,
    /// The verified client address (inbound).
    pub client_ip: Option<String>,
    /// The provider's (or the app's) delivery / event id.
    pub delivery_id: Option<String>,
    /// Which configured secret verified it (inbound).
    pub secret_id: Option<String>,
    /// The event type, where known (outbound: always).
    pub event_type: Option<String>,
}

/// A message as handed to [`QueueStore::enqueue`](crate::QueueStore::enqueue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The destination it belongs to: the route id (inbound) or the subscription id
    /// (outbound). Breakers, limits, ordering lanes and stats are per destination.
    pub destination: String,
    /// Which way it travels.
    pub direction: Direction,
    /// Messages with the same key (within one destination) are delivered one at a time in
    /// arrival order. `None`: no ordering.
    pub ordering_key: Option<String>,
    /// The request to deliver, encoded (and sealed when encryption is on) by
    /// [`crate::seal::Sealer`]. Opaque to the store.
    pub payload: Bytes,
    /// What is known about the delivery.
    pub meta: Metadata,
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for its first attempt (or put back by an operator).
    Ready,
    /// Waiting for a retry at `next_attempt_at`.
    Scheduled,
    /// Handed to a worker; back to waiting if the lease runs out without a settlement.
    InFlight,
    /// The destination accepted it (kept for the delivered retention, then removed).
    Delivered,
    /// In the dead-letter queue: only an operator (retry, delete, purge) or the dead
    /// retention removes it.
    Dead,
}

impl State {
    /// Every state, for stats and metric labels.
    pub const ALL: [State; 5] = [
        State::Ready,
        State::Scheduled,
        State::InFlight,
        State::Delivered,
        State::Dead,
    ];

    /// The state's name (metric label, API).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Scheduled => "scheduled",
            State::InFlight => "in_flight",
            State::Delivered => "delivered",
            State::Dead => "dead",
        }
    }

    /// Still waiting to be delivered (counts against the queue's bounds).
    pub fn is_pending(self) -> bool {
        matches!(self, State::Ready | State::Scheduled | State::InFlight)
    }
}

/// Why a transport attempt failed before an HTTP status came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The name did not resolve.
    Dns,
    /// The connection was refused, reset or could not be made.
    Connect,
    /// No answer within the timeout.
    Timeout,
    /// TLS handshake or certificate failure.
    Tls,
    /// The destination answered something that is not HTTP.
    Protocol,
    /// Refused by policy before sending (e.g. an SSRF guard).
    Refused,
}

impl ErrorKind {
    /// The kind's name (metric label, API).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Refused => "refused",
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The destination answered with this status.
    Status {
        /// HTTP status code.
        code: u16,
        /// `Retry-After` as sent, if any.
        retry_after: Option<String>,
        /// The start of the response body (bounded), for the attempt history.
        body: Option<String>,
    },
    /// No HTTP answer.
    Error {
        /// What went wrong.
        kind: ErrorKind,
        /// A human-readable detail (never a secret).
        detail: String,
    },
}

impl AttemptOutcome {
    /// The HTTP status, when one came back.
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptOutcome::Status { code, .. } => Some(*code),
            AttemptOutcome::Error { .. } => None,
        }
    }

    /// Whether the destination accepted the message (2xx).
    pub fn is_success(&self) -> bool {
        self.status().is_some_and(|c| (200..300).contains(&c))
    }
}

/// One delivery attempt, as kept in the message's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started.
    pub at: Timestamp,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

/// Why a message is in the dead-letter queue: a fixed code (metric label, filter) and a
/// detail for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadReason {
    /// The fixed code.
    pub code: DeadCode,
    /// E.g. "the app answered 404 Not Found", "5 attempts, last: 503".
    pub detail: String,
}

/// The fixed set of dead-letter reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadCode {
    /// The destination refused it with a 4xx that is not worth retrying.
    Rejected,
    /// Every allowed attempt failed.
    RetriesExhausted,
    /// The stored record could not be decoded or decrypted.
    Undecodable,
    /// The destination no longer exists in the configuration.
    NoDestination,
}

impl DeadCode {
    /// Every code, for pre-registered metric labels.
    pub const ALL: [DeadCode; 4] = [
        DeadCode::Rejected,
        DeadCode::RetriesExhausted,
        DeadCode::Undecodable,
        DeadCode::NoDestination,
    ];

    /// The code's name (metric label, API filter).
    pub fn as_str(self) -> &'static str {
        match self {
            DeadCode::Rejected => "rejected",
            DeadCode::RetriesExhausted => "retries_exhausted",
            DeadCode::Undecodable => "undecodable",
            DeadCode::NoDestination => "no_destination",
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// Arrival order within the store (ordering lanes follow it).
    pub seq: u64,
    /// Route id (inbound) or subscription id (outbound).
    pub destination: String,
    /// Which way it travels.
    pub direction: Direction,
    /// Its ordering key, if any.
    pub ordering_key: Option<String>,
    /// The encoded (possibly sealed) request.
    pub payload: Bytes,
    /// What is known about the delivery.
    pub meta: Metadata,
    /// Where it is in its life.
    pub state: State,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<Attempt>,
    /// When it may be attempted (Ready / Scheduled), or when its lease ends (InFlight).
    pub next_attempt_at: Timestamp,
    /// Why it is dead (Dead only).
    pub dead_reason: Option<DeadReason>,
    /// When its state last changed (retention and DLQ time filters use it).
    pub updated_at: Timestamp,
}

impl Message {
    /// A new message as a store records it on enqueue: ready at once (its `received_at`).
    pub fn from_new(new: NewMessage, id: MessageId, seq: u64) -> Self {
        let now = new.meta.received_at;
        Self {
            id,
            seq,
            destination: new.destination,
            direction: new.direction,
            ordering_key: new.ordering_key,
            payload: new.payload,
            meta: new.meta,
            state: State::Ready,
            attempts: Vec::new(),
            next_attempt_at: now,
            dead_reason: None,
            updated_at: now,
        }
    }

    /// Bytes this message counts against its destination's bound.
    pub fn size(&self) -> u64 {
        self.payload.len() as u64
    }

    /// Whether `claim` may hand it out at `now` (lanes aside): waiting and due, or in
    /// flight with an expired lease.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.state.is_pending() && self.next_attempt_at <= now
    }

    /// Applies a settlement to an in-flight message. Every backend that keeps whole
    /// records calls this, so they agree on the transitions.
    pub fn apply(&mut self, settlement: Settlement, now: Timestamp) {
        self.updated_at = now;
        match settlement {
            Settlement::Delivered(attempt) => {
                self.attempts.push(attempt);
                self.state = State::Delivered;
            }
            Settlement::Retry { attempt, at } => {
                self.attempts.push(attempt);
                self.state = State::Scheduled;
                self.next_attempt_at = at;
            }
            Settlement::Dead { attempt, reason } => {
                self.attempts.extend(attempt);
                self.state = State::Dead;
                self.dead_reason = Some(reason);
            }
            Settlement::Defer { at } => {
                self.state = if self.attempts.is_empty() {
                    State::Ready
                } else {
                    State::Scheduled
                };
                self.next_attempt_at = at;
            }
        }
    }

    /// Marks it claimed until `now + lease`.
    pub fn claim(&mut self, now: Timestamp, lease: Duration) {
        self.state = State::InFlight;
        self.next_attempt_at = now.add(lease);
        self.updated_at = now;
    }

    /// Puts a dead message back to ready (operator retry); the history is kept.
    pub fn requeue(&mut self, now: Timestamp) {
        self.state = State::Ready;
        self.next_attempt_at = now;
        self.dead_reason = None;
        self.updated_at = now;
    }

    /// Whether retention has run out: delivered ones after `delivered_for`, dead ones
    /// after `dead_for` (counted from their last change).
    pub fn expired(&self, now: Timestamp, delivered_for: Duration, dead_for: Duration) -> bool {
        match self.state {
            State::Delivered => self.updated_at.add(delivered_for) <= now,
            State::Dead => self.updated_at.add(dead_for) <= now,
            _ => false,
        }
    }
}

/// How a worker ends its claim on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The destination accepted it.
    Delivered(Attempt),
    /// The attempt failed and may be retried at `at`.
    Retry {
        /// The failed attempt.
        attempt: Attempt,
        /// When to try again.
        at: Timestamp,
    },
    /// Give up: to the dead-letter queue.
    Dead {
        /// The last attempt, if one was made.
        attempt: Option<Attempt>,
        /// Why.
        reason: DeadReason,
    },
    /// Not attempted (breaker open, rate limited, shutting down): wait until `at` with no
    /// attempt recorded, so it is not burned as a failure.
    Defer {
        /// When it may be claimed again.
        at: Timestamp,
    },
}
