//! Replay guard: a delivery the app already accepted is not forwarded again.
//!
//! [`ReplayGuardLayer`] sits after signature verification and reads the
//! [`Verified`](crate::verify::Verified) extension it leaves. For each request with a
//! delivery id it works on the pair (route id, delivery id):
//!
//! 1. **Reserve** the id in a [`ReplayStore`] while the app handles the request. A second
//!    request with the same id meanwhile gets `409 Conflict` with `Retry-After` — not a
//!    duplicate acknowledgement, since the first attempt may still fail.
//! 2. **Commit** the id when the app answers 2xx: for the window, a repeat is answered
//!    `200` with `{"error":"duplicate",…}` and not forwarded ([`OnDuplicate::Conflict`]
//!    answers `409` instead).
//! 3. **Release** it on any other status, an error, or when the call is dropped (a
//!    timeout around the stack), so the provider's retry passes. A reservation that is
//!    never settled (a crashed replica) ends with its lease ([`DEFAULT_LEASE`]).
//!
//! The window defaults to [`DEFAULT_WINDOW`] (24 h, longer than the tolerance of every
//! provider with a signed timestamp and than the redelivery schedule of most), and is
//! always at least twice the route's timestamp tolerance: a request signed at `t` verifies
//! from `t - tolerance` to `t + tolerance`.
//!
//! With [`ReplayGuardLayer::for_scheme`], a request that repeats the scheme's delivery id
//! header is refused (`400 duplicate_header`), and so is one without an id when the
//! scheme's provider sends one with every delivery (`400 missing_delivery_id`): otherwise
//! doubling or dropping the header would let a replay pass untracked. Other requests
//! without an id pass untracked unless [`OnMissingId::Refuse`] is set.
//!
//! The guard is only as strong as the scheme's binding of the id to the signature
//! ([`DeliveryIdSource::signed`](crate::verify::DeliveryIdSource)): where the id travels in
//! an unsigned header (GitHub's `X-GitHub-Delivery`, Bitbucket, GitLab, Shopify, Twilio,
//! Linear), anyone holding one delivery can resend it under fresh ids; the guard stops
//! exact resends only, and the timestamp tolerance, where the scheme signs one, is the
//! defence.
//!
//! The decision lives in [`ReplayPolicy`] (no HTTP types), shared with the sidecar. The
//! inner service's response type says whether the app accepted a delivery through
//! [`SettleDelivery`]; for the sidecar's [`Verdict::Forward`](crate::Verdict) the
//! reservation travels on as a [`PendingDelivery`] in the request's extensions, to be
//! settled once the upstream answered.
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use hookguard_layers::replay::{MemoryReplayStore, ReplayGuardLayer};
//! use hookguard_layers::verify::{schemes, Keyring, VerifySignatureLayer};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let scheme = schemes::by_name("github").unwrap();
//! let keys = Keyring::from_secrets(&*scheme, ["It's a Secret to Everybody"]).unwrap();
//! let mut app = ServiceBuilder::new()
//!     // Verification first: the guard trusts only ids from verified requests.
//!     .layer(VerifySignatureLayer::new(scheme.clone(), keys))
//!     .layer(ReplayGuardLayer::new("github", MemoryReplayStore::default()).for_scheme(&*scheme))
//!     .service(service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("handled"))))
//!     }));
//! let delivery = || {
//!     Request::post("/hook")
//!         .header("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
//!         .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
//!         .body(Full::from("Hello, World!"))
//!         .unwrap()
//! };
//! let first = app.ready().await.unwrap().call(delivery()).await.unwrap();
//! assert_eq!(first.into_body().collect().await.unwrap().to_bytes(), "handled");
//! let again = app.ready().await.unwrap().call(delivery()).await.unwrap();
//! assert_eq!(again.status(), 200);
//! let body = again.into_body().collect().await.unwrap().to_bytes();
//! assert!(body.starts_with(br#"{"error":"duplicate""#));
//! # });
//! ```

mod layer;
mod memory;
mod policy;
mod service;
mod settle;
mod store;

pub use layer::ReplayGuardLayer;
pub use memory::{MemoryReplayStore, DEFAULT_CAPACITY};
pub use policy::{
    OnDuplicate, OnMissingId, OnStoreError, PendingDelivery, ReplayPolicy, Tracking, DEFAULT_LEASE,
    DEFAULT_WINDOW, MAX_DELIVERY_ID_LEN,
};
pub use service::ReplayGuard;
pub use settle::{SettleDelivery, Settlement};
pub use store::{ReplayKey, ReplayStore, Reservation, ReservationToken, StoreError, StoreFuture};

#[cfg(test)]
mod tests;
