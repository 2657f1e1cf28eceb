//! Rate limiting: GCRA buckets (governor) per route, per client or per extracted key,
//! decided on the request head before any body byte is read.
//!
//! - [`RateQuota`]: rate and burst per key; nonsense (a rate or burst of 0) is a
//!   construction error, never a panic.
//! - [`RateScope`]: what is counted together — everything, a route, a client address
//!   (the [`ClientIp`](crate::ip::ClientIp) the IP filter decided on, or the peer; IPv6
//!   per /64), or a key from a [`RateKey`] extractor (any
//!   `Fn(&http::request::Parts) -> Option<String>`).
//! - [`RateStore`]: where buckets live. [`MemoryStore`] keeps them in process with a
//!   bounded table (idle buckets swept, at most `max_keys`, unknown keys beyond that
//!   sharing one overflow bucket); a Redis store can implement the same trait.
//! - [`RateLimiter`]: the policy core — scope plus store — that the tower service and the
//!   sidecar both call.
//! - [`RateLimitLayer`] / [`RateLimit`]: refuses with 429, a JSON reason
//!   ([`Reason::RateLimited`](crate::Reason::RateLimited)), `Retry-After` in whole seconds
//!   rounded up, and `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
//!   (draft-ietf-httpapi-ratelimit-headers-06).
//!
//! ```
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use hookguard_layers::rate::{RateLimitLayer, RateLimiter, RateQuota, RateScope};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // 60 deliveries a minute per client address, at most 2 at once.
//! let quota = RateQuota::per_minute(60).unwrap().burst(2).unwrap();
//! let limiter = Arc::new(RateLimiter::new(RateScope::ClientIp, quota));
//! let _sweeper = limiter.spawn_sweeper(std::time::Duration::from_secs(60));
//! let app = ServiceBuilder::new()
//!     .layer(RateLimitLayer::from_arc(limiter))
//!     .service(service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from("ok")))
//!     }));
//!
//! let from = |peer: &str| {
//!     let mut req = Request::post("/hook").body(Full::from("{}")).unwrap();
//!     req.extensions_mut().insert(peer.parse::<SocketAddr>().unwrap());
//!     req
//! };
//! assert_eq!(app.clone().oneshot(from("192.0.2.1:1000")).await.unwrap().status(), 200);
//! assert_eq!(app.clone().oneshot(from("192.0.2.1:1001")).await.unwrap().status(), 200);
//! let refused = app.clone().oneshot(from("192.0.2.1:1002")).await.unwrap();
//! assert_eq!(refused.status(), 429);
//! assert_eq!(refused.headers()["retry-after"], "1");
//! // Another client has a bucket of its own.
//! assert_eq!(app.oneshot(from("192.0.2.2:1000")).await.unwrap().status(), 200);
//! # });
//! ```

// `Rejection` (status, reason, message, extra headers) is the project's one refusal type
// and what the policy cores return by design. It is only built on the refusal path, and
// boxing it would add an allocation to every refusal, so its size is accepted here.
#![allow(clippy::result_large_err)]

mod future;
mod key;
mod layer;
mod limiter;
mod memory;
mod quota;
mod service;
mod store;
#[cfg(test)]
mod tests;

pub use future::ResponseFuture;
pub use key::{LimitKey, RateKey, RateScope};
pub use layer::RateLimitLayer;
pub use limiter::{RateLimiter, MIN_SWEEP_INTERVAL};
pub use memory::{MemoryStore, DEFAULT_MAX_KEYS};
pub use quota::{RateConfigError, RateQuota};
pub use service::RateLimit;
pub use store::{RateDecision, RateStore, RateStoreError};
