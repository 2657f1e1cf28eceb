//! The SSRF guard: an endpoint may not make the sidecar call an internal service.
//!
//! Refused unless `outbound.allow_networks` lists them: loopback, private (RFC 1918, IPv6
//! unique-local), link-local (which holds the cloud metadata address 169.254.169.254),
//! CGNAT (100.64.0.0/10), multicast, unspecified and broadcast addresses, the other
//! special-purpose blocks (documentation, benchmarking, reserved, NAT64's well-known prefix
//! holding an IPv4 one), and the IPv6 forms that carry an IPv4 address (`::ffff:10.0.0.1`
//! is 10.0.0.1).
//!
//! Resolution happens once per connection, in [`Guard`]'s reqwest resolver: every address
//! of the name is checked, and the client connects only to those it returned — so a name
//! that resolves to a public address when checked and a private one when used (DNS
//! rebinding) cannot get through. One refused address refuses the name: a record set
//! that mixes public and private addresses is what an attacker would publish.
//!
//! ```ignore
//! let guard = Guard::new(vec![]);
//! assert_eq!(guard.check_ip("169.254.169.254".parse().unwrap()), Err("cloud metadata (link-local)"));
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Checks destination addresses against the special-purpose blocks and the allow list.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    allowed: ArcSwap<Vec<IpNet>>,
}

/// Why an address or name was refused, in words for the attempt history.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused by the SSRF guard: {0}")]
pub(crate) struct Refused(pub(crate) String);

impl Guard {
    pub(crate) fn new(allowed: Vec<IpNet>) -> Self {
        Self {
            allowed: ArcSwap::from_pointee(allowed),
        }
    }

    /// Replaces the allow list (a reload).
    pub(crate) fn set_allowed(&self, allowed: Vec<IpNet>) {
        self.allowed.store(Arc::new(allowed));
    }

    /// `Ok` when `ip` is public or in an allowed network; else what kind of address it is.
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), &'static str> {
        let Some(class) = special(ip) else {
            return Ok(());
        };
        // An IPv4-mapped address is allowed by the IPv4 network that holds it.
        let plain = canonical(ip);
        if self
            .allowed
            .load()
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&plain))
        {
            return Ok(());
        }
        Err(class)
    }

    /// Resolves `host` and checks every address; the addresses to connect to.
    pub(crate) async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.check_ip(ip)
                .map_err(|class| Refused(format!("{ip} is a {class} address{HINT}")))?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Refused(format!("{host} does not resolve: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(Refused(format!("{host} has no address")));
        }
        for addr in &addrs {
            self.check_ip(addr.ip()).map_err(|class| {
                Refused(format!(
                    "{host} resolves to {}, a {class} address{HINT}",
                    addr.ip()
                ))
            })?;
        }
        Ok(addrs)
    }
}

/// How to let a refused address through, for the message.
const HINT: &str = " (allow its network with outbound.allow_networks)";

/// The guard as reqwest's resolver: every connection's name goes through it.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver(pub(crate) Arc<Guard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.0);
        Box::pin(async move {
            // The port is reqwest's to set; 0 here, replaced by the URL's.
            let addrs = guard.resolve(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// `::ffff:a.b.c.d` (and the deprecated `::a.b.c.d`) as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// The special-purpose class of `ip`, or `None` for a public unicast address.
fn special(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        (169, 254, _) if ip == Ipv4Addr::new(169, 254, 169, 254) => "cloud metadata (link-local)",
        _ if ip.is_link_local() => "link-local",
        (100, 64..=127, _) => "CGNAT (shared address space)",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_broadcast() => "broadcast",
        // 0/8 "this network", 192.0.0/24 IETF, documentation, benchmarking, 240/4 reserved.
        (0, _, _) | (192, 0, 0) => "reserved",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match first {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_multicast() => "multicast",
        0xfe80..=0xfebf => "link-local",
        0xfc00..=0xfdff => "private (unique local)",
        0xfec0..=0xfeff => "site-local",
        // 64:ff9b::/96 carries an IPv4 address through NAT64: judge that address.
        0x0064 if ip.segments()[1] == 0xff9b => {
            let [.., a, b, c, d] = ip.octets();
            return special_v4(Ipv4Addr::new(a, b, c, d))
                .map(|_| "NAT64 of a special-purpose IPv4");
        }
        0x2001 if ip.segments()[1] == 0x0db8 => "documentation",
        // ::a.b.c.d (IPv4-compatible, deprecated) and the rest of ::/8.
        0x0000 => "reserved",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(guard: &Guard, ip: &str) -> &'static str {
        guard
            .check_ip(ip.parse().unwrap())
            .expect_err(&format!("{ip} should be refused"))
    }

    #[test]
    fn every_class_of_internal_address_is_refused_with_its_name() {
        let guard = Guard::new(vec![]);
        for (ip, class) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "metadata"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.254", "CGNAT"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd00:ec2::254", "unique local"),
            ("fc00::1", "unique local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a00:1", "NAT64"),
        ] {
            let why = refused(&guard, ip);
            assert!(why.contains(class), "{ip}: {why}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let guard = Guard::new(vec![]);
        for ip in [
            "93.184.215.14",
            "1.1.1.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(guard.check_ip(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn allowed_networks_let_their_addresses_through_mapped_ones_included() {
        let guard = Guard::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(guard.check_ip("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(guard.check_ip("::ffff:127.0.0.1".parse().unwrap()), Ok(()));
        refused(&guard, "10.0.0.1");
        refused(&guard, "::1");
        guard.set_allowed(vec![]);
        refused(&guard, "127.0.0.1");
    }

    #[tokio::test]
    async fn a_name_is_refused_when_any_of_its_addresses_is() {
        let guard = Guard::new(vec![]);
        let why = guard
            .resolve("localhost", 443)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            why.contains("localhost resolves to 127.0.0.1, a loopback address"),
            "{why}"
        );
        assert!(why.contains("loopback"), "{why}");
        let allowed = Guard::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        let addrs = allowed.resolve("localhost", 443).await.unwrap();
        assert!(addrs
            .iter()
            .all(|a| a.port() == 443 && a.ip().is_loopback()));
    }
}
