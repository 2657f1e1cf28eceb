//! Forwarding to the app: the head the app receives (one place, also used by queue mode),
//! one write of head and body on a pooled connection, and the answer relayed back.

use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookguard_config::ForwardedFor;
use http::{header, HeaderName, HeaderValue};
use pingora_core::protocols::http::v1::client::{http_req_header_to_wire, HttpSession};
use pingora_core::protocols::http::{HttpTask, ServerSession};
use pingora_core::protocols::Stream;
use pingora_core::upstreams::peer::Peer;
use pingora_error::{Error, ErrorType, OrErr, Result};
use pingora_http::RequestHeader;
use tokio::io::AsyncWriteExt;

use super::exchange::{settle, Ctx};
use super::Sidecar;
use crate::runtime::Snapshot;

/// Prefix of the headers hookguard adds; incoming ones are stripped so callers cannot forge them.
const PREFIX: &str = "x-hookguard-";

/// How much of the app's answer is gathered before it is written to the client, so that a
/// usual answer (head and a small body) leaves in one write; a longer one is streamed.
const RELAY_BUFFER: usize = 64 * 1024;

/// Headers about one hop's connection, never passed on (RFC 9110 §7.6.1), plus `Expect`
/// (hookguard answered it) and the framing it sets itself.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::EXPECT,
];

/// Whether an incoming header must be stripped as a forgery of hookguard's own: its name
/// starts with `x-hookguard-` once every `_` is read as `-`. CGI/WSGI servers (and the
/// frameworks on them) map `-` and `_` to the same variable, so `X_Hookguard_Client_Ip`
/// would reach the app as hookguard's client IP (Puma CVE-2024-45614).
fn is_forged_hookguard_header(name: &HeaderName) -> bool {
    // `HeaderName`s are lowercase already.
    let name = name.as_str().as_bytes();
    name.len() >= PREFIX.len()
        && name
            .iter()
            .zip(PREFIX.as_bytes())
            .all(|(&got, &want)| got == want || (want == b'-' && got == b'_'))
}

/// The head the app receives, in forward and queue mode alike: the headers the checks left,
/// no hop-by-hop ones, Content-Length framing for the exact body, every incoming
/// `x-hookguard-*` header (or `_` alias) replaced by hookguard's own, the client address
/// passed on as `upstream.forwarded_for` says, the path rewritten as the route says.
pub(super) fn upstream_head(
    received: &RequestHeader,
    ctx: &Ctx,
    forwarded_for: ForwardedFor,
) -> Result<RequestHeader> {
    let mut req = received.clone();
    if let Some(admitted) = &ctx.headers {
        use_headers(&mut req, admitted)?;
    }
    // `Connection` may name more hop-by-hop headers.
    let named: Vec<HeaderName> = req
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        req.remove_header(name);
    }
    let forged: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| is_forged_hookguard_header(name))
        .cloned()
        .collect();
    for name in forged {
        req.remove_header(&name);
    }
    req.insert_header(header::CONTENT_LENGTH, ctx.body.len())?;
    forwarding_headers(&mut req, ctx, forwarded_for)?;
    for (name, value) in hookguard_headers(ctx) {
        req.insert_header(name, value)?;
    }
    if let Some(target) = upstream_target(&req.uri, ctx) {
        req.set_uri(target.parse().or_err(
            ErrorType::InternalError,
            "rewritten path is not a valid URI",
        )?);
    }
    Ok(req)
}

/// `X-Forwarded-For` and `Forwarded` as a proxy passes them on: the connection's peer
/// appended to what came (`append`), or only the client address hookguard decided
/// (`replace`). Without it an app trusting one hop believes an address the client chose.
fn forwarding_headers(req: &mut RequestHeader, ctx: &Ctx, mode: ForwardedFor) -> Result<()> {
    let (xff, forwarded) = match mode {
        ForwardedFor::Append => {
            let Some(peer) = ctx.peer.map(|p| p.ip()) else {
                return Ok(());
            };
            let joined = |name: &HeaderName, add: String| -> String {
                let mut all: Vec<&str> = req
                    .headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                all.push(&add);
                all.join(", ")
            };
            (
                joined(
                    &HeaderName::from_static("x-forwarded-for"),
                    peer.to_string(),
                ),
                joined(&header::FORWARDED, forwarded_for_element(peer)),
            )
        }
        ForwardedFor::Replace => {
            let Some(client) = ctx.client_ip() else {
                req.remove_header("x-forwarded-for");
                req.remove_header(&header::FORWARDED);
                return Ok(());
            };
            (client.to_string(), forwarded_for_element(client))
        }
    };
    req.insert_header("x-forwarded-for", xff)?;
    req.insert_header(header::FORWARDED, forwarded)?;
    Ok(())
}

/// `for=192.0.2.1`, or `for="[2001:db8::1]"` (RFC 7239 §6: IPv6 quoted and bracketed).
fn forwarded_for_element(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("for={v4}"),
        std::net::IpAddr::V6(v6) => format!("for=\"[{v6}]\""),
    }
}

/// The path and query the app receives when the route rewrites paths (`None`: as sent).
/// The rewrite itself is the config's `Route::upstream_path`, the one tested place.
pub(super) fn upstream_target(uri: &http::Uri, ctx: &Ctx) -> Option<String> {
    let route = ctx.route.as_ref()?;
    route.config.rewrite.as_ref()?;
    let path = route.config.upstream_path(uri.path());
    Some(match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.into_owned(),
    })
}

/// The `x-hookguard-*` headers that tell the app what hookguard decided.
fn hookguard_headers(ctx: &Ctx) -> Vec<(&'static str, HeaderValue)> {
    let mut out = Vec::with_capacity(6);
    let mut add = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.push((name, value));
        }
    };
    if let Some(route) = &ctx.route {
        add("x-hookguard-route", &route.id);
        add(
            "x-hookguard-scheme",
            ctx.verified.as_ref().map_or(route.scheme, |v| v.scheme),
        );
    }
    if let Some(v) = &ctx.verified {
        add("x-hookguard-secret-id", &v.secret_id);
        if let Some(id) = &v.delivery_id {
            add("x-hookguard-delivery-id", id);
        }
    }
    if let Some(ip) = ctx.client_ip() {
        add("x-hookguard-client-ip", &ip.to_string());
    }
    add("x-hookguard-received-at", &ctx.received_at_rfc3339());
    if let Some(transformed) = &ctx.transformed {
        add(
            hookguard_layers::rules::ORIGINAL_SHA256_HEADER,
            &transformed.original_sha256,
        );
    }
    out
}

/// Makes `req`'s headers those the payload rules left (added, removed, a mapped body's
/// content type), keeping pingora's header-name case for the ones unchanged.
fn use_headers(req: &mut RequestHeader, admitted: &http::HeaderMap) -> Result<()> {
    let names: Vec<HeaderName> = req.headers.keys().cloned().collect();
    for name in names {
        let same = req
            .headers
            .get_all(&name)
            .iter()
            .eq(admitted.get_all(&name).iter());
        if !same {
            req.remove_header(&name);
        }
    }
    for name in admitted.keys() {
        if !req.headers.contains_key(name) {
            for value in admitted.get_all(name) {
                req.append_header(name.clone(), value.clone())?;
            }
        }
    }
    Ok(())
}

/// Sends the admitted request to the app and relays its answer to the client.
pub(super) async fn forward(
    sidecar: &Sidecar,
    snapshot: &Snapshot,
    session: &mut ServerSession,
    ctx: &mut Ctx,
) -> Result<()> {
    let upstream = &snapshot.upstream;
    let head = upstream_head(session.req_header(), ctx, upstream.forwarded_for)?;
    let wire = http_req_header_to_wire(&head).ok_or_else(|| {
        Error::explain(
            ErrorType::InvalidHTTPHeader,
            "the request head cannot be written as HTTP/1.1",
        )
    })?;
    let peer = upstream
        .peer()
        .map_err(|e| Error::explain(ErrorType::ConnectError, e).into_up())?;
    let started = Instant::now();
    let (mut client, response) =
        exchange(sidecar, &peer, &wire, &ctx.body, upstream.read_timeout).await?;
    ctx.upstream_elapsed = Some(started.elapsed());
    let status = response.status.as_u16();
    ctx.status = Some(status);
    settle(ctx, Some(status)).await;
    let head_only = head.method == http::Method::HEAD;
    relay(session, &mut client, response, head_only).await?;
    client.respect_keepalive();
    if let Some(stream) = client.reuse().await {
        sidecar
            .upstreams
            .release_stream(stream, peer.reuse_hash(), peer.idle_timeout());
    }
    Ok(())
}

/// One request-response on a pooled connection. A pooled connection the app closed while
/// it sat idle fails at once: then the request goes once more on a new connection (what
/// pingora's proxy does too), never after the app started answering or timed out.
async fn exchange(
    sidecar: &Sidecar,
    peer: &pingora_core::upstreams::peer::HttpPeer,
    head: &[u8],
    body: &Bytes,
    read_timeout: Duration,
) -> Result<(HttpSession, Box<pingora_http::ResponseHeader>)> {
    let (stream, reused) = sidecar
        .upstreams
        .get_stream(peer)
        .await
        .map_err(|e| e.into_up())?;
    match request_once(stream, head, body, read_timeout).await {
        Err(e) if reused && stale_connection(&e) => {
            let stream = sidecar
                .upstreams
                .new_stream(peer)
                .await
                .map_err(|e| e.into_up())?;
            request_once(stream, head, body, read_timeout).await
        }
        result => result,
    }
}

fn stale_connection(e: &Error) -> bool {
    matches!(
        e.etype(),
        ErrorType::ConnectionClosed | ErrorType::WriteError | ErrorType::ReadError
    )
}

async fn request_once(
    mut stream: Stream,
    head: &[u8],
    body: &Bytes,
    read_timeout: Duration,
) -> Result<(HttpSession, Box<pingora_http::ResponseHeader>)> {
    match tokio::time::timeout(read_timeout, write_all(&mut stream, head, body)).await {
        Ok(written) => written
            .or_err(ErrorType::WriteError, "writing the request to the app")
            .map_err(|e| e.into_up())?,
        Err(_) => {
            return Err(
                Error::explain(ErrorType::WriteTimedout, "writing the request to the app")
                    .into_up(),
            )
        }
    }
    let mut client = HttpSession::new(stream);
    client.read_timeout = Some(read_timeout);
    loop {
        client.read_response().await.map_err(|e| e.into_up())?;
        match client.get_status().map(|s| s.as_u16()) {
            // Never a tunnel: the request asked for no upgrade, so a 101 is a broken app.
            Some(101) => {
                return Err(Error::explain(
                    ErrorType::InvalidHTTPHeader,
                    "the app answered 101 Switching Protocols to a request without Upgrade",
                )
                .into_up())
            }
            Some(100..=199) => continue,
            _ => break,
        }
    }
    let response = client
        .resp_header()
        .cloned()
        .map(Box::new)
        .ok_or_else(|| Error::explain(ErrorType::InvalidHTTPHeader, "the app sent no answer"))
        .map_err(|e| e.into_up())?;
    Ok((client, response))
}

/// Head and body in one vectored write (one `sendmsg` for a usual webhook), then a flush.
async fn write_all(stream: &mut Stream, head: &[u8], body: &[u8]) -> std::io::Result<()> {
    let mut slices = [IoSlice::new(head), IoSlice::new(body)];
    let mut rest: &mut [IoSlice<'_>] = &mut slices;
    IoSlice::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        let n = stream.write_vectored(rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    stream.flush().await
}

/// The app's answer to the client: gathered up to [`RELAY_BUFFER`] and written with its
/// head in one go (framed by Content-Length when it was all read), the rest streamed.
async fn relay(
    session: &mut ServerSession,
    client: &mut HttpSession,
    mut response: Box<pingora_http::ResponseHeader>,
    head_only: bool,
) -> Result<()> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut gathered = 0usize;
    // The answer to HEAD has no body whatever its Content-Length says (the connection is
    // not reused: pingora's reader, not told the method, would wait for one).
    let mut done = head_only;
    while !done && gathered < RELAY_BUFFER {
        match client.read_body_bytes().await.map_err(|e| e.into_up())? {
            Some(chunk) => {
                gathered += chunk.len();
                chunks.push(chunk);
            }
            None => {
                done = true;
                break;
            }
        }
    }
    for name in [header::CONNECTION, HeaderName::from_static("keep-alive")] {
        response.remove_header(&name);
    }
    let status = response.status.as_u16();
    if done && !head_only && status != 204 && status != 304 {
        response.remove_header(&header::TRANSFER_ENCODING);
        response.insert_header(header::CONTENT_LENGTH, gathered)?;
    }
    let last = chunks.len();
    let mut tasks = Vec::with_capacity(last + 1);
    tasks.push(HttpTask::Header(response, done && last == 0));
    for (i, chunk) in chunks.into_iter().enumerate() {
        tasks.push(HttpTask::Body(Some(chunk), done && i + 1 == last));
    }
    session.response_duplex_vec(tasks).await?;
    if !done {
        while let Some(chunk) = client.read_body_bytes().await.map_err(|e| e.into_up())? {
            session.write_response_body(chunk, false).await?;
        }
        session.write_response_body(Bytes::new(), true).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hookguard_names_and_their_underscore_aliases_are_forged_others_are_not() {
        for name in [
            "x-hookguard-route",
            "x_hookguard_client_ip",
            "x-hookguard_route",
            "x_hookguard-",
        ] {
            assert!(
                is_forged_hookguard_header(&HeaderName::from_static(name)),
                "{name}"
            );
        }
        for name in [
            "x-hookguard",
            "x_hookguard",
            "x-hookguardx-a",
            "x-forwarded-for",
            "x_a",
        ] {
            assert!(
                !is_forged_hookguard_header(&HeaderName::from_static(name)),
                "{name}"
            );
        }
    }

    #[test]
    fn forwarded_elements_quote_ipv6() {
        assert_eq!(
            forwarded_for_element("192.0.2.1".parse().unwrap()),
            "for=192.0.2.1"
        );
        assert_eq!(
            forwarded_for_element("2001:db8::1".parse().unwrap()),
            "for=\"[2001:db8::1]\""
        );
    }
}
