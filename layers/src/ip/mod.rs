//! IP filtering: who may send webhooks at all, decided before a byte of the body is read.
//!
//! - [`IpPolicy`]: the policy core — allow and deny lists of IPv4/IPv6 networks (deny
//!   wins; no allow list means allow all), provider ranges, trusted proxies — with
//!   `check(peer, headers) -> Result<client ip, Rejection>`, called by the tower service
//!   and by the sidecar alike.
//! - [`IpSet`]: membership in many networks in O(log n) (sorted, merged ranges).
//! - [`ProviderRanges`]: a provider's published ranges (GitHub's meta API, Stripe's
//!   webhook list, or a plain list) from a file or URL, refreshed by a background task and
//!   swapped atomically; a failed refresh keeps the last good list.
//! - [`IpFilterLayer`] / [`IpFilter`]: refuses with 403 and a JSON reason
//!   ([`Reason::IpDenied`](crate::Reason::IpDenied)); passes the rest on with a
//!   [`ClientIp`] extension that the rate limiter keys on.
//!
//! **The client address** is the connection's peer, found in the request extensions by a
//! [`ClientAddr`] (by default a [`SocketAddr`](std::net::SocketAddr) or
//! [`IpAddr`](std::net::IpAddr) extension). A request without one is refused with 500
//! [`Reason::PeerUnknown`](crate::Reason::PeerUnknown): the filter fails closed on a
//! server that does not record peers. Only when the peer is a trusted proxy is the
//! forwarding header ([`ForwardedHeader`]) read — right to left, skipping trusted hops, the
//! first untrusted hop being the client. An entry that must be read but is not an address
//! is refused with 400 [`Reason::MalformedHeader`](crate::Reason::MalformedHeader).
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are matched and reported as IPv4.
//!
//! ```
//! use std::net::SocketAddr;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use hookguard_layers::ip::{parse_networks, ClientIp, IpFilterLayer, IpPolicy};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let policy = IpPolicy::builder()
//!     .allow(parse_networks(["192.30.252.0/22", "2606:50c0::/32"]).unwrap())
//!     .deny(parse_networks(["192.30.255.0/24"]).unwrap())
//!     .build();
//! let app = ServiceBuilder::new()
//!     .layer(IpFilterLayer::new(policy))
//!     .service(service_fn(|req: Request<Full<Bytes>>| async move {
//!         let client = req.extensions().get::<ClientIp>().unwrap().0;
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from(client.to_string())))
//!     }));
//!
//! let from = |peer: &str| {
//!     let mut req = Request::post("/hook").body(Full::from("{}")).unwrap();
//!     req.extensions_mut().insert(peer.parse::<SocketAddr>().unwrap());
//!     req
//! };
//! assert_eq!(app.clone().oneshot(from("192.30.252.7:4711")).await.unwrap().status(), 200);
//! assert_eq!(app.clone().oneshot(from("192.30.255.1:4711")).await.unwrap().status(), 403);
//! assert_eq!(app.oneshot(from("203.0.113.9:4711")).await.unwrap().status(), 403);
//! # });
//! ```

// `Rejection` (status, reason, message, extra headers) is the project's one refusal type
// and what the policy cores return by design. It is only built on the refusal path, and
// boxing it would add an allocation to every refusal, so its size is accepted here.
#![allow(clippy::result_large_err)]

mod forwarded;
mod future;
#[doc(hidden)]
pub mod fuzzing;
mod layer;
mod peer;
mod policy;
mod provider;
mod service;
mod set;
#[cfg(test)]
mod tests;

pub use forwarded::ForwardedHeader;
pub use future::ResponseFuture;
pub use layer::IpFilterLayer;
#[cfg(feature = "rate")]
pub(crate) use peer::peer_unknown;
pub use peer::{ClientAddr, ClientIp, PeerFromExtensions};
pub use policy::{IpPolicy, IpPolicyBuilder};
pub use provider::{
    ProviderError, ProviderRanges, RangeFormat, RangeSource, RefreshSchedule, RefreshStatus,
    MAX_DOCUMENT_BYTES, MIN_REFRESH_INTERVAL,
};
pub use service::IpFilter;
pub use set::{parse_network, parse_networks, IpSet, NetworkParseError};
