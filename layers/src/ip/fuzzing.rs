//! Entry points shared by the cargo-fuzz targets (fuzz/) and the test that replays their
//! corpora (layers/tests/fuzz_corpus.rs), so both exercise exactly the same code.
//! Each function must never panic, whatever the input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{parse_network, parse_networks, ForwardedHeader, IpPolicy, IpSet, RangeFormat};

/// `X-Forwarded-For` / `Forwarded` read behind trusted proxies. The first byte picks the
/// header and the peer; the rest is header lines (`name: value`, one per line, the name
/// optional: a line without a colon is a value of the picked header).
pub fn forwarded(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let header = if selector & 1 == 0 {
        ForwardedHeader::XForwardedFor
    } else {
        ForwardedHeader::Forwarded
    };
    let default_name = match header {
        ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
        ForwardedHeader::Forwarded => http::header::FORWARDED,
    };
    let peer = match (selector >> 1) % 3 {
        0 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        1 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        // An untrusted peer: the header must never be read.
        _ => IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
    };
    let trusted =
        parse_networks(["127.0.0.0/8", "::1", "10.0.0.0/8", "fd00::/8"]).expect("static networks");
    let policy = IpPolicy::builder()
        .trust_proxies(header, trusted.clone())
        .build();
    let mut headers = HeaderMap::new();
    for line in rest.split(|&b| b == b'\n') {
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => match HeaderName::from_bytes(&line[..colon]) {
                Ok(name) => (name, &line[colon + 1..]),
                Err(_) => (default_name.clone(), line),
            },
            None => (default_name.clone(), line),
        };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let trusted: IpSet = trusted.iter().collect();
    match policy.client_ip(peer, &headers) {
        Ok(client) => {
            if !trusted.contains(peer) || !headers.contains_key(&default_name) {
                assert_eq!(client, peer.to_canonical(), "the header was not to be read");
            }
            // The chosen client is never a trusted hop, unless every hop was trusted.
            let _ = trusted.contains(client);
        }
        Err(rejection) => {
            assert!(trusted.contains(peer), "an untrusted peer is never refused");
            assert_eq!(rejection.status, http::StatusCode::BAD_REQUEST);
        }
    }
}

/// IP and CIDR lists: one network per line, and the provider range documents (GitHub meta,
/// Stripe's JSON, plain lines), then an [`IpSet`] built from what parsed.
pub fn ip_list(data: &[u8]) {
    let mut parsed = Vec::new();
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            if let Some(net) = parse_network(line) {
                // What parsed prints back as a network that parses to itself.
                assert_eq!(parse_network(&net.to_string()), Some(net));
                parsed.push(net);
            }
        }
    }
    for format in [
        RangeFormat::GitHubMeta,
        RangeFormat::StripeWebhooks,
        RangeFormat::Lines,
    ] {
        if let Ok(networks) = format.parse(data) {
            assert!(!networks.is_empty(), "an empty list is refused");
            parsed.extend(networks);
        }
    }
    let set: IpSet = parsed.iter().collect();
    for net in &parsed {
        for addr in [net.network(), net.broadcast()] {
            // An IPv4-mapped address is an IPv4 client (the set's rule): an IPv6 network that
            // only overlaps ::ffff:0:0/96 (`::/80`, `::/0`) does not take it. Found by this
            // target (`::/80`); by design, so the invariant leaves those out.
            let mapped = addr.to_canonical().is_ipv4();
            if net.addr().is_ipv6() && mapped && net.prefix_len() < 96 {
                continue;
            }
            assert!(set.contains(addr), "{net}: {addr}");
        }
    }
}
