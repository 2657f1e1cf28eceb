//! What a request head must not be, checked before any route's stage runs: ambiguous body
//! framing, dot segments in the path, protocol upgrades.

use http::{header, Method};
use pingora_core::protocols::http::ServerSession;
use pingora_http::RequestHeader;

/// Whether the request carried both Content-Length and Transfer-Encoding (a request
/// smuggling attempt, or a broken client), whatever `Connection` says. Pingora's HTTP/1
/// reader removes Content-Length in that case (RFC 9112 §6.3), so the parsed headers cannot
/// always tell; the raw head it keeps can.
pub(super) fn had_both_framings(session: &ServerSession) -> bool {
    let headers = &session.req_header().headers;
    if !headers.contains_key(header::TRANSFER_ENCODING) {
        return false;
    }
    if headers.contains_key(header::CONTENT_LENGTH) {
        return true;
    }
    session
        .as_http1()
        .is_some_and(|h1| head_names_content_length(&h1.get_headers_raw_bytes()))
}

/// Whether a raw HTTP/1 request head has a Content-Length header line. The parser that
/// produced it allows no space before the colon, so the name is everything up to it.
fn head_names_content_length(head: &[u8]) -> bool {
    head.split(|&b| b == b'\n').skip(1).any(|line| {
        line.iter()
            .position(|&b| b == b':')
            .is_some_and(|colon| line[..colon].eq_ignore_ascii_case(b"content-length"))
    })
}

/// The declared Content-Length: `Ok(None)` when absent, `Err` when it is not a number.
pub(super) fn declared_length(req: &RequestHeader) -> Result<Option<u64>, ()> {
    match req.headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Some)
            .ok_or(()),
    }
}

pub(super) fn expects_continue(req: &RequestHeader) -> bool {
    req.headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Whether the request asks for another protocol on this connection (`Upgrade`, an
/// `upgrade` token in `Connection`, `CONNECT`). Webhooks never need one, and a tunnel to the
/// app would carry requests no check has seen.
pub(super) fn asks_upgrade(req: &RequestHeader) -> bool {
    req.method == Method::CONNECT
        || req.headers.contains_key(header::UPGRADE)
        || req.headers.get_all(header::CONNECTION).iter().any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
        })
}

/// Whether the path has a dot segment (`.` or `..`), also percent-encoded (`%2e`), which
/// the app may resolve to another path than the one the route matched
/// (`/webhooks/billing/../admin`). Refused rather than normalised: senders of webhooks
/// never produce them, so one is an attack or a bug, and a refusal shows it.
pub(super) fn has_dot_segment(path: &str) -> bool {
    // Most paths have neither a dot nor an escape: one scan, no allocation.
    path.bytes().any(|b| b == b'.' || b == b'%') && path.split('/').any(is_dot_segment)
}

/// `.` or `..`, each dot written as `.` or `%2e` (any case).
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', e, tail @ ..] if e.eq_ignore_ascii_case(&b'e') => tail,
            _ => return false,
        };
        dots += 1;
        if dots > 2 {
            return false;
        }
    }
    dots > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_plain_and_encoded_are_found_others_are_not() {
        for path in [
            "/webhooks/billing/../admin",
            "/webhooks/./x",
            "/webhooks/%2e%2e/admin",
            "/webhooks/%2E%2e",
            "/webhooks/.%2E/admin",
            "/webhooks/%2e./admin",
            "/..",
            "/webhooks/%2e",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in [
            "/webhooks/billing",
            "/webhooks/...",
            "/webhooks/.well-known",
            "/webhooks/a..b",
            "/webhooks/%2e%2e%2e",
            "/",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }

    #[test]
    fn upgrade_is_asked_by_header_connection_token_or_connect() {
        let mut req = RequestHeader::build("POST", b"/x", None).unwrap();
        assert!(!asks_upgrade(&req));
        req.insert_header("connection", "keep-alive, Upgrade")
            .unwrap();
        assert!(asks_upgrade(&req));
        let mut req = RequestHeader::build("POST", b"/x", None).unwrap();
        req.insert_header("upgrade", "websocket").unwrap();
        assert!(asks_upgrade(&req));
        let req = RequestHeader::build("CONNECT", b"app:80", None).unwrap();
        assert!(asks_upgrade(&req));
        let mut req = RequestHeader::build("POST", b"/x", None).unwrap();
        req.insert_header("connection", "close").unwrap();
        assert!(!asks_upgrade(&req));
    }

    #[test]
    fn a_content_length_line_is_found_in_a_raw_head_whatever_its_case() {
        assert!(head_names_content_length(
            b"POST / HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: 5\r\n\r\n"
        ));
        assert!(!head_names_content_length(
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Content-Length: 5\r\n\r\n"
        ));
    }
}
