//! Queue mode's side of the adapter: the admitted request goes to the durable queue and the
//! provider is answered 202 once it is stored — or 503 with `Retry-After` when it cannot
//! be, so nothing is ever acknowledged that was not stored.

use bytes::Bytes;
use hookguard_delivery::{Metadata, Request, StoreError, Timestamp};
use hookguard_layers::{Reason, Rejection};
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use pingora_error::Result;
use pingora_proxy::Session;

use super::forward::{client_ip, hookguard_headers, is_forged_hookguard_header, upstream_target};
use super::{settle, write_response, Ctx, Outcome};
use crate::queue::{Queue, QueuedRoute};

/// Seconds a provider is asked to wait when the route's queue is full.
const FULL_RETRY_AFTER: &str = "30";
/// Seconds a provider is asked to wait when the store failed.
const UNAVAILABLE_RETRY_AFTER: &str = "5";

/// Headers that describe one hop's connection, not the request: never stored.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
];

pub(super) async fn enqueue(
    session: &mut Session,
    ctx: &mut Ctx,
    queue: &Queue,
    queued: &QueuedRoute,
    headers: &HeaderMap,
) -> Result<bool> {
    let Some(route) = ctx.route.clone() else {
        return Ok(false);
    };
    let request = stored_request(session, ctx, headers);
    let meta = Metadata {
        received_at: Timestamp(
            Timestamp::now()
                .0
                .saturating_sub(ctx.started.elapsed().as_millis() as u64),
        ),
        client_ip: client_ip(session, ctx),
        delivery_id: ctx.verified.as_ref().and_then(|v| v.delivery_id.clone()),
        secret_id: ctx.verified.as_ref().map(|v| v.secret_id.to_string()),
        event_type: None,
    };
    let key = queued.ordering_key(headers, &ctx.body);
    match queue.enqueue(&route.id, queued, &request, meta, key).await {
        Ok(id) => {
            // Durable now: the replay guard commits the delivery id (a resend is a duplicate).
            settle(ctx, Some(202)).await;
            let body = serde_json::json!({ "status": "queued", "id": id.to_string() }).to_string();
            let mut response = Response::new(Bytes::from(body));
            *response.status_mut() = StatusCode::ACCEPTED;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let answered = write_response(session, ctx, response).await;
            ctx.outcome = Outcome::Queued;
            answered
        }
        Err(e) => {
            settle(ctx, None).await;
            let (reason, retry_after, message) = match &e {
                StoreError::Full { .. } => (
                    Reason::QueueFull,
                    FULL_RETRY_AFTER,
                    "the route's delivery queue is full; retry later",
                ),
                _ => {
                    tracing::error!(route = %route.id, error = %e, "queue: could not store a delivery");
                    (
                        Reason::QueueUnavailable,
                        UNAVAILABLE_RETRY_AFTER,
                        "the delivery could not be stored; retry later",
                    )
                }
            };
            let mut rejection = Rejection::new(StatusCode::SERVICE_UNAVAILABLE, reason, message);
            rejection
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
            super::answer(session, ctx, rejection.into_response()).await
        }
    }
}

/// The request as the app will receive it: the exact body, the provider's headers minus
/// hop-by-hop ones and forged `x-hookguard-*` (and `_` aliases), plus hookguard's own.
fn stored_request(session: &Session, ctx: &Ctx, headers: &HeaderMap) -> Request {
    let uri = &session.req_header().uri;
    let target = upstream_target(uri, ctx).unwrap_or_else(|| {
        uri.path_and_query()
            .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned())
    });
    let mut stored: Vec<(String, Bytes)> = headers
        .iter()
        .filter(|(name, _)| {
            !is_forged_hookguard_header(name) && !HOP_BY_HOP.contains(&name.as_str())
        })
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                Bytes::copy_from_slice(value.as_bytes()),
            )
        })
        .collect();
    stored.extend(
        hookguard_headers(session, ctx)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), Bytes::copy_from_slice(value.as_bytes()))),
    );
    Request {
        method: session.req_header().method.as_str().to_owned(),
        target,
        headers: stored,
        body: ctx.body.clone(),
    }
}
