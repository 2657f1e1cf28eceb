//! The [`ReplayStore`] trait: where delivery-id records live.
//!
//! The embedded default is [`MemoryReplayStore`](super::MemoryReplayStore); a deployment
//! with several replicas backs the same trait with Redis (`SET key pending NX EX lease`,
//! then `SET key accepted EX window`, and a compare-and-delete script for release).
//! Every method takes the caller's clock reading, so expiry follows the injected
//! [`Clock`](crate::clock::Clock) and tests never sleep.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future returned by store methods, so the trait stays object-safe
/// (`Arc<dyn ReplayStore>`) and async backends fit behind it.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// One delivery of one route: replays are detected per route, so two routes that happen
/// to see the same provider id never interfere.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ReplayKey {
    /// The route's configured id.
    pub route: Arc<str>,
    /// The provider's delivery id.
    pub delivery_id: Box<str>,
}

impl ReplayKey {
    /// The key for `delivery_id` on `route`.
    pub fn new(route: Arc<str>, delivery_id: &str) -> Self {
        Self {
            route,
            delivery_id: delivery_id.into(),
        }
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.route, self.delivery_id)
    }
}

/// Proof of a reservation: only its holder can release it, so a holder whose lease ran
/// out cannot free a reservation someone else has taken since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReservationToken(pub u64);

/// What [`ReplayStore::reserve`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The id was free and is now reserved by this token until the lease ends.
    Reserved(ReservationToken),
    /// Another request holds a live reservation for the id: it is being handled now.
    InFlight,
    /// The app already accepted this delivery (at `accepted_at`, Unix seconds).
    Accepted {
        /// When the delivery was committed.
        accepted_at: i64,
    },
}

/// The store could not answer. Never carries request data beyond the key's route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("replay store {store}: {problem}")]
pub struct StoreError {
    /// The store's name (`memory`, `redis`).
    pub store: &'static str,
    /// What went wrong.
    pub problem: String,
}

/// Records of deliveries, shared by every replica that guards the same routes.
///
/// Times are Unix seconds from the caller's clock. A record is live while `now < until`;
/// a backend may also drop records after `until` on its own clock (Redis `EX`), or evict
/// the oldest records past a capacity (the memory store) to bound memory.
pub trait ReplayStore: Send + Sync + 'static {
    /// A short name for logs and errors.
    fn name(&self) -> &'static str;

    /// Reserves `key` until `lease_until` unless a live reservation or accepted record
    /// exists. Must be atomic: of two concurrent calls, at most one gets `Reserved`.
    fn reserve<'a>(
        &'a self,
        key: &'a ReplayKey,
        now: i64,
        lease_until: i64,
    ) -> StoreFuture<'a, Reservation>;

    /// Records the delivery as accepted until `until`, replacing the reservation. Commits
    /// even when the lease has run out: the app did accept the delivery.
    fn commit<'a>(
        &'a self,
        key: &'a ReplayKey,
        token: ReservationToken,
        now: i64,
        until: i64,
    ) -> StoreFuture<'a, ()>;

    /// Frees the reservation held by `token`, so the provider's retry is admitted. Does
    /// nothing when the record is accepted or reserved by another token.
    fn release<'a>(&'a self, key: &'a ReplayKey, token: ReservationToken) -> StoreFuture<'a, ()>;
}

impl<T: ReplayStore> ReplayStore for Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn reserve<'a>(
        &'a self,
        key: &'a ReplayKey,
        now: i64,
        lease_until: i64,
    ) -> StoreFuture<'a, Reservation> {
        (**self).reserve(key, now, lease_until)
    }

    fn commit<'a>(
        &'a self,
        key: &'a ReplayKey,
        token: ReservationToken,
        now: i64,
        until: i64,
    ) -> StoreFuture<'a, ()> {
        (**self).commit(key, token, now, until)
    }

    fn release<'a>(&'a self, key: &'a ReplayKey, token: ReservationToken) -> StoreFuture<'a, ()> {
        (**self).release(key, token)
    }
}
