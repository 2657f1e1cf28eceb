//! Forwarding to the app: the head the app receives (one place, also used by queue mode),
//! one write of head and body on a pooled connection — made once the other ready requests
//! have reached theirs, so the writes leave together — and the answer relayed back.

use std::io::IoSlice;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookguard_config::ForwardedFor;
use http::{header, HeaderName};
use pingora_core::protocols::http::v1::client::HttpSession;
use pingora_core::protocols::http::{HttpTask, ServerSession};
use pingora_core::protocols::Stream;
use pingora_core::upstreams::peer::Peer;
use pingora_error::{Error, ErrorType, OrErr, Result};
use pingora_http::RequestHeader;
use tokio::io::AsyncWriteExt;

use super::exchange::{settle, Ctx};
use super::{pool, Sidecar};
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

/// Where [`upstream_head`] puts the head it builds: forward mode writes it to the wire,
/// queue mode stores it with the message.
pub(super) trait HeadSink {
    /// The request line's method and target (path and query).
    fn request_line(&mut self, method: &http::Method, target: &[u8], version: http::Version);
    /// One header line; names in the case the client sent them (hookguard's own lowercase).
    fn header(&mut self, name: &[u8], value: &[u8]);
}

/// The head the app receives, in forward and queue mode alike: the headers the checks left
/// (in the client's order and case), no hop-by-hop ones, Content-Length framing for the
/// exact body, every incoming `x-hookguard-*` header (or `_` alias) replaced by
/// hookguard's own, the client address passed on as `upstream.forwarded_for` says, the
/// path rewritten as the route says.
///
/// Written straight into `sink`: no copy of the received head is made and edited (that
/// cost a `HeaderMap` clone, its case map and a serialisation per request).
pub(super) fn upstream_head(
    received: &RequestHeader,
    ctx: &Ctx,
    forwarded_for: ForwardedFor,
    sink: &mut impl HeadSink,
) -> Result<()> {
    match upstream_target(&received.uri, ctx) {
        Some(target) => {
            // A rewritten target must still be a valid request target.
            http::uri::PathAndQuery::try_from(target.as_str()).or_err(
                ErrorType::InternalError,
                "rewritten path is not a valid URI",
            )?;
            sink.request_line(&received.method, target.as_bytes(), received.version);
        }
        None => sink.request_line(&received.method, received.raw_path(), received.version),
    }
    // The headers the checks left: the received ones, unless the payload rules changed
    // them (then a changed name takes the rules' values, in lowercase).
    let admitted = ctx.headers.as_ref();
    let same = |name: &HeaderName| {
        admitted.is_none_or(|a| {
            received
                .headers
                .get_all(name)
                .iter()
                .eq(a.get_all(name).iter())
        })
    };
    let connection = admitted.unwrap_or(&received.headers);
    // Read once: the loop below asks for every header.
    let named = named_by_connection(connection);
    let passes = |name: &HeaderName| {
        !HOP_BY_HOP.contains(name)
            && !named.contains(name)
            && !is_forged_hookguard_header(name)
            && *name != header::CONTENT_LENGTH
            && (*name != header::FORWARDED && name.as_str() != "x-forwarded-for"
                || forwarded_for == ForwardedFor::Append && ctx.peer.is_none())
    };
    // The case map and the header map hold the same entries in the same order (pingora
    // asserts it in `case_header_iter`): the lowercase name comes with each entry, no
    // name is parsed again.
    for ((lower, _), (name, value)) in received.headers.iter().zip(received.case_header_iter()) {
        if passes(lower) && same(lower) {
            sink.header(name.as_slice(), value.as_bytes());
        }
    }
    if let Some(admitted) = admitted {
        for name in admitted.keys() {
            if passes(name) && !same(name) {
                for value in admitted.get_all(name) {
                    sink.header(name.as_str().as_bytes(), value.as_bytes());
                }
            }
        }
    }
    let mut length = itoa::Buffer::new();
    sink.header(b"content-length", length.format(ctx.body.len()).as_bytes());
    forwarding_headers(connection, ctx, forwarded_for, sink);
    hookguard_headers(ctx, sink);
    Ok(())
}

/// The headers `Connection` names as more hop-by-hop ones (empty, without allocating, when
/// it names none).
fn named_by_connection(headers: &http::HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect()
}

/// `X-Forwarded-For` and `Forwarded` as a proxy passes them on: the connection's peer
/// appended to what came (`append`), or only the client address hookguard decided
/// (`replace`). Without it an app trusting one hop believes an address the client chose.
fn forwarding_headers(
    headers: &http::HeaderMap,
    ctx: &Ctx,
    mode: ForwardedFor,
    sink: &mut impl HeadSink,
) {
    let (ip, joined) = match mode {
        // Without a peer address the headers went on as they came.
        ForwardedFor::Append => match ctx.peer {
            Some(peer) => (peer.ip(), true),
            None => return,
        },
        ForwardedFor::Replace => match ctx.client_ip() {
            Some(client) => (client, false),
            None => return,
        },
    };
    // The address as text: the client's, formatted once, when it is the same one.
    let formatted;
    let text = match ctx.client_ip_text() {
        Some(text) if ctx.client_ip() == Some(ip) => text,
        _ => {
            formatted = ip.to_string();
            &formatted
        }
    };
    let mut value = String::with_capacity(64);
    for (name, element) in [
        ("x-forwarded-for", ForwardedElement::Plain(text)),
        ("forwarded", ForwardedElement::For(ip, text)),
    ] {
        value.clear();
        if joined {
            for earlier in headers.get_all(name).iter().filter_map(|v| v.to_str().ok()) {
                value.push_str(earlier);
                value.push_str(", ");
            }
        }
        element.push_to(&mut value);
        sink.header(name.as_bytes(), value.as_bytes());
    }
}

/// The element hookguard adds to `X-Forwarded-For` (the address) or `Forwarded` (`for=`).
enum ForwardedElement<'a> {
    Plain(&'a str),
    For(std::net::IpAddr, &'a str),
}

impl ForwardedElement<'_> {
    fn push_to(&self, out: &mut String) {
        match self {
            ForwardedElement::Plain(text) => out.push_str(text),
            // RFC 7239 §6: IPv6 quoted and bracketed.
            ForwardedElement::For(std::net::IpAddr::V4(_), text) => {
                out.push_str("for=");
                out.push_str(text);
            }
            ForwardedElement::For(std::net::IpAddr::V6(_), text) => {
                out.push_str("for=\"[");
                out.push_str(text);
                out.push_str("]\"");
            }
        }
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

/// The `x-hookguard-*` headers that tell the app what hookguard decided. A value that
/// could not be a header value (a delivery id with a control character) is left out.
fn hookguard_headers(ctx: &Ctx, sink: &mut impl HeadSink) {
    let mut add = |name: &'static str, value: &str| {
        if is_header_value(value.as_bytes()) {
            sink.header(name.as_bytes(), value.as_bytes());
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
    if let Some(ip) = ctx.client_ip_text() {
        add("x-hookguard-client-ip", ip);
    }
    let mut received = [0u8; crate::rfc3339::MICROS_LEN];
    let received = ctx.received_at_rfc3339(&mut received);
    sink.header(b"x-hookguard-received-at", received.as_bytes());
    if let Some(transformed) = &ctx.transformed {
        let digest = &transformed.original_sha256;
        if is_header_value(digest.as_bytes()) {
            sink.header(
                hookguard_layers::rules::ORIGINAL_SHA256_HEADER.as_bytes(),
                digest.as_bytes(),
            );
        }
    }
}

/// What `HeaderValue::from_str` accepts (visible ASCII, space and tab), checked without
/// building one: the value is written into the head as it is.
fn is_header_value(value: &[u8]) -> bool {
    value.iter().all(|&b| (32..127).contains(&b) || b == b'\t')
}

/// Room for a usual head, so building it does not reallocate.
const WIRE_CAPACITY: usize = 1024;

/// The head as HTTP/1.1 bytes.
struct Wire(Vec<u8>);

impl HeadSink for Wire {
    fn request_line(&mut self, method: &http::Method, target: &[u8], version: http::Version) {
        let version: &[u8] = if version == http::Version::HTTP_10 {
            b"HTTP/1.0"
        } else {
            b"HTTP/1.1"
        };
        for part in [
            method.as_str().as_bytes(),
            b" ",
            target,
            b" ",
            version,
            b"\r\n",
        ] {
            self.0.extend_from_slice(part);
        }
    }

    fn header(&mut self, name: &[u8], value: &[u8]) {
        for part in [name, b": ", value, b"\r\n"] {
            self.0.extend_from_slice(part);
        }
    }
}

/// Sends the admitted request to the app and relays its answer to the client.
pub(super) async fn forward(
    sidecar: &Sidecar,
    snapshot: &Snapshot,
    session: &mut ServerSession,
    ctx: &mut Ctx,
) -> Result<()> {
    let upstream = &snapshot.upstream;
    let mut wire = Wire(Vec::with_capacity(WIRE_CAPACITY));
    upstream_head(session.req_header(), ctx, upstream.forwarded_for, &mut wire)?;
    wire.0.extend_from_slice(b"\r\n");
    let head_only = session.req_header().method == http::Method::HEAD;
    let peer = upstream
        .peer()
        .map_err(|e| Error::explain(ErrorType::ConnectError, e).into_up())?;
    let key = peer.reuse_hash();
    // The other requests that are ready go first (to this same point): then the writes to
    // the app leave together, and an app that shares the CPU is woken once for several
    // requests instead of once for each, preempting the sidecar each time. Measured: 0.39
    // instead of 0.69 wake-ups of the app per request, about −5 % CPU per request for the
    // sidecar and −15 % for the app (bench/README.md, "Session 7: writes to the app, together").
    // A request alone in the sidecar has nothing to wait for: it writes at once.
    if sidecar.in_flight.load(Ordering::Relaxed) > 1 {
        BehindTheReady::default().await;
    }
    let started = Instant::now();
    let (mut client, response) = exchange(
        sidecar,
        &peer,
        key,
        &wire.0,
        &ctx.body,
        upstream.read_timeout,
        started,
    )
    .await?;
    let answered = Instant::now();
    ctx.upstream_elapsed = Some(answered - started);
    let status = response.status.as_u16();
    ctx.status = Some(status);
    settle(ctx, Some(status)).await;
    relay(session, &mut client, response, head_only).await?;
    client.respect_keepalive();
    if let Some(stream) = client.reuse().await {
        // Idle since its answer's head (the relay's time counts toward its age).
        pool::put(key, stream, answered);
    }
    Ok(())
}

/// Finishes on its second poll: the first wakes the task and returns `Pending`, so the
/// runtime puts the task at the back of its run queue, behind the tasks that are ready now.
///
/// Written here because `tokio::task::yield_now` does more: it defers the task until after
/// the runtime's next poll of the I/O driver, so requests that have only just arrived run
/// their checks before the yielded ones write — which, measured, fattened the tail (p99 at
/// 64 KiB above the HAProxy gate's while the median was below it).
#[derive(Default)]
struct BehindTheReady {
    polled: bool,
}

impl std::future::Future for BehindTheReady {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.polled {
            return std::task::Poll::Ready(());
        }
        self.polled = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// One request-response on a pooled connection. A pooled connection the app closed while
/// it sat idle fails at once: then the request goes once more on a new connection (what
/// pingora's proxy does too), never after the app started answering or timed out.
/// `key`: the peer's `reuse_hash`; `now`: when the exchange starts.
async fn exchange(
    sidecar: &Sidecar,
    peer: &pingora_core::upstreams::peer::HttpPeer,
    key: u64,
    head: &[u8],
    body: &Bytes,
    read_timeout: Duration,
    now: Instant,
) -> Result<(HttpSession, Box<pingora_http::ResponseHeader>)> {
    let (stream, reused) = match pool::take(key, peer.idle_timeout().unwrap_or_default(), now) {
        Some(stream) => (stream, true),
        None => (
            sidecar
                .upstreams
                .new_stream(peer)
                .await
                .map_err(|e| e.into_up())?,
            false,
        ),
    };
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
    match pingora_timeout::timeout(read_timeout, write_all(&mut stream, head, body)).await {
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
    fn a_write_steps_behind_the_tasks_that_are_ready_but_not_behind_later_ones() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = |order: &std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>, at| {
            order.lock().unwrap().push(at)
        };
        runtime.block_on(async {
            let (a, b, c) = (order.clone(), order.clone(), order.clone());
            let first = tokio::spawn(async move {
                log(&a, "first checked");
                BehindTheReady::default().await;
                log(&a, "first writes");
            });
            let second = tokio::spawn(async move { log(&b, "second checked") });
            // Ready only once the first has stepped aside and the second has run: a task
            // woken by I/O would come this late. It must not go before the write.
            let third = tokio::spawn(async move {
                tokio::task::yield_now().await;
                log(&c, "a later request");
            });
            for task in [first, second, third] {
                task.await.unwrap();
            }
        });
        assert_eq!(
            *order.lock().unwrap(),
            [
                "first checked",
                "second checked",
                "first writes",
                "a later request"
            ]
        );
    }

    #[test]
    fn forwarded_elements_quote_ipv6() {
        let element = |ip: &str| {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            let mut out = String::new();
            ForwardedElement::For(ip, &ip.to_string()).push_to(&mut out);
            out
        };
        assert_eq!(element("192.0.2.1"), "for=192.0.2.1");
        assert_eq!(element("2001:db8::1"), "for=\"[2001:db8::1]\"");
    }
}
