//! Where the connection's peer address comes from, and where the decided client address goes.

use std::net::{IpAddr, SocketAddr};

use http::{Extensions, StatusCode};

use crate::reject::{Reason, Rejection};

/// Finds the connection's peer address in a request's extensions.
///
/// Servers record the peer differently: hyper-based servers usually insert a
/// [`SocketAddr`], axum inserts `ConnectInfo<SocketAddr>`. [`PeerFromExtensions`] (the
/// default) reads a [`SocketAddr`] or an [`IpAddr`]; for anything else pass a closure:
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use hookguard_layers::ip::{IpFilterLayer, IpPolicy};
///
/// # #[derive(Clone)] struct ConnectInfo<T>(T); // stands in for axum::extract::ConnectInfo
/// let layer = IpFilterLayer::new(IpPolicy::allow_all()).client_addr(|ext: &http::Extensions| {
///     ext.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())
/// });
/// # let _ = layer;
/// ```
pub trait ClientAddr: Send + Sync + 'static {
    /// The peer's address, or `None` when the server did not record it.
    fn peer_ip(&self, extensions: &Extensions) -> Option<IpAddr>;
}

impl<F> ClientAddr for F
where
    F: Fn(&Extensions) -> Option<IpAddr> + Send + Sync + 'static,
{
    fn peer_ip(&self, extensions: &Extensions) -> Option<IpAddr> {
        self(extensions)
    }
}

/// The default [`ClientAddr`]: a [`SocketAddr`] or an [`IpAddr`] request extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerFromExtensions;

impl ClientAddr for PeerFromExtensions {
    fn peer_ip(&self, extensions: &Extensions) -> Option<IpAddr> {
        extensions
            .get::<SocketAddr>()
            .map(SocketAddr::ip)
            .or_else(|| extensions.get::<IpAddr>().copied())
    }
}

/// The client address the IP filter decided on (the peer, or the first untrusted hop
/// behind trusted proxies), inserted as a request extension for the layers further in —
/// the rate limiter keys on it — and for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// The refusal when the peer address is missing. It is a deployment error, not the
/// caller's: the server must record the peer for the filter to run, so the request fails
/// closed with 500 and a reason an operator can search for.
pub(crate) fn peer_unknown() -> Rejection {
    Rejection::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        Reason::PeerUnknown,
        "the server did not record the connection's peer address; \
         insert a SocketAddr request extension or configure a ClientAddr",
    )
}
