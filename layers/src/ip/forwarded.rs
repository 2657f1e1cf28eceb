//! Finding the client behind trusted proxies: `X-Forwarded-For` and `Forwarded` (RFC 7239).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::{header, HeaderMap, HeaderName, StatusCode};

use super::IpSet;
use crate::reject::{Reason, Rejection};

/// The header your trusted proxies use to record the addresses they forwarded for.
///
/// Name the one your proxies *write*: a proxy that sets `Forwarded` but passes a client's
/// own `X-Forwarded-For` through untouched would let the client choose its address if the
/// filter read `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` — each proxy appends the address it
    /// received the request from.
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239) — the `for` parameter of each element.
    Forwarded,
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

impl ForwardedHeader {
    fn name(self) -> &'static HeaderName {
        match self {
            ForwardedHeader::XForwardedFor => &X_FORWARDED_FOR,
            ForwardedHeader::Forwarded => &header::FORWARDED,
        }
    }
}

/// The client address for a request whose peer is a trusted proxy.
///
/// Reads the chain right to left — the rightmost entry was written by the proxy closest to
/// us — skipping trusted hops; the first untrusted hop is the client. Entries to its left
/// were written by the client or by proxies we do not trust, so they are never read. When
/// every hop is trusted, the leftmost (farthest) one is the client; when the header is
/// absent, the peer itself is.
///
/// An entry that must be read but does not name an address (garbage, a zone index,
/// RFC 7239's `unknown` or an obfuscated `_name`) fails closed: the request is refused with
/// 400 rather than blamed on the proxy that relayed it, which would otherwise let every
/// client behind that proxy share one allow/deny and rate-limit decision.
pub(crate) fn client_behind_proxies(
    peer: IpAddr,
    headers: &HeaderMap,
    header: ForwardedHeader,
    trusted: &IpSet,
) -> Result<IpAddr, Rejection> {
    let name = header.name();
    let mut walk = Walk {
        client: peer,
        position: 0,
        name,
        trusted,
    };
    // Several header lines form one list, in order (RFC 9110 §5.3): walk them backwards.
    for value in headers.get_all(name).iter().rev() {
        let found = match header {
            // Bytes, not text: an entry with non-ASCII bytes simply fails to parse, and
            // only if it has to be read.
            ForwardedHeader::XForwardedFor => walk.hops(ListBackwards(Some(value.as_bytes())))?,
            ForwardedHeader::Forwarded => {
                let text = value.to_str().map_err(|_| {
                    malformed(name, "a header line has bytes outside visible ASCII".into())
                })?;
                let nodes = forwarded_for_nodes(text).map_err(|e| malformed(name, e))?;
                walk.hops(nodes.into_iter().rev().map(str::as_bytes))?
            }
        };
        if let Some(client) = found {
            return Ok(client);
        }
    }
    Ok(walk.client)
}

/// The walk from the nearest hop outwards.
struct Walk<'a> {
    /// The farthest hop read so far.
    client: IpAddr,
    /// Entries read so far, for error messages.
    position: usize,
    name: &'a HeaderName,
    trusted: &'a IpSet,
}

impl Walk<'_> {
    /// Reads `nodes` (nearest first): the first untrusted hop, if one is among them.
    fn hops<'n>(
        &mut self,
        nodes: impl Iterator<Item = &'n [u8]>,
    ) -> Result<Option<IpAddr>, Rejection> {
        for node in nodes {
            // Empty list elements are allowed and carry nothing (RFC 9110 §5.6.1).
            if node.is_empty() {
                continue;
            }
            self.position += 1;
            let hop = parse_node(node).ok_or_else(|| {
                malformed(
                    self.name,
                    format!(
                        "entry {} from the right ({:?}) is not an IP address; \
                         expected a.b.c.d or x:x::x, optionally with a port",
                        self.position,
                        String::from_utf8_lossy(node)
                    ),
                )
            })?;
            self.client = hop;
            if !self.trusted.contains(hop) {
                return Ok(Some(hop));
            }
        }
        Ok(None)
    }
}

/// The elements of a comma-separated list, last first, without surrounding blanks. (A
/// byte scan: the lists are short, and `rsplit` + `trim` cost twice as much here.)
struct ListBackwards<'a>(Option<&'a [u8]>);

impl<'a> Iterator for ListBackwards<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.0?;
        match rest.iter().rposition(|&b| b == b',') {
            Some(comma) => {
                self.0 = Some(&rest[..comma]);
                Some(rest[comma + 1..].trim_ascii())
            }
            None => {
                self.0 = None;
                Some(rest.trim_ascii())
            }
        }
    }
}

fn malformed(name: &HeaderName, detail: String) -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        Reason::MalformedHeader,
        format!("{name} from a trusted proxy cannot be read: {detail}"),
    )
}

/// An address, `a.b.c.d:port`, `[x:x::x]` or `[x:x::x]:port`, canonical (IPv4-mapped IPv6
/// becomes IPv4).
fn parse_node(node: &[u8]) -> Option<IpAddr> {
    let ip = if let Some(v4) = parse_dotted_quad(node) {
        IpAddr::V4(v4)
    } else {
        parse_general(std::str::from_utf8(node).ok()?)?
    };
    Some(ip.to_canonical())
}

/// Everything but a plain dotted quad: IPv6, and either family with a port.
fn parse_general(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        Some(ip)
    } else if let Ok(addr) = node.parse::<SocketAddr>() {
        Some(addr.ip())
    } else {
        node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
    }
}

/// A plain `a.b.c.d`, the common case, in a few nanoseconds (half of what the general
/// parser takes, and every hop is parsed). Accepts exactly what `Ipv4Addr::from_str` does
/// — no leading zeros, octets up to 255 — and returns `None` for anything else, which
/// then goes to the general parser.
fn parse_dotted_quad(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut index = 0;
    let (mut value, mut digits) = (0u16, 0u8);
    for &byte in text {
        match byte {
            b'0'..=b'9' => {
                // A fourth digit, or a digit after a leading zero.
                if digits == 3 || (digits == 1 && value == 0) {
                    return None;
                }
                value = value * 10 + u16::from(byte - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && index < 3 => {
                octets[index] = u8::try_from(value).ok()?;
                index += 1;
                (value, digits) = (0, 0);
            }
            _ => return None,
        }
    }
    if index != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// The `for` value of each element of a `Forwarded` header line, in order.
fn forwarded_for_nodes(line: &str) -> Result<Vec<&str>, String> {
    let mut nodes = Vec::new();
    for element in split_outside_quotes(line, ',')? {
        if element.trim().is_empty() {
            continue;
        }
        let mut found = None;
        for pair in split_outside_quotes(element, ';')? {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("parameter {pair:?} has no '='"))?;
            if !name.eq_ignore_ascii_case("for") {
                continue;
            }
            if found.is_some() {
                return Err(format!(
                    "element {element:?} has more than one for= parameter"
                ));
            }
            found = Some(unquote(value)?);
        }
        // An element without `for=` says nothing about who sent the request.
        nodes.push(found.ok_or_else(|| format!("element {element:?} has no for= parameter"))?);
    }
    Ok(nodes)
}

/// Splits on `sep` where it is not inside a quoted-string (which may escape with `\`).
fn split_outside_quotes(text: &str, sep: char) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(format!("unterminated quoted string in {text:?}"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// A token or a quoted-string without its quotes. An address never needs `\` escapes, so a
/// value with one is refused rather than unescaped.
fn unquote(value: &str) -> Result<&str, String> {
    let value = value.trim();
    match value.strip_prefix('"') {
        None => Ok(value),
        Some(rest) => match rest.strip_suffix('"') {
            Some(inner) if !inner.contains(['"', '\\']) => Ok(inner),
            _ => Err(format!(
                "for= value {value:?} is not a plain quoted address"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::parse_networks;
    use crate::verify::testing::headers;

    fn trusted(nets: &[&str]) -> IpSet {
        parse_networks(nets).unwrap().into_iter().collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(peer: &str, values: &[&str], proxies: &[&str]) -> Result<IpAddr, Rejection> {
        let pairs: Vec<_> = values.iter().map(|v| ("x-forwarded-for", *v)).collect();
        client_behind_proxies(
            ip(peer),
            &headers(&pairs),
            ForwardedHeader::XForwardedFor,
            &trusted(proxies),
        )
    }

    fn fwd(peer: &str, values: &[&str], proxies: &[&str]) -> Result<IpAddr, Rejection> {
        let pairs: Vec<_> = values.iter().map(|v| ("forwarded", *v)).collect();
        client_behind_proxies(
            ip(peer),
            &headers(&pairs),
            ForwardedHeader::Forwarded,
            &trusted(proxies),
        )
    }

    #[test]
    fn first_untrusted_hop_from_the_right_is_the_client() {
        let got = xff(
            "10.0.0.1",
            &["6.6.6.6, 203.0.113.7, 10.0.0.2"],
            &["10.0.0.0/8"],
        );
        assert_eq!(got.unwrap(), ip("203.0.113.7"));
    }

    #[test]
    fn client_written_entries_left_of_the_client_are_never_read() {
        // The spoofed and the unparsable entries sit left of the real client.
        let got = xff(
            "10.0.0.1",
            &["1.1.1.1, not-an-ip, 203.0.113.7"],
            &["10.0.0.0/8"],
        );
        assert_eq!(got.unwrap(), ip("203.0.113.7"));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let got = xff(
            "10.0.0.1",
            &["203.0.113.7", "10.0.0.3, 10.0.0.2"],
            &["10.0.0.0/8"],
        );
        assert_eq!(got.unwrap(), ip("203.0.113.7"));
    }

    #[test]
    fn all_trusted_hops_make_the_farthest_one_the_client() {
        let got = xff("10.0.0.1", &["10.0.0.9, 10.0.0.2"], &["10.0.0.0/8"]);
        assert_eq!(got.unwrap(), ip("10.0.0.9"));
        assert_eq!(
            xff("10.0.0.1", &[], &["10.0.0.0/8"]).unwrap(),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ports_brackets_empty_elements_and_mapped_addresses_are_understood() {
        let p = &["10.0.0.0/8"];
        assert_eq!(
            xff("10.0.0.1", &["203.0.113.7:4711"], p).unwrap(),
            ip("203.0.113.7")
        );
        assert_eq!(
            xff("10.0.0.1", &["[2001:db8::1]:443"], p).unwrap(),
            ip("2001:db8::1")
        );
        assert_eq!(
            xff("10.0.0.1", &["[2001:db8::1]"], p).unwrap(),
            ip("2001:db8::1")
        );
        assert_eq!(
            xff("10.0.0.1", &["203.0.113.7,, "], p).unwrap(),
            ip("203.0.113.7")
        );
        assert_eq!(
            xff("10.0.0.1", &["::ffff:203.0.113.7"], p).unwrap(),
            ip("203.0.113.7")
        );
        // A trusted hop written as mapped IPv6 is still trusted.
        assert_eq!(
            xff("10.0.0.1", &["203.0.113.7, ::ffff:10.0.0.2"], p).unwrap(),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn malformed_entry_that_must_be_read_is_refused() {
        let err = xff(
            "10.0.0.1",
            &["203.0.113.7, garbage, 10.0.0.2"],
            &["10.0.0.0/8"],
        )
        .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.reason, Reason::MalformedHeader);
        assert!(err.message.contains("x-forwarded-for"), "{}", err.message);
        assert!(
            err.message.contains("entry 2 from the right"),
            "{}",
            err.message
        );
        assert!(err.message.contains("\"garbage\""), "{}", err.message);
        for bad in ["fe80::1%eth0", "1.2.3", "[1.2.3.4]x", "unknown"] {
            assert!(xff("10.0.0.1", &[bad], &["10.0.0.0/8"]).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn dotted_quad_fast_path_agrees_with_std(text in "[0-9.]{0,17}") {
            if let Some(fast) = parse_dotted_quad(text.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast), text.parse::<Ipv4Addr>().ok());
            }
        }

        #[test]
        fn dotted_quad_fast_path_reads_every_address(raw: u32) {
            let addr = Ipv4Addr::from(raw);
            proptest::prop_assert_eq!(parse_dotted_quad(addr.to_string().as_bytes()), Some(addr));
        }
    }

    #[test]
    fn list_elements_come_last_first_and_trimmed() {
        let got: Vec<_> = ListBackwards(Some(b" a ,b,, \tc ")).collect();
        assert_eq!(got, [&b"c"[..], b"", b"b", b"a"]);
        assert_eq!(ListBackwards(Some(b"")).collect::<Vec<_>>(), [b""]);
    }

    #[test]
    fn dotted_quad_fast_path_refuses_what_std_refuses() {
        for text in [
            "01.2.3.4",
            "1.2.3.256",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3",
            "1..2.3",
            "1.2.3.0004",
            "",
        ] {
            assert_eq!(parse_dotted_quad(text.as_bytes()), None, "{text}");
            assert!(text.parse::<Ipv4Addr>().is_err(), "{text}");
        }
        assert_eq!(parse_dotted_quad(b"0.0.0.0"), Some(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn non_ascii_bytes_matter_only_where_the_walk_must_read() {
        let mut map = HeaderMap::new();
        let value = http::HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.7").unwrap();
        map.insert("x-forwarded-for", value);
        let trusted = trusted(&["10.0.0.0/8"]);
        let xff = ForwardedHeader::XForwardedFor;
        let got = client_behind_proxies(ip("10.0.0.1"), &map, xff, &trusted);
        assert_eq!(got.unwrap(), ip("203.0.113.7"));
        let value = http::HeaderValue::from_bytes(b"203.0.113.7, 10.0.0.\xff").unwrap();
        map.insert("x-forwarded-for", value);
        let err = client_behind_proxies(ip("10.0.0.1"), &map, xff, &trusted).unwrap_err();
        assert_eq!(err.reason, Reason::MalformedHeader);
        assert!(
            err.message.contains("entry 1 from the right"),
            "{}",
            err.message
        );
    }

    #[test]
    fn forwarded_reads_for_parameters_right_to_left() {
        // The examples of RFC 7239 §4 and §7.1, behind our proxy at 10.0.0.2.
        let got = fwd(
            "10.0.0.1",
            &[
                r#"for=192.0.2.43, for="[2001:db8:cafe::17]";proto=http;by=203.0.113.43"#,
                "For=\"10.0.0.2:8080\"",
            ],
            &["10.0.0.0/8"],
        );
        assert_eq!(got.unwrap(), ip("2001:db8:cafe::17"));
        let got = fwd(
            "10.0.0.1",
            &["for=192.0.2.60;proto=http;by=203.0.113.43"],
            &["10.0.0.0/8"],
        );
        assert_eq!(got.unwrap(), ip("192.0.2.60"));
        // A quoted comma inside a parameter does not split elements.
        let got = fwd(
            "10.0.0.1",
            &[r#"for=192.0.2.60;ext="a,b""#],
            &["10.0.0.0/8"],
        );
        assert_eq!(got.unwrap(), ip("192.0.2.60"));
    }

    #[test]
    fn forwarded_without_a_usable_for_is_refused() {
        let p = &["10.0.0.0/8"];
        for bad in [
            "for=unknown",
            "for=_hidden",
            "proto=https;by=10.0.0.2",
            "for=192.0.2.1;for=192.0.2.2",
            "for=\"192.0.2.1",
            "for=\"192.0.2.1\\\"\"",
            "for",
        ] {
            let err = fwd("10.0.0.1", &[bad], p).unwrap_err();
            assert_eq!(err.reason, Reason::MalformedHeader, "{bad}");
            assert!(err.message.starts_with("forwarded "), "{}", err.message);
        }
    }
}
