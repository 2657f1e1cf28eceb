//! The pingora adapter: route lookup, run the route's stack, forward or answer.
//!
//! Thin on purpose (pingora `examples/ctx.rs`): every decision is made by the layers'
//! policy cores through the route's two stages (see `stack.rs`); this file only moves
//! bytes between pingora's session and those stages. Hook order (pingora 0.9):
//! `request_filter` (all admission happens here, before connecting upstream) →
//! `upstream_peer` → `upstream_request_filter` → response filters → `logging`.

mod forward;
mod log;
mod queue;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use hookguard_config::LiveConfig;
use hookguard_layers::ip::ClientIp;
use hookguard_layers::replay::PendingDelivery;
use hookguard_layers::rules::{FilteredEvent, Transformed};
use hookguard_layers::verify::Verified;
use hookguard_layers::{Admission, Reason};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use tower::ServiceExt;

use crate::runtime::{Lookup, Route, Snapshot};

pub(crate) use forward::RETRY_BUFFER_LIMIT;
pub(crate) use log::Outcome;

/// The sidecar: the current configuration snapshot and the probes' state.
pub(crate) struct Sidecar {
    pub(crate) live: Arc<LiveConfig<Snapshot>>,
    /// Requests between `new_ctx` and `logging`: the drain ends early when it reaches 0.
    pub(crate) in_flight: Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) connector: pingora_core::connectors::http::Connector,
}

impl Sidecar {
    pub(crate) fn new(live: Arc<LiveConfig<Snapshot>>) -> Self {
        Self {
            live,
            in_flight: Arc::default(),
            connector: pingora_core::connectors::http::Connector::new(None),
        }
    }
}

/// Per-request state.
pub(crate) struct Ctx {
    started: Instant,
    snapshot: Option<Arc<Snapshot>>,
    route: Option<Arc<Route>>,
    outcome: Outcome,
    reason: Option<&'static str>,
    status: Option<u16>,
    client_ip: Option<String>,
    verified: Option<Verified>,
    body_len: usize,
    body: Bytes,
    upstream_started: Option<Instant>,
    upstream_elapsed: Option<Duration>,
    /// Replay reservation to settle once the upstream answered.
    pending: Option<PendingDelivery>,
    /// The head the payload rules left, when they changed the request's headers.
    headers: Option<http::HeaderMap>,
    /// Set when the payload rules mapped the body: `body` holds the new bytes.
    transformed: Option<Transformed>,
    /// The configured event pattern that filtered the delivery.
    filtered: Option<FilteredEvent>,
}

/// An answer decided by the sidecar itself (not by a layer).
struct Refusal {
    status: StatusCode,
    reason: &'static str,
    message: &'static str,
    close: bool,
}

const NOT_FOUND: Refusal = Refusal {
    status: StatusCode::NOT_FOUND,
    reason: "route_not_found",
    message: "no route for this path",
    close: false,
};
const KEY_DISABLED: Refusal = Refusal {
    status: StatusCode::FORBIDDEN,
    reason: "key_disabled",
    message: "this webhook key is disabled",
    close: false,
};
const BAD_FRAMING: Refusal = Refusal {
    status: StatusCode::BAD_REQUEST,
    reason: "bad_framing",
    message: "both Content-Length and Transfer-Encoding are present",
    close: true,
};
const BODY_TIMEOUT: Refusal = Refusal {
    status: StatusCode::REQUEST_TIMEOUT,
    reason: "body_timeout",
    message: "the body was not received in time",
    close: true,
};
const BODY_READ_FAILED: Refusal = Refusal {
    status: StatusCode::BAD_REQUEST,
    reason: "body_read_failed",
    message: "could not read the request body",
    close: true,
};
const BAD_CONTENT_LENGTH: Refusal = Refusal {
    status: StatusCode::BAD_REQUEST,
    reason: "bad_framing",
    message: "Content-Length is not a number",
    close: true,
};

/// The most a shadow-mode route buffers (when its own limit is lower): shadow mode forwards
/// bodies over the route's limit, but a body must fit in memory to be verified and forwarded.
const SHADOW_BODY_CEILING: usize = 16 * 1024 * 1024;

fn too_large(limit: usize) -> Response<Bytes> {
    hookguard_layers::Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Reason::BodyTooLarge,
        format!("body larger than the route's limit of {limit} bytes"),
    )
    .into_response()
}

impl Ctx {
    fn route_id(&self) -> &str {
        self.route.as_ref().map_or("-", |r| &r.id)
    }
}

#[async_trait]
impl ProxyHttp for Sidecar {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ctx {
            started: Instant::now(),
            snapshot: None,
            route: None,
            outcome: Outcome::Error,
            reason: None,
            status: None,
            client_ip: None,
            verified: None,
            body_len: 0,
            body: Bytes::new(),
            upstream_started: None,
            upstream_elapsed: None,
            pending: None,
            headers: None,
            transformed: None,
            filtered: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let snapshot = self.live.current();
        ctx.snapshot = Some(Arc::clone(&snapshot));
        let route = match snapshot.lookup(session.req_header().uri.path()) {
            Lookup::Found(route) => Arc::clone(route),
            Lookup::KeyDisabled => return refuse(session, ctx, &KEY_DISABLED).await,
            Lookup::NotFound => return refuse(session, ctx, &NOT_FOUND).await,
        };
        ctx.route = Some(Arc::clone(&route));

        // Header stage: nothing of the body has been read, so refusing here costs nothing.
        let headers = &session.req_header().headers;
        if had_both_framings(session) {
            return refuse(session, ctx, &BAD_FRAMING).await;
        }
        let declared = match headers
            .get(header::CONTENT_LENGTH)
            .map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()))
        {
            Some(None) => return refuse(session, ctx, &BAD_CONTENT_LENGTH).await,
            Some(Some(n)) => Some(n),
            None => None,
        };
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.method_mut() = session.req_header().method.clone();
        *request.uri_mut() = session.req_header().uri.clone();
        *request.headers_mut() = session.req_header().headers.clone();
        if let Some(peer) = session.client_addr().and_then(|a| a.as_inet()) {
            request.extensions_mut().insert(*peer);
        }
        let request = match admit(&route.header_stage, request, ctx).await {
            Admitted::Forward(req) | Admitted::ShadowRefused(req) => req,
            Admitted::Respond(resp) => return answer(session, ctx, resp).await,
        };
        ctx.client_ip = request
            .extensions()
            .get::<ClientIp>()
            .map(|ip| ip.0.to_string());
        // Shadow mode forwards a body over the route's limit (counted as `body_too_large`),
        // up to a ceiling that keeps the buffer bounded.
        let read_limit = if route.shadow {
            route.body_limit.max(SHADOW_BODY_CEILING)
        } else {
            route.body_limit
        };
        if declared.is_some_and(|n| n > read_limit as u64) {
            session.set_keepalive(None);
            return answer(session, ctx, too_large(read_limit)).await;
        }
        if declared.is_some_and(|n| n > route.body_limit as u64) {
            note_shadow(ctx, &too_large(route.body_limit));
        }

        // Only now is the client told to send its body.
        if expects_continue(session.req_header()) {
            session.write_continue_response().await?;
        }

        // Body: buffered for pingora's retry path, bounded in size and in total time.
        session.enable_retry_buffering();
        let body =
            match tokio::time::timeout(route.body_timeout, read_body(session, read_limit)).await {
                Err(_) => return refuse(session, ctx, &BODY_TIMEOUT).await,
                Ok(Err(_)) => return refuse(session, ctx, &BODY_READ_FAILED).await,
                Ok(Ok(None)) => {
                    session.set_keepalive(None);
                    return answer(session, ctx, too_large(read_limit)).await;
                }
                Ok(Ok(Some(body))) => body,
            };
        ctx.body_len = body.len();

        // Body stage: signature, replay guard, payload rules.
        let (parts, _) = request.into_parts();
        let request = Request::from_parts(parts, Full::new(body.clone()));
        let keys = route.keys.clone();
        let admitted = match admit(&route.body_stage, request, ctx).await {
            Admitted::Forward(req) => Some(req),
            // Shadow mode forwards the request as it came.
            Admitted::ShadowRefused(req) => {
                ctx.verified = req.extensions().get::<Verified>().cloned();
                None
            }
            Admitted::Respond(resp) => return answer(session, ctx, resp).await,
        };
        ctx.body = body;
        if let Some(req) = admitted {
            ctx.verified = req.extensions().get::<Verified>().cloned();
            ctx.pending = req.extensions().get::<PendingDelivery>().cloned();
            ctx.transformed = req.extensions().get::<Transformed>().cloned();
            let (parts, admitted_body) = req.into_parts();
            if parts.headers != session.req_header().headers {
                ctx.headers = Some(parts.headers);
            }
            ctx.body = admitted_body;
        }
        if let (Some(keys), Some(v)) = (&keys, &ctx.verified) {
            keys.record_match(&v.secret_id);
        }

        // Queue mode: stored durably and answered 202, delivered to the app by the engine.
        if let (Some(queued), Some(queue)) = (&route.queue, &snapshot.queue) {
            let headers = ctx
                .headers
                .clone()
                .unwrap_or_else(|| session.req_header().headers.clone());
            return queue::enqueue(session, ctx, queue, queued, &headers).await;
        }
        if ctx.outcome != Outcome::ShadowRejected {
            ctx.outcome = Outcome::Forwarded;
        }

        // Pingora replays a pre-read body only while it fits its retry buffer, and replays
        // the bytes it read: a mapped body always goes through our own path.
        if ctx.transformed.is_some()
            || session.retry_buffer_truncated()
            || ctx.body.len() > RETRY_BUFFER_LIMIT
        {
            forward::forward_buffered(self, session, ctx).await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let snapshot = ctx
            .snapshot
            .as_ref()
            .ok_or_else(|| Error::new(ErrorType::InternalError))?;
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(forward::peer(&snapshot.upstream)))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        forward::prepare_upstream_request(upstream_request, session, ctx)
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.upstream_elapsed = ctx.upstream_started.map(|t| t.elapsed());
        let status = upstream_response.status.as_u16();
        ctx.status = Some(status);
        settle(ctx, Some(status)).await;
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut Ctx) -> FailToProxy {
        let code = failure_status(e);
        if code > 0 {
            // The client may be gone already; `logging` records the original error.
            let _ = session.respond_error(code).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut Ctx) {
        // Pingora calls `logging` once for every context it created.
        let _done = InFlightGuard(&self.in_flight);
        // A reservation never settled (connect error, timeout): release it so a retry passes.
        settle(ctx, None).await;
        if error.is_some() && ctx.outcome == Outcome::Forwarded {
            ctx.outcome = Outcome::Error;
            ctx.reason.get_or_insert("upstream_error");
        }
        if ctx.status.is_none() {
            ctx.status = session.response_written().map(|r| r.status.as_u16());
        }
        log::record(session, ctx, error);
    }
}

/// The status for a request that failed: pingora's default mapping, except that the app not
/// answering within `upstream.read_timeout` is 504 Gateway Timeout, as the configuration
/// documents (pingora answers 502 for every upstream failure).
fn failure_status(e: &Error) -> u16 {
    match (e.etype(), e.esource()) {
        (ErrorType::HTTPStatus(code), _) => *code,
        (ErrorType::ReadTimedout | ErrorType::WriteTimedout, ErrorSource::Upstream) => 504,
        (_, ErrorSource::Upstream) => 502,
        (
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed,
            ErrorSource::Downstream,
        ) => 0, // the connection is already dead
        (_, ErrorSource::Downstream) => 400,
        (_, ErrorSource::Internal | ErrorSource::Unset) => 500,
    }
}

struct InFlightGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Commits a replay reservation when the app accepted the delivery (2xx), releases it
/// otherwise (or when no answer came), so the provider's retry passes.
pub(crate) async fn settle(ctx: &mut Ctx, status: Option<u16>) {
    if let Some(pending) = ctx.pending.take() {
        // Store errors are logged by the guard; the lease ends a reservation left behind.
        let _ = match status {
            Some(s) if (200..300).contains(&s) => pending.commit().await,
            _ => pending.release().await,
        };
    }
}

enum Admitted {
    Forward(Request<Bytes>),
    Respond(Response<Bytes>),
    /// Refused, but the route is in shadow mode: forward anyway.
    ShadowRefused(Request<Bytes>),
}

/// Runs a stage. In shadow mode a refusal is recorded and the request goes on.
async fn admit(
    stage: &crate::runtime::Stage,
    request: Request<Full<Bytes>>,
    ctx: &mut Ctx,
) -> Admitted {
    let shadow = ctx.route.as_ref().is_some_and(|r| r.shadow);
    // Shadow mode keeps a copy of the head, so a refused request can still be forwarded.
    let keep = shadow.then(|| {
        let mut copy = Request::new(Bytes::new());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        copy
    });
    let Ok(admission) = stage.clone().oneshot(request).await;
    match admission {
        Admission::Forward(req) => Admitted::Forward(req),
        Admission::Respond(resp) => match keep {
            Some(req) => {
                note_shadow(ctx, &resp);
                Admitted::ShadowRefused(req)
            }
            None => Admitted::Respond(resp),
        },
    }
}

fn note_shadow(ctx: &mut Ctx, response: &Response<Bytes>) {
    ctx.outcome = Outcome::ShadowRejected;
    ctx.reason.get_or_insert(
        response
            .extensions()
            .get::<Reason>()
            .map_or("rejected", |r| r.as_str()),
    );
}

/// Whether the request carried both Content-Length and Transfer-Encoding (a request
/// smuggling attempt, or a broken client). Pingora's HTTP/1 reader removes Content-Length
/// in that case before any hook runs (RFC 9112 §6.3), so the parsed headers cannot tell;
/// the raw head it keeps can, whatever `Connection` says.
fn had_both_framings(session: &Session) -> bool {
    let headers = &session.req_header().headers;
    if !headers.contains_key(header::TRANSFER_ENCODING) {
        return false;
    }
    if headers.contains_key(header::CONTENT_LENGTH) {
        return true;
    }
    session
        .as_downstream()
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

fn expects_continue(req: &RequestHeader) -> bool {
    req.headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads the whole body; `None` when it grows past `limit` (the rest is left unread and the
/// connection is closed after the answer).
async fn read_body(session: &mut Session, limit: usize) -> Result<Option<Bytes>> {
    // Chunks are kept as they come (no copy); a body in one chunk stays as it is, and one
    // that fits pingora's retry buffer is taken from there — pingora copied it already.
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = session.read_request_body().await? {
        total += chunk.len();
        if total > limit {
            return Ok(None);
        }
        chunks.push(chunk);
    }
    Ok(Some(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => match session
            .get_retry_buffer()
            .filter(|b| b.len() == total && !session.retry_buffer_truncated())
        {
            Some(buffered) => buffered,
            None => {
                let mut body = BytesMut::with_capacity(total);
                for chunk in &chunks {
                    body.extend_from_slice(chunk);
                }
                body.freeze()
            }
        },
    }))
}

async fn refuse(session: &mut Session, ctx: &mut Ctx, refusal: &Refusal) -> Result<bool> {
    if refusal.close {
        session.set_keepalive(None);
    }
    let body =
        serde_json::json!({ "error": refusal.reason, "message": refusal.message }).to_string();
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = refusal.status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    ctx.reason = Some(refusal.reason);
    write_response(session, ctx, response).await
}

/// Answers with a layer's rejection.
async fn answer(session: &mut Session, ctx: &mut Ctx, response: Response<Bytes>) -> Result<bool> {
    ctx.filtered = response.extensions().get::<FilteredEvent>().cloned();
    ctx.reason = Some(
        response
            .extensions()
            .get::<Reason>()
            .map_or("rejected", |r| r.as_str()),
    );
    write_response(session, ctx, response).await
}

async fn write_response(
    session: &mut Session,
    ctx: &mut Ctx,
    response: Response<Bytes>,
) -> Result<bool> {
    ctx.outcome = Outcome::Rejected;
    ctx.status = Some(response.status().as_u16());
    let (parts, body) = response.into_parts();
    let mut header = ResponseHeader::build(parts.status, Some(parts.headers.len() + 1))?;
    for (name, value) in &parts.headers {
        header.append_header(name.clone(), value.clone())?;
    }
    header.insert_header(header::CONTENT_LENGTH, body.len())?;
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session.write_response_body(Some(body), true).await?;
    Ok(true)
}
