//! What a request is counted against: [`RateScope`], [`RateKey`] and [`LimitKey`].

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use http::request::Parts;

use crate::ip::{peer_unknown, ClientAddr, ClientIp, PeerFromExtensions};
use crate::reject::Rejection;

/// Extracts a rate-limit key from a request's head, e.g. a tenant from a header or path.
/// Implemented for closures `Fn(&http::request::Parts) -> Option<String>`.
///
/// `None` means the request carries no key; all such requests share one bucket
/// ([`LimitKey::Unidentified`]), so leaving the key out does not escape the limit.
pub trait RateKey: Send + Sync + 'static {
    /// The key for this request, if it has one.
    fn key(&self, request: &Parts) -> Option<String>;
}

impl<F> RateKey for F
where
    F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
{
    fn key(&self, request: &Parts) -> Option<String> {
        self(request)
    }
}

/// What requests are counted together.
#[derive(Clone)]
pub enum RateScope {
    /// Every request through this limiter shares one bucket.
    Global,
    /// One bucket per route id, given at construction: limiters of several routes may then
    /// share a store (a Redis store, say) without sharing buckets.
    Route(Arc<str>),
    /// One bucket per client address: the [`ClientIp`] the IP filter decided on, or the
    /// connection's peer when no IP filter runs first. IPv6 clients are grouped per /64,
    /// the smallest network a single subscriber is usually given.
    ClientIp,
    /// One bucket per key the extractor returns.
    Key(Arc<dyn RateKey>),
}

impl RateScope {
    /// One bucket per route.
    pub fn route(route_id: impl Into<Arc<str>>) -> Self {
        RateScope::Route(route_id.into())
    }

    /// One bucket per extracted key.
    pub fn key(extractor: impl RateKey) -> Self {
        RateScope::Key(Arc::new(extractor))
    }

    /// The key `request` is counted against; refused with 500 only for a client-address
    /// scope on a server that records no peer address (see [`ClientAddr`]).
    pub fn key_for(&self, request: &Parts) -> Result<LimitKey, Rejection> {
        Ok(match self {
            RateScope::Global => LimitKey::Global,
            RateScope::Route(route) => LimitKey::Route(route.clone()),
            RateScope::ClientIp => {
                let ip = match request.extensions.get::<ClientIp>() {
                    Some(ClientIp(ip)) => *ip,
                    None => PeerFromExtensions
                        .peer_ip(&request.extensions)
                        .ok_or_else(peer_unknown)?,
                };
                LimitKey::client(ip)
            }
            RateScope::Key(extractor) => match extractor.key(request) {
                Some(key) => LimitKey::Custom(key.into()),
                None => LimitKey::Unidentified,
            },
        })
    }
}

impl std::fmt::Debug for RateScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateScope::Global => f.write_str("Global"),
            RateScope::Route(route) => f.debug_tuple("Route").field(route).finish(),
            RateScope::ClientIp => f.write_str("ClientIp"),
            RateScope::Key(_) => f.write_str("Key(..)"),
        }
    }
}

/// A bucket's identity in a [`RateStore`](super::RateStore).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// The one bucket of a global limiter.
    Global,
    /// A route's bucket.
    Route(Arc<str>),
    /// A client's bucket: an IPv4 address, or an IPv6 /64 network address.
    Client(IpAddr),
    /// An extracted key.
    Custom(Box<str>),
    /// Requests whose extractor found no key, counted together.
    Unidentified,
}

impl LimitKey {
    /// The bucket of client `ip`: IPv4 (IPv4-mapped IPv6 included) as is, IPv6 per /64.
    pub fn client(ip: IpAddr) -> Self {
        LimitKey::Client(match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
            v4 => v4,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn parts(build: impl FnOnce(&mut http::Request<()>)) -> Parts {
        let mut request = http::Request::new(());
        build(&mut request);
        request.into_parts().0
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        assert_eq!(
            LimitKey::client(ip("2001:db8:1:2:aaaa::1")),
            LimitKey::client(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            LimitKey::client(ip("2001:db8:1:2::1")),
            LimitKey::client(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            LimitKey::client(ip("2001:db8:1:2::1")),
            LimitKey::Client(ip("2001:db8:1:2::"))
        );
        // IPv4 is per address, mapped or not.
        assert_ne!(
            LimitKey::client(ip("192.0.2.1")),
            LimitKey::client(ip("192.0.2.2"))
        );
        assert_eq!(
            LimitKey::client(ip("::ffff:192.0.2.1")),
            LimitKey::Client(ip("192.0.2.1"))
        );
    }

    #[test]
    fn client_scope_prefers_the_ip_filter_decision_over_the_peer() {
        let both = parts(|r| {
            r.extensions_mut().insert(ClientIp(ip("203.0.113.7")));
            r.extensions_mut()
                .insert("10.0.0.2:80".parse::<SocketAddr>().unwrap());
        });
        assert_eq!(
            RateScope::ClientIp.key_for(&both).unwrap(),
            LimitKey::Client(ip("203.0.113.7"))
        );
        let peer_only = parts(|r| {
            r.extensions_mut()
                .insert("10.0.0.2:80".parse::<SocketAddr>().unwrap());
        });
        assert_eq!(
            RateScope::ClientIp.key_for(&peer_only).unwrap(),
            LimitKey::Client(ip("10.0.0.2"))
        );
        let neither = parts(|_| {});
        let err = RateScope::ClientIp.key_for(&neither).unwrap_err();
        assert_eq!(err.reason, crate::Reason::PeerUnknown);
        assert_eq!(err.status, http::StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn extracted_keys_and_missing_keys() {
        let scope = RateScope::key(|p: &Parts| {
            p.headers
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let tenant = parts(|r| {
            r.headers_mut().insert("x-tenant", "acme".parse().unwrap());
        });
        assert_eq!(
            scope.key_for(&tenant).unwrap(),
            LimitKey::Custom("acme".into())
        );
        assert_eq!(
            scope.key_for(&parts(|_| {})).unwrap(),
            LimitKey::Unidentified
        );
        assert_eq!(
            RateScope::route("github").key_for(&tenant).unwrap(),
            LimitKey::Route("github".into())
        );
        assert_eq!(
            RateScope::Global.key_for(&tenant).unwrap(),
            LimitKey::Global
        );
    }
}
