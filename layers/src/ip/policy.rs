//! [`IpPolicy`]: the IP filter's decision, free of any HTTP framework.

use std::net::IpAddr;

use http::{HeaderMap, StatusCode};
use ipnet::IpNet;

use super::forwarded::client_behind_proxies;
use super::{ForwardedHeader, IpSet, ProviderRanges};
use crate::reject::{Reason, Rejection};

/// Who may send webhooks: allow and deny lists, provider ranges, and the proxies whose
/// forwarding headers are believed.
///
/// - The deny list wins over everything.
/// - With no allow list and no provider ranges, every address not denied is allowed.
///   Once either is configured, only addresses in one of them are (a provider whose
///   ranges have not loaded yet allows nobody: the filter fails closed).
/// - The client is the connection's peer, unless the peer is a trusted proxy: then it is
///   read from the forwarding header (see [`ForwardedHeader`]).
#[derive(Debug, Clone, Default)]
pub struct IpPolicy {
    allow: IpSet,
    deny: IpSet,
    providers: Vec<ProviderRanges>,
    trusted_proxies: IpSet,
    forwarded: Option<ForwardedHeader>,
}

impl IpPolicy {
    /// A policy that allows every address and trusts no proxy.
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// Starts a policy.
    pub fn builder() -> IpPolicyBuilder {
        IpPolicyBuilder::default()
    }

    /// Decides on a request from `peer` with `headers`: the client address when it may
    /// pass, or the rejection — 403 [`Reason::IpDenied`] for a denied address, 400
    /// [`Reason::MalformedHeader`] for a forwarding header that cannot be read.
    pub fn check(&self, peer: IpAddr, headers: &HeaderMap) -> Result<IpAddr, Rejection> {
        let client = self.client_ip(peer, headers)?;
        if self.deny.contains(client) {
            return Err(denied(client, "is on the deny list"));
        }
        if !self.is_listed(client) {
            return Err(denied(client, "is not on the allow list"));
        }
        Ok(client)
    }

    /// The client address: the peer, or, when the peer is a trusted proxy, the first
    /// untrusted hop of the forwarding header read right to left.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> Result<IpAddr, Rejection> {
        let peer = peer.to_canonical();
        match self.forwarded {
            Some(header) if self.trusted_proxies.contains(peer) => {
                client_behind_proxies(peer, headers, header, &self.trusted_proxies)
            }
            _ => Ok(peer),
        }
    }

    fn is_listed(&self, client: IpAddr) -> bool {
        if self.allow.is_empty() && self.providers.is_empty() {
            return true;
        }
        self.allow.contains(client) || self.providers.iter().any(|p| p.contains(client))
    }
}

fn denied(client: IpAddr, why: &str) -> Rejection {
    Rejection::new(
        StatusCode::FORBIDDEN,
        Reason::IpDenied,
        format!("client address {client} {why}"),
    )
}

/// Builds an [`IpPolicy`]. Networks come parsed (see [`super::parse_networks`]), so
/// building cannot fail.
#[derive(Debug, Default)]
pub struct IpPolicyBuilder {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    providers: Vec<ProviderRanges>,
    trusted_proxies: Vec<IpNet>,
    forwarded: Option<ForwardedHeader>,
}

impl IpPolicyBuilder {
    /// Adds networks to the allow list.
    pub fn allow(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.allow.extend(networks);
        self
    }

    /// Adds networks to the deny list, which wins over every allow.
    pub fn deny(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.deny.extend(networks);
        self
    }

    /// Allows a provider's published ranges, kept current by its refresh task.
    pub fn allow_provider(mut self, ranges: ProviderRanges) -> Self {
        self.providers.push(ranges);
        self
    }

    /// Believes `header` when the peer is in `proxies`, and skips those proxies' own
    /// entries in it.
    pub fn trust_proxies(
        mut self,
        header: ForwardedHeader,
        proxies: impl IntoIterator<Item = IpNet>,
    ) -> Self {
        self.forwarded = Some(header);
        self.trusted_proxies.extend(proxies);
        self
    }

    /// The policy.
    pub fn build(self) -> IpPolicy {
        IpPolicy {
            allow: self.allow.iter().collect(),
            deny: self.deny.iter().collect(),
            providers: self.providers,
            trusted_proxies: self.trusted_proxies.iter().collect(),
            forwarded: self.forwarded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{parse_networks, RangeFormat, RangeSource};
    use crate::testing::headers;

    fn nets(values: &[&str]) -> Vec<IpNet> {
        parse_networks(values).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn check(policy: &IpPolicy, peer: &str) -> Result<IpAddr, Rejection> {
        policy.check(ip(peer), &HeaderMap::new())
    }

    #[test]
    fn empty_allow_list_allows_everything_not_denied() {
        let policy = IpPolicy::builder().deny(nets(&["192.0.2.0/24"])).build();
        assert_eq!(check(&policy, "198.51.100.1").unwrap(), ip("198.51.100.1"));
        assert!(check(&policy, "2001:db8::1").is_ok());
        let err = check(&policy, "192.0.2.9").unwrap_err();
        assert_eq!(err.status, StatusCode::FORBIDDEN);
        assert_eq!(err.reason, Reason::IpDenied);
        assert_eq!(err.message, "client address 192.0.2.9 is on the deny list");
    }

    #[test]
    fn allow_list_admits_only_listed_addresses_for_both_families() {
        let policy = IpPolicy::builder()
            .allow(nets(&["192.30.252.0/22", "2606:50c0::/32"]))
            .build();
        assert!(check(&policy, "192.30.253.4").is_ok());
        assert!(check(&policy, "2606:50c0:8000::1").is_ok());
        let err = check(&policy, "192.30.250.1").unwrap_err();
        assert_eq!(
            err.message,
            "client address 192.30.250.1 is not on the allow list"
        );
        assert!(check(&policy, "2606:50c1::1").is_err());
    }

    #[test]
    fn deny_wins_over_allow() {
        let policy = IpPolicy::builder()
            .allow(nets(&["10.0.0.0/8"]))
            .deny(nets(&["10.6.6.0/24"]))
            .build();
        assert!(check(&policy, "10.1.1.1").is_ok());
        assert_eq!(
            check(&policy, "10.6.6.6").unwrap_err().reason,
            Reason::IpDenied
        );
    }

    #[test]
    fn ipv4_mapped_peer_is_matched_and_reported_as_ipv4() {
        let policy = IpPolicy::builder().allow(nets(&["192.0.2.0/24"])).build();
        assert_eq!(check(&policy, "::ffff:192.0.2.1").unwrap(), ip("192.0.2.1"));
        let policy = IpPolicy::builder().deny(nets(&["192.0.2.0/24"])).build();
        assert!(check(&policy, "::ffff:192.0.2.1").is_err());
    }

    #[test]
    fn forwarding_header_is_ignored_unless_the_peer_is_trusted() {
        let policy = IpPolicy::builder()
            .allow(nets(&["192.30.252.0/22"]))
            .trust_proxies(ForwardedHeader::XForwardedFor, nets(&["10.0.0.0/8"]))
            .build();
        let spoof = headers(&[("x-forwarded-for", "192.30.252.1")]);
        // Straight from the internet: the header is the caller's own claim.
        let err = policy.check(ip("203.0.113.5"), &spoof).unwrap_err();
        assert_eq!(
            err.message,
            "client address 203.0.113.5 is not on the allow list"
        );
        // Through our proxy: the proxy's entry is believed.
        assert_eq!(
            policy.check(ip("10.0.0.2"), &spoof).unwrap(),
            ip("192.30.252.1")
        );
        // Through our proxy with no header: the proxy itself is the client, not allowed.
        assert!(policy.check(ip("10.0.0.2"), &HeaderMap::new()).is_err());
    }

    #[test]
    fn only_the_configured_forwarding_header_is_read() {
        let policy = IpPolicy::builder()
            .allow(nets(&["192.30.252.0/22"]))
            .trust_proxies(ForwardedHeader::Forwarded, nets(&["10.0.0.0/8"]))
            .build();
        let xff = headers(&[("x-forwarded-for", "192.30.252.1")]);
        assert!(policy.check(ip("10.0.0.2"), &xff).is_err());
        let fwd = headers(&[("forwarded", "for=192.30.252.1")]);
        assert_eq!(
            policy.check(ip("10.0.0.2"), &fwd).unwrap(),
            ip("192.30.252.1")
        );
    }

    #[test]
    fn malformed_forwarding_header_from_a_trusted_proxy_is_refused() {
        let policy = IpPolicy::builder()
            .trust_proxies(ForwardedHeader::XForwardedFor, nets(&["10.0.0.0/8"]))
            .build();
        let bad = headers(&[("x-forwarded-for", "bogus")]);
        let err = policy.check(ip("10.0.0.2"), &bad).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.reason, Reason::MalformedHeader);
    }

    #[test]
    fn provider_that_has_not_loaded_allows_nobody() {
        let ranges = ProviderRanges::new(
            "github",
            RangeSource::file("/nonexistent"),
            RangeFormat::GitHubMeta,
        );
        let policy = IpPolicy::builder().allow_provider(ranges).build();
        assert_eq!(
            check(&policy, "192.30.252.1").unwrap_err().reason,
            Reason::IpDenied
        );
    }
}
