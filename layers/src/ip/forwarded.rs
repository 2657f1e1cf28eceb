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
                // A fourth digit, or a digit after a leading zero. (`digits > 3` would be an
                // equivalent mutant: a fourth digit makes the octet 1000+, refused below.)
                if digits == 3 || (digits == 1 && value == 0) {
                    return None;
                }
                value = value * 10 + u16::from(byte - b'0');
                digits += 1;
            }
            // (`index <= 3` would be an equivalent mutant: a fourth dot leaves index at 4,
            // which the check after the loop refuses, and a fifth is refused here.)
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
mod tests;
