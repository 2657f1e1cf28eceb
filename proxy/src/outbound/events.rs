//! The app's side: `POST /v1/events` on the outbound listener.
//!
//! ```text
//! curl -X POST http://127.0.0.1:8081/v1/events -H 'content-type: application/json' \
//!   -d '{"type":"job.completed","payload":{"job":42},"id":"evt_42","key":"job-42"}'
//! → 202 {"id":"evt_42","subscriptions":["billing"]}
//! ```
//!
//! `type` and `payload` (any JSON) are required; `id` (generated when absent; an id seen
//! within the dedup window is acknowledged without a second delivery) and `key` (events
//! with the same key reach each endpoint one at a time, in order) are optional. Each
//! endpoint receives `{"id","type","timestamp","data"}` (Standard Webhooks' shape) with
//! `data` the payload as posted.

// Helpers return the refusal `Response` itself as the error, as axum handlers answer;
// boxing it would only add an allocation to every refusal.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use hookguard_delivery::{
    Bounds, Direction, MessageId, Metadata, NewMessage, Request, StoreError, Timestamp,
};
use hookguard_layers::replay::{ReplayKey, ReplayStore as _, Reservation};
use http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::json;

use super::Outbound;

/// The dedup records' "route": not a route id (those have no parentheses).
const DEDUP_SCOPE: &str = "(outbound)";
/// How long a posted event's id is reserved while its messages are stored.
const RESERVE_FOR_SECS: i64 = 60;
/// Longest event type, id and key.
const MAX_NAME: usize = 200;

/// What the app posts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventIn {
    #[serde(rename = "type")]
    event_type: String,
    payload: Box<serde_json::value::RawValue>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

pub(super) async fn serve(listener: tokio::net::TcpListener, outbound: std::sync::Weak<Outbound>) {
    let Some(outbound) = outbound.upgrade() else {
        return;
    };
    let app = Router::new()
        .route("/v1/events", post(post_event))
        .fallback(|| async { answer(StatusCode::NOT_FOUND, "not_found", "try POST /v1/events") })
        .with_state(outbound);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "outbound listener stopped");
    }
}

fn answer(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    super::metrics::event(code);
    (
        status,
        Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

fn bad(message: impl Into<String>) -> Response {
    answer(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// A type, id or key: visible ASCII, no spaces, not too long.
fn plain(field: &str, value: &str) -> Result<(), Response> {
    if value.is_empty() || value.len() > MAX_NAME || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(format!(
            "`{field}`: expected 1 to {MAX_NAME} visible ASCII characters without spaces"
        )));
    }
    Ok(())
}

async fn post_event(
    State(outbound): State<Arc<Outbound>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let tokens = outbound.tokens.load_full();
    if !tokens.is_empty() {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        if presented.and_then(|t| tokens.check(t.trim())).is_none() {
            return answer(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid token is required: Authorization: Bearer <token> (outbound.tokens)",
            );
        }
    }
    let config = outbound.config.load_full();
    let settings = config.outbound.clone().unwrap_or_default();
    let max = usize::try_from(settings.max_event_bytes.bytes()).unwrap_or(usize::MAX);
    let bytes = match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the event is larger than outbound.max_event_bytes ({max} bytes)"),
            )
        }
        Err(_) => return bad("the request body could not be read"),
    };
    let event: EventIn = match serde_json::from_slice(&bytes) {
        Ok(event) => event,
        Err(e) => {
            return bad(format!(
                "the body is not an event: {e} (expected {{\"type\": \"job.completed\", \"payload\": {{…}}, \"id\"?: \"…\", \"key\"?: \"…\"}})"
            ))
        }
    };
    for (field, value) in [
        ("type", Some(&event.event_type)),
        ("id", event.id.as_ref()),
        ("key", event.key.as_ref()),
    ] {
        if let Some(value) = value {
            if let Err(response) = plain(field, value) {
                return response;
            }
        }
    }

    let now = Timestamp::now();
    let registry = outbound.subscriptions();
    let mut matching: Vec<_> = registry
        .values()
        .filter(|s| !s.expired(now) && s.spec.matches(&event.event_type))
        .collect();
    if matching.is_empty() {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_subscription",
            format!(
                "no subscription takes events of type {:?}",
                event.event_type
            ),
        );
    }
    matching.retain(|s| s.spec.enabled);
    matching.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));

    let id = event
        .id
        .clone()
        .unwrap_or_else(|| format!("evt_{}", MessageId::generate()));
    let key = ReplayKey::new(Arc::from(DEDUP_SCOPE), &id);
    let now_secs = now.as_unix_secs() as i64;
    let token = match outbound
        .dedup
        .reserve(&key, now_secs, now_secs + RESERVE_FOR_SECS)
        .await
    {
        Ok(Reservation::Reserved(token)) => token,
        Ok(Reservation::Accepted { .. }) => {
            super::metrics::event("duplicate");
            return (
                StatusCode::ACCEPTED,
                Json(json!({ "id": id, "duplicate": true })),
            )
                .into_response();
        }
        Ok(Reservation::InFlight) => {
            return answer(
                StatusCode::CONFLICT,
                "in_flight",
                format!("event {id} is being stored by another request; retry"),
            )
        }
        Err(e) => {
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
        }
    };

    let request = Request {
        method: "POST".into(),
        target: String::new(), // the subscription's URL at send time
        headers: vec![
            (
                "content-type".into(),
                Bytes::from_static(b"application/json"),
            ),
            ("user-agent".into(), Bytes::from_static(b"hookguard")),
        ],
        body: envelope(&id, &event),
    };
    let bounds = Bounds {
        max_messages: config.queue.max_messages,
        max_bytes: config.queue.max_bytes.bytes(),
    };
    let mut stores = tokio::task::JoinSet::new();
    for subscription in &matching {
        let store = Arc::clone(&outbound.queue.store);
        let message = NewMessage {
            destination: subscription.spec.id.clone(),
            direction: Direction::Outbound,
            ordering_key: event.key.clone(),
            payload: outbound.queue.sealer.seal(&request),
            meta: Metadata {
                received_at: now,
                delivery_id: Some(id.clone()),
                event_type: Some(event.event_type.clone()),
                ..Metadata::default()
            },
        };
        stores.spawn(async move { store.enqueue(message, bounds).await });
    }
    let mut failure: Option<StoreError> = None;
    while let Some(done) = stores.join_next().await {
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(StoreError::Backend(e.to_string())),
        }
    }
    for subscription in &matching {
        outbound.engine.notify(&subscription.spec.id);
    }
    if let Some(e) = failure {
        // Some endpoints may have their message already: the app's retry (same id) may
        // reach them twice — at least once, as everywhere else.
        let _ = outbound.dedup.release(&key, token).await;
        let (code, retry_after) = match &e {
            StoreError::Full { .. } => ("queue_full", "30"),
            _ => ("unavailable", "5"),
        };
        tracing::warn!(error = %e, "outbound: an event could not be stored");
        let mut response = answer(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            format!("{e}; retry later"),
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(retry_after),
        );
        return response;
    }
    let window = settings.dedup_window.get().as_secs() as i64;
    if let Err(e) = outbound
        .dedup
        .commit(&key, token, now_secs, now_secs + window)
        .await
    {
        tracing::warn!(error = %e, "outbound: the event id could not be remembered");
    }
    super::metrics::event("accepted");
    let ids: Vec<&str> = matching.iter().map(|s| s.spec.id.as_str()).collect();
    (
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "subscriptions": ids })),
    )
        .into_response()
}

/// `{"id","type","timestamp","data"}`, `data` byte for byte as posted.
fn envelope(id: &str, event: &EventIn) -> Bytes {
    let timestamp = crate::rfc3339::now();
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    Bytes::from(format!(
        "{{\"id\":{},\"type\":{},\"timestamp\":{},\"data\":{}}}",
        quote(id),
        quote(&event.event_type),
        quote(&timestamp),
        event.payload.get()
    ))
}
