//! One request, start to end: the route, the header stage, the body, the body stage, then
//! the app (`forward.rs`) or the queue (`queue.rs`); the access log whatever happened.

use std::cell::OnceCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hookguard_layers::ip::ClientIp;
use hookguard_layers::replay::PendingDelivery;
use hookguard_layers::rules::{FilteredEvent, Transformed};
use hookguard_layers::shadow::ShadowRefusal;
use hookguard_layers::verify::Verified;
use hookguard_layers::{Reason, Verdict};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use pingora_core::protocols::http::ServerSession;
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use tower::ServiceExt;

use super::respond::{answer, refuse, too_large};
use super::{body, forward, framing, log, queue, Sidecar};
use crate::rfc3339::{self, MICROS_LEN};
use crate::runtime::{Lookup, Route, Snapshot, Stage};

/// What happened to a request (a metric label: a fixed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Passed every check and was sent to the app.
    Forwarded,
    /// Passed every check and was stored for delivery (queue mode), answered 202.
    Queued,
    /// Refused by a check (or answered as a duplicate).
    Rejected,
    /// A check refused it but the route is in shadow mode: forwarded anyway.
    ShadowRejected,
    /// Something failed (upstream unreachable, client gone).
    Error,
}

impl Outcome {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Queued => "queued",
            Outcome::Rejected => "rejected",
            Outcome::ShadowRejected => "shadow_rejected",
            Outcome::Error => "error",
        }
    }
}

/// Per-request state.
pub(super) struct Ctx {
    pub(super) started: Instant,
    /// The same moment on the wall clock (`x-hookguard-received-at`).
    pub(super) received: SystemTime,
    /// The connection's peer.
    pub(super) peer: Option<SocketAddr>,
    pub(super) route: Option<Arc<Route>>,
    pub(super) outcome: Outcome,
    pub(super) reason: Option<Reason>,
    pub(super) status: Option<u16>,
    /// The peer's address as text, formatted once per connection.
    peer_text: Option<Arc<str>>,
    /// The client address the IP filter decided (forwarded headers from trusted proxies).
    verified_client: Option<IpAddr>,
    /// The decided client address as text, when it is not the peer's, made once: the log,
    /// the forwarded headers and `x-hookguard-client-ip` all write it.
    verified_client_text: OnceCell<String>,
    pub(super) verified: Option<Verified>,
    pub(super) body_len: usize,
    pub(super) body: Bytes,
    pub(super) upstream_elapsed: Option<Duration>,
    /// Replay reservation to settle once the app (or the queue) answered.
    pub(super) pending: Option<PendingDelivery>,
    /// The head the payload rules left, when they changed the request's headers.
    pub(super) headers: Option<HeaderMap>,
    /// Set when the payload rules mapped the body: `body` holds the new bytes.
    pub(super) transformed: Option<Transformed>,
    /// The configured event pattern that filtered the delivery.
    pub(super) filtered: Option<FilteredEvent>,
}

impl Ctx {
    fn new(peer: Option<SocketAddr>, peer_text: Option<Arc<str>>) -> Self {
        Self {
            started: Instant::now(),
            received: SystemTime::now(),
            peer,
            route: None,
            outcome: Outcome::Error,
            reason: None,
            status: None,
            peer_text,
            verified_client: None,
            verified_client_text: OnceCell::new(),
            verified: None,
            body_len: 0,
            body: Bytes::new(),
            upstream_elapsed: None,
            pending: None,
            headers: None,
            transformed: None,
            filtered: None,
        }
    }

    pub(super) fn route_id(&self) -> &str {
        self.route.as_ref().map_or("-", |r| &r.id)
    }

    /// The client address: the one the IP filter decided, else the connection's peer.
    pub(super) fn client_ip(&self) -> Option<IpAddr> {
        self.verified_client.or(self.peer.map(|p| p.ip()))
    }

    /// [`client_ip`](Self::client_ip) as text: the connection's, or the decided address
    /// formatted once per request when it is another.
    pub(super) fn client_ip_text(&self) -> Option<&str> {
        match self.verified_client {
            Some(ip) if Some(ip) != self.peer.map(|p| p.ip()) => {
                Some(self.verified_client_text.get_or_init(|| ip.to_string()))
            }
            _ => self.peer_text.as_deref(),
        }
    }

    /// Records the client address the IP filter decided.
    fn set_verified_client(&mut self, ip: Option<IpAddr>) {
        self.verified_client = ip;
        self.verified_client_text = OnceCell::new();
    }

    /// When the request arrived (`x-hookguard-received-at`), written into `buf`.
    pub(super) fn received_at_rfc3339<'b>(&self, buf: &'b mut [u8; MICROS_LEN]) -> &'b str {
        rfc3339::micros(self.received, buf)
    }

    /// Records a refusal a shadow-mode route let through.
    fn note_shadow(&mut self, response: &Response<Bytes>) {
        self.outcome = Outcome::ShadowRejected;
        if self.reason.is_none() {
            self.reason = response.extensions().get::<Reason>().copied();
        }
    }
}

/// Serves one request whose head pingora has read, and logs it. `peer_text`: the peer's
/// address as text.
pub(super) async fn serve(
    sidecar: &Sidecar,
    session: &mut ServerSession,
    peer: Option<SocketAddr>,
    peer_text: Option<&Arc<str>>,
) {
    sidecar.in_flight.fetch_add(1, Ordering::AcqRel);
    let _done = InFlight(&sidecar.in_flight);
    let mut ctx = Ctx::new(peer, peer_text.cloned());
    let snapshot = sidecar.live.current();
    let result = handle(sidecar, &snapshot, session, &mut ctx).await;
    // A reservation never settled (the app unreachable, the client gone): release it so
    // the provider's retry passes.
    settle(&mut ctx, None).await;
    if let Err(e) = &result {
        fail(session, &mut ctx, e).await;
    }
    log::record(
        &snapshot,
        session.req_header(),
        &ctx,
        result.as_ref().err().map(|e| &**e),
    );
}

async fn handle(
    sidecar: &Sidecar,
    snapshot: &Arc<Snapshot>,
    session: &mut ServerSession,
    ctx: &mut Ctx,
) -> Result<()> {
    let req = session.req_header();
    if framing::has_dot_segment(req.uri.path()) {
        let message = "the path has a dot segment (`.`, `..` or an encoded form)";
        return refuse(
            session,
            ctx,
            StatusCode::BAD_REQUEST,
            Reason::BadPath,
            message,
            false,
        )
        .await;
    }
    let route = match snapshot.lookup(req.uri.path()) {
        Lookup::Found(route) => Arc::clone(route),
        Lookup::KeyDisabled => {
            let message = "this webhook key is disabled";
            return refuse(
                session,
                ctx,
                StatusCode::FORBIDDEN,
                Reason::KeyDisabled,
                message,
                false,
            )
            .await;
        }
        Lookup::NotFound => {
            let message = "no route for this path";
            return refuse(
                session,
                ctx,
                StatusCode::NOT_FOUND,
                Reason::RouteNotFound,
                message,
                false,
            )
            .await;
        }
    };
    ctx.route = Some(Arc::clone(&route));

    // Header stage: nothing of the body has been read, so refusing here costs nothing.
    if framing::asks_upgrade(req) {
        let message = "protocol upgrades are not accepted on webhook routes";
        return refuse(
            session,
            ctx,
            StatusCode::BAD_REQUEST,
            Reason::UpgradeRefused,
            message,
            true,
        )
        .await;
    }
    if framing::had_both_framings(session) {
        let message = "both Content-Length and Transfer-Encoding are present";
        return refuse(
            session,
            ctx,
            StatusCode::BAD_REQUEST,
            Reason::BadFraming,
            message,
            true,
        )
        .await;
    }
    let Ok(declared) = framing::declared_length(req) else {
        let message = "Content-Length is not a number";
        return refuse(
            session,
            ctx,
            StatusCode::BAD_REQUEST,
            Reason::BadFraming,
            message,
            true,
        )
        .await;
    };
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.method_mut() = req.method.clone();
    *request.uri_mut() = req.uri.clone();
    *request.headers_mut() = req.headers.clone();
    if let Some(peer) = ctx.peer {
        request.extensions_mut().insert(peer);
    }
    let request = match run_stage(&route.header_stage, request, ctx).await {
        Staged::Passed(req) | Staged::ShadowRefused(req) => req,
        Staged::Refused(resp) => return answer(session, ctx, resp).await,
    };
    ctx.set_verified_client(request.extensions().get::<ClientIp>().map(|ip| ip.0));
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
        ctx.note_shadow(&too_large(route.body_limit));
    }

    // Only now is the client told to send its body.
    if framing::expects_continue(session.req_header()) {
        session.write_continue_response().await?;
    }
    let body = match pingora_timeout::timeout(
        route.body_timeout,
        body::read(session, read_limit, declared),
    )
    .await
    {
        Err(_) => {
            let message = "the body was not received in time";
            return refuse(
                session,
                ctx,
                StatusCode::REQUEST_TIMEOUT,
                Reason::BodyTimeout,
                message,
                true,
            )
            .await;
        }
        Ok(Err(_)) => {
            let message = "could not read the request body";
            return refuse(
                session,
                ctx,
                StatusCode::BAD_REQUEST,
                Reason::BodyReadFailed,
                message,
                true,
            )
            .await;
        }
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
    ctx.body = body;
    match run_stage(&route.body_stage, request, ctx).await {
        Staged::Passed(req) => {
            ctx.verified = req.extensions().get::<Verified>().cloned();
            ctx.pending = req.extensions().get::<PendingDelivery>().cloned();
            ctx.transformed = req.extensions().get::<Transformed>().cloned();
            let (parts, admitted_body) = req.into_parts();
            // Only payload rules change headers: without them the comparison is skipped.
            if route.config.rules.is_some() && parts.headers != session.req_header().headers {
                ctx.headers = Some(parts.headers);
            }
            ctx.body = admitted_body;
        }
        // Shadow mode forwards the request as it came.
        Staged::ShadowRefused(req) => ctx.verified = req.extensions().get::<Verified>().cloned(),
        Staged::Refused(resp) => return answer(session, ctx, resp).await,
    }
    if let (Some(keys), Some(v)) = (&route.keys, &ctx.verified) {
        keys.record_match(&v.secret_id);
    }

    // Queue mode: stored durably and answered 202, delivered to the app by the engine.
    if let (Some(queued), Some(store)) = (&route.queue, &snapshot.queue) {
        return queue::enqueue(session, ctx, store, queued, snapshot).await;
    }
    if ctx.outcome != Outcome::ShadowRejected {
        ctx.outcome = Outcome::Forwarded;
    }
    forward::forward(sidecar, snapshot, session, ctx).await
}

/// The most a shadow-mode route buffers (when its own limit is lower): shadow mode forwards
/// bodies over the route's limit, but a body must fit in memory to be verified and forwarded.
const SHADOW_BODY_CEILING: usize = 16 * 1024 * 1024;

enum Staged {
    Passed(Request<Bytes>),
    Refused(Response<Bytes>),
    /// Refused, but the route is in shadow mode: forwarded as it came in.
    ShadowRefused(Request<Bytes>),
}

/// Runs a stage. A shadow-mode route's stages forward what they refuse, with a
/// [`ShadowRefusal`] (the layer `stack.rs` composes around them): recorded here.
async fn run_stage(stage: &Stage, request: Request<Full<Bytes>>, ctx: &mut Ctx) -> Staged {
    let Ok(verdict) = stage.clone().oneshot(request).await;
    let mut req = match verdict {
        Verdict::Forward(req) => req,
        Verdict::Respond(resp) => return Staged::Refused(resp),
    };
    // Taken off the request, so the next stage's record is its own; an enforcing route
    // does not even look.
    let shadow = ctx.route.as_ref().is_some_and(|r| r.shadow);
    match shadow.then(|| req.extensions_mut().remove::<ShadowRefusal>()) {
        Some(Some(refusal)) => {
            ctx.note_shadow(refusal.response());
            Staged::ShadowRefused(req)
        }
        _ => Staged::Passed(req),
    }
}

/// Commits a replay reservation when the delivery was accepted (2xx from the app, or
/// stored by the queue), releases it otherwise (or when no answer came), so the provider's
/// retry passes.
pub(super) async fn settle(ctx: &mut Ctx, status: Option<u16>) {
    if let Some(pending) = ctx.pending.take() {
        // Store errors are logged by the guard; the lease ends a reservation left behind.
        let _ = match status {
            Some(s) if (200..300).contains(&s) => pending.commit().await,
            _ => pending.release().await,
        };
    }
}

/// A request that failed: answered (unless the client is gone or an answer started) with
/// the status the failure calls for, and the connection closed.
async fn fail(session: &mut ServerSession, ctx: &mut Ctx, e: &Error) {
    session.set_keepalive(None);
    let (answer, reason) = failure(e);
    if matches!(ctx.outcome, Outcome::Forwarded | Outcome::ShadowRejected) {
        if ctx.outcome == Outcome::Forwarded {
            ctx.reason = reason;
        }
        ctx.outcome = Outcome::Error;
    }
    let Some((status, message)) = answer else {
        return;
    };
    if session.response_written().is_some() {
        return;
    }
    let rejection =
        hookguard_layers::Rejection::new(status, reason.unwrap_or(Reason::UpstreamError), message);
    // The client may be gone already; the log records the original error.
    let _ = super::respond::write(session, ctx, rejection.into_response()).await;
}

/// The answer for a failure (`None`: the client is gone, nothing to answer) and its reason:
/// the app unreachable is 502, the app not answering within `upstream.read_timeout` is 504
/// (as the configuration documents), a client that broke HTTP is 400.
fn failure(e: &Error) -> (Option<(StatusCode, &'static str)>, Option<Reason>) {
    match (e.etype(), e.esource()) {
        (ErrorType::HTTPStatus(code), _) => (
            Some((
                StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY),
                "the request failed",
            )),
            None,
        ),
        (ErrorType::ReadTimedout | ErrorType::WriteTimedout, ErrorSource::Upstream) => (
            Some((
                StatusCode::GATEWAY_TIMEOUT,
                "the app did not answer in time",
            )),
            Some(Reason::UpstreamTimeout),
        ),
        (
            ErrorType::ConnectTimedout
            | ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
            | ErrorType::SocketError
            | ErrorType::BindError,
            ErrorSource::Upstream,
        ) => (
            Some((StatusCode::BAD_GATEWAY, "the app could not be reached")),
            Some(Reason::UpstreamUnreachable),
        ),
        (_, ErrorSource::Upstream) => (
            Some((StatusCode::BAD_GATEWAY, "the app's answer failed")),
            Some(Reason::UpstreamError),
        ),
        (
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed,
            ErrorSource::Downstream,
        ) => (None, None), // the connection is already dead
        (_, ErrorSource::Downstream) => (
            Some((StatusCode::BAD_REQUEST, "the request could not be read")),
            Some(Reason::BodyReadFailed),
        ),
        (_, ErrorSource::Internal | ErrorSource::Unset) => (
            Some((StatusCode::INTERNAL_SERVER_ERROR, "internal error")),
            None,
        ),
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
