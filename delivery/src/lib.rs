//! hookguard's durable delivery engine: messages wait in a [`QueueStore`] until a worker
//! delivers them, with retries on a schedule, a circuit breaker per destination, optional
//! per-key ordering, and a dead-letter queue for what cannot be delivered.
//!
//! One engine serves both directions: inbound queue mode (provider → hookguard → store →
//! the app) and outbound (the app → hookguard → store → subscribed endpoints). It knows
//! nothing of pingora or of the config file.
//!
//! ```
//! use hookguard_delivery::{
//!     Bounds, Direction, Metadata, MemoryQueueStore, NewMessage, QueueStore, Request, Sealer,
//!     Timestamp,
//! };
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryQueueStore::new();
//! let sealer = Sealer::plain();
//! let request = Request {
//!     method: "POST".into(),
//!     target: "/hooks/github".into(),
//!     headers: vec![("content-type".into(), "application/json".into())],
//!     body: "{}".into(),
//! };
//! let id = store
//!     .enqueue(
//!         NewMessage {
//!             destination: "github".into(),
//!             direction: Direction::Inbound,
//!             ordering_key: None,
//!             payload: sealer.seal(&request),
//!             meta: Metadata { received_at: Timestamp::now(), ..Metadata::default() },
//!         },
//!         Bounds::UNBOUNDED,
//!     )
//!     .await
//!     .unwrap();
//! let claimed = store
//!     .claim("github", Timestamp::now(), 10, std::time::Duration::from_secs(30))
//!     .await
//!     .unwrap();
//! assert_eq!(claimed[0].id, id);
//! assert_eq!(sealer.open(&claimed[0].payload).unwrap(), request);
//! # });
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

pub mod breaker;
pub mod clock;
pub mod message;
pub mod observer;
pub mod policy;
pub mod request;
pub mod schedule;
pub mod seal;
pub mod store;
pub mod transport;
pub mod worker;

pub use breaker::{Breaker, BreakerConfig, BreakerState, Permit};
pub use clock::{Clock, ManualClock, SystemClock};
pub use message::{
    Attempt, AttemptOutcome, DeadCode, DeadReason, Direction, ErrorKind, Message, MessageId,
    Metadata, NewMessage, Settlement, State, Timestamp,
};
pub use observer::{NoopObserver, Observer};
pub use policy::{DestinationPolicy, PolicyError};
pub use request::Request;
pub use schedule::{Decision, EmptySchedule, FullJitter, Jitter, Schedule, Verdict};
pub use seal::{EncryptionKey, KeyError, OpenError, Sealer};
pub use store::{
    Bounds, CommitObserver, CommitStats, DestinationStats, Durability, EmbeddedOptions,
    EmbeddedQueueStore, ListQuery, MemoryQueueStore, QueueStore, StoreError,
};
pub use transport::{HttpTransport, Transport, TransportError};
pub use worker::Engine;
