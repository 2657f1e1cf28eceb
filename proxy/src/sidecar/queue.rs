//! Queue mode's side of the adapter: the admitted request goes to the durable queue and the
//! provider is answered 202 once it is stored — or 503 with `Retry-After` when it cannot
//! be, so nothing is ever acknowledged that was not stored.

use bytes::Bytes;
use hookguard_delivery::{Metadata, Request, StoreError, Timestamp};
use hookguard_layers::{Reason, Rejection};
use http::{header, HeaderValue, StatusCode};
use pingora_core::protocols::http::ServerSession;
use pingora_error::Result;

use super::exchange::{settle, Ctx, Outcome};
use super::forward::{upstream_head, HeadSink};
use super::respond::{answer, json, write};
use crate::queue::{Queue, QueuedRoute};
use crate::runtime::Snapshot;

/// Seconds a provider is asked to wait when the route's queue is full.
const FULL_RETRY_AFTER: &str = "30";
/// Seconds a provider is asked to wait when the store failed.
const UNAVAILABLE_RETRY_AFTER: &str = "5";

pub(super) async fn enqueue(
    session: &mut ServerSession,
    ctx: &mut Ctx,
    queue: &Queue,
    queued: &QueuedRoute,
    snapshot: &Snapshot,
) -> Result<()> {
    let Some(route) = ctx.route.clone() else {
        return Ok(());
    };
    // The head the app will receive, built as forward mode builds it.
    let mut stored = Stored::default();
    upstream_head(
        session.req_header(),
        ctx,
        snapshot.upstream.forwarded_for,
        &mut stored,
    )?;
    let meta = Metadata {
        received_at: Timestamp(
            Timestamp::now()
                .0
                .saturating_sub(ctx.started.elapsed().as_millis() as u64),
        ),
        client_ip: ctx.client_ip_text().map(str::to_owned),
        delivery_id: ctx.verified.as_ref().and_then(|v| v.delivery_id.clone()),
        secret_id: ctx.verified.as_ref().map(|v| v.secret_id.to_string()),
        event_type: None,
    };
    let key = queued.ordering_key(&stored.map, &ctx.body);
    let request = stored.into_request(ctx);
    match queue.enqueue(&route.id, queued, &request, meta, key).await {
        Ok(id) => {
            // Durable now: the replay guard commits the delivery id (a resend is a duplicate).
            settle(ctx, Some(202)).await;
            let body = serde_json::json!({ "status": "queued", "id": id.to_string() });
            ctx.outcome = Outcome::Queued;
            write(session, ctx, json(StatusCode::ACCEPTED, body)).await
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
            answer(session, ctx, rejection.into_response()).await
        }
    }
}

/// The request as the app will receive it: the exact body and the head `upstream_head`
/// built (the framing header is the engine's to set).
#[derive(Default)]
struct Stored {
    method: String,
    target: String,
    /// Lowercase names, in order.
    headers: Vec<(String, Bytes)>,
    /// The same headers, for the ordering key's lookup.
    map: http::HeaderMap,
}

impl HeadSink for Stored {
    fn request_line(&mut self, method: &http::Method, target: &[u8], _: http::Version) {
        method.as_str().clone_into(&mut self.method);
        self.target = String::from_utf8_lossy(target).into_owned();
    }

    fn header(&mut self, name: &[u8], value: &[u8]) {
        let Ok(name) = http::HeaderName::from_bytes(name) else {
            return;
        };
        if name == header::CONTENT_LENGTH {
            return;
        }
        if let Ok(value) = HeaderValue::from_bytes(value) {
            self.map.append(name.clone(), value);
        }
        self.headers
            .push((name.as_str().to_owned(), Bytes::copy_from_slice(value)));
    }
}

impl Stored {
    fn into_request(self, ctx: &Ctx) -> Request {
        Request {
            method: self.method,
            target: self.target,
            headers: self.headers,
            body: ctx.body.clone(),
        }
    }
}
