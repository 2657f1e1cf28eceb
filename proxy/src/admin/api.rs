//! `/api/v1/`: the admin API (queue stats, dead letters). Every route needs a bearer token
//! from `admin.tokens`; without any configured, every call is refused. State-changing calls
//! are written to the audit log (target `hookguard::audit`) with the token's id.

// Helpers return the refusal `Response` itself as the error, as axum handlers answer;
// boxing it would only add an allocation to every refusal.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hookguard_delivery::{
    DeadCode, ListQuery, Message, MessageId, State as MessageState, Timestamp,
};
use http::{header, StatusCode};
use serde_json::{json, Value};

use super::AdminState;
use crate::queue::Queue;

/// The id of the token a call was made with (never its value).
#[derive(Clone)]
pub(super) struct TokenId(Arc<str>);

pub(super) fn router(state: AdminState) -> Router<AdminState> {
    Router::new()
        .route("/queue/stats", get(queue_stats))
        .route("/dlq", get(dlq_list))
        .route("/dlq/retry", post(dlq_retry_matching))
        .route("/dlq/purge", post(dlq_purge))
        .route("/dlq/{id}", get(dlq_show).delete(dlq_delete))
        .route("/dlq/{id}/retry", post(dlq_retry_one))
        .route("/alerts", get(alerts))
        .merge(super::subscriptions::router())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such API route") })
        .layer(middleware::from_fn_with_state(state, authorize))
}

/// Built-in alerting: each rule, what fires now, each channel (no secrets: ids and kinds).
async fn alerts(State(state): State<AdminState>) -> Json<Value> {
    Json(state.persistent.alerts.get())
}

pub(super) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

async fn authorize(State(state): State<AdminState>, mut req: Request, next: Next) -> Response {
    let tokens = state.persistent.admin_tokens.load();
    if tokens.is_empty() {
        return unauthorized(
            "the admin API is off: no admin token is configured (set admin.tokens in the config)",
        );
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    match presented.and_then(|t| tokens.check(t.trim())) {
        Some(id) => {
            req.extensions_mut().insert(TokenId(Arc::from(id)));
            next.run(req).await
        }
        None => unauthorized("a valid admin token is required: Authorization: Bearer <token>"),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

pub(super) fn audit(token: &TokenId, action: &str, detail: &Value) {
    tracing::info!(target: "hookguard::audit", token_id = %token.0, action, detail = %detail, "admin action");
}

fn queue(state: &AdminState) -> Result<&Arc<Queue>, Response> {
    state.persistent.queue().ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "no_queue",
            "no queue: no route has delivery = \"queue\"",
        )
    })
}

fn store_error(e: impl std::fmt::Display) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        e.to_string(),
    )
}

async fn queue_stats(State(state): State<AdminState>) -> Response {
    let queue = match queue(&state) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let stats = match queue.store.stats().await {
        Ok(s) => s,
        Err(e) => return store_error(e),
    };
    let breakers: HashMap<String, &'static str> = queue
        .engine
        .breaker_states()
        .into_iter()
        .map(|(d, s)| (d, s.as_str()))
        .collect();
    let now = Timestamp::now();
    let routes: Vec<Value> = stats
        .iter()
        .map(|s| {
            json!({
                "route": s.destination,
                "ready": s.ready,
                "scheduled": s.scheduled,
                "in_flight": s.in_flight,
                "delivered": s.delivered,
                "dead": s.dead,
                "pending_bytes": s.pending_bytes,
                "oldest_pending_age_seconds": s.oldest_pending.map(|t| now.since(t).as_secs_f64()),
                "breaker": breakers.get(&s.destination).copied().unwrap_or("closed"),
            })
        })
        .collect();
    Json(json!({ "routes": routes })).into_response()
}

/// The DLQ filters from the query string; every problem is a 400 that names the parameter.
fn dead_query(params: &HashMap<String, String>) -> Result<ListQuery, Response> {
    let bad = |name: &str, expected: &str| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("query parameter `{name}`: expected {expected}"),
        )
    };
    let mut query = ListQuery {
        state: Some(MessageState::Dead),
        ..ListQuery::default()
    };
    for (name, value) in params {
        match name.as_str() {
            "route" => query.destination = Some(value.clone()),
            "reason" => {
                query.reason = Some(
                    DeadCode::ALL
                        .into_iter()
                        .find(|c| c.as_str() == value)
                        .ok_or_else(|| {
                            bad(
                                "reason",
                                "rejected, retries_exhausted, undecodable or no_destination",
                            )
                        })?,
                )
            }
            "since" | "until" => {
                let at = parse_time(value).ok_or_else(|| {
                    bad(
                        name,
                        "a time as RFC 3339 (2026-11-30T12:00:00Z) or Unix seconds",
                    )
                })?;
                if name == "since" {
                    query.since = Some(at);
                } else {
                    query.until = Some(at);
                }
            }
            "after" => query.after = Some(value.parse().map_err(|_| bad("after", "a message id"))?),
            "limit" => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| bad("limit", "a number from 1 to 10000"))?
            }
            other => {
                return Err(bad(
                    other,
                    "one of route, reason, since, until, after, limit (unknown parameter)",
                ))
            }
        }
    }
    Ok(query)
}

fn parse_time(value: &str) -> Option<Timestamp> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Timestamp(secs.saturating_mul(1000)));
    }
    let t =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(Timestamp)
}

fn rfc3339(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn summary(m: &Message) -> Value {
    let last = m.attempts.last();
    json!({
        "id": m.id.to_string(),
        "route": m.destination,
        "direction": m.direction.as_str(),
        "state": m.state.as_str(),
        "received_at": rfc3339(m.meta.received_at),
        "updated_at": rfc3339(m.updated_at),
        "delivery_id": m.meta.delivery_id,
        "attempts": m.attempts.len(),
        "last_status": last.and_then(|a| a.outcome.status()),
        "reason": m.dead_reason.as_ref().map(|r| r.code.as_str()),
        "detail": m.dead_reason.as_ref().map(|r| r.detail.as_str()),
        "size_bytes": m.payload.len(),
    })
}

/// Header names whose values are credentials or signatures: shown masked.
fn is_sensitive(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "signature",
        "token",
        "secret",
        "hmac",
        "api-key",
        "apikey",
    ]
    .iter()
    .any(|s| name.contains(s))
}

async fn dlq_list(
    State(state): State<AdminState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let queue = match queue(&state) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let query = match dead_query(&params) {
        Ok(q) => q,
        Err(r) => return r,
    };
    match queue.store.list(&query).await {
        Ok(messages) => {
            let next = (messages.len() == query.page())
                .then(|| messages.last().map(|m| m.id.to_string()))
                .flatten();
            Json(json!({
                "items": messages.iter().map(summary).collect::<Vec<_>>(),
                "next": next,
            }))
            .into_response()
        }
        Err(e) => store_error(e),
    }
}

fn message_id(raw: &str) -> Result<MessageId, Response> {
    raw.parse()
        .map_err(|e: String| error(StatusCode::BAD_REQUEST, "bad_request", e))
}

async fn dlq_show(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let (queue, message) = match dead_letter(&state, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let mut detail = summary(&message);
    detail["attempt_history"] = json!(message
        .attempts
        .iter()
        .map(|a| json!({
            "at": rfc3339(a.at),
            "duration_ms": a.duration_ms,
            "outcome": a.outcome,
        }))
        .collect::<Vec<_>>());
    match queue.sealer.open(&message.payload) {
        Ok(request) => {
            detail["method"] = json!(request.method);
            detail["target"] = json!(request.target);
            detail["body_bytes"] = json!(request.body.len());
            detail["headers"] = json!(request
                .headers
                .iter()
                .map(|(name, value)| {
                    let shown = if is_sensitive(name) {
                        "<masked>".to_owned()
                    } else {
                        String::from_utf8_lossy(value).into_owned()
                    };
                    json!([name, shown])
                })
                .collect::<Vec<_>>());
        }
        Err(e) => detail["payload_error"] = json!(e.to_string()),
    }
    Json(detail).into_response()
}

fn no_dead_letter(id: &MessageId) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no dead letter {id}"),
    )
}

/// The queue and the dead letter `raw` names, or the answer that says why not.
async fn dead_letter<'a>(
    state: &'a AdminState,
    raw: &str,
) -> Result<(&'a Arc<Queue>, Message), Response> {
    let queue = queue(state)?;
    let id = message_id(raw)?;
    match queue.store.get(&id).await {
        Ok(Some(m)) if m.state == MessageState::Dead => Ok((queue, m)),
        Ok(_) => Err(no_dead_letter(&id)),
        Err(e) => Err(store_error(e)),
    }
}

async fn dlq_retry_one(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    let (queue, message) = match dead_letter(&state, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match queue.store.requeue(&message.id, Timestamp::now()).await {
        Ok(true) => {
            audit(
                &token,
                "dlq.retry",
                &json!({ "id": message.id.to_string() }),
            );
            queue.engine.notify(&message.destination);
            Json(json!({ "retried": 1 })).into_response()
        }
        Ok(false) => no_dead_letter(&message.id),
        Err(e) => store_error(e),
    }
}

async fn dlq_delete(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    let (queue, message) = match dead_letter(&state, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match queue.store.delete(&message.id).await {
        Ok(true) => {
            audit(
                &token,
                "dlq.delete",
                &json!({ "id": message.id.to_string() }),
            );
            Json(json!({ "deleted": 1 })).into_response()
        }
        Ok(false) => no_dead_letter(&message.id),
        Err(e) => store_error(e),
    }
}

/// Applies `act` to every dead letter matching the query's filters, page by page.
async fn for_each_dead<F, Fut>(
    queue: &Queue,
    params: &HashMap<String, String>,
    mut act: F,
) -> Result<u64, Response>
where
    F: FnMut(Message) -> Fut,
    Fut: std::future::Future<Output = Result<bool, hookguard_delivery::StoreError>>,
{
    let mut query = dead_query(params)?;
    query.limit = 1000;
    let mut done = 0;
    loop {
        let page = queue.store.list(&query).await.map_err(store_error)?;
        let Some(last) = page.last() else { break };
        query.after = Some(last.id.clone());
        let full = page.len() == query.page();
        for message in page {
            if act(message).await.map_err(store_error)? {
                done += 1;
            }
        }
        if !full {
            break;
        }
    }
    Ok(done)
}

async fn dlq_retry_matching(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let queue = match queue(&state) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let now = Timestamp::now();
    let mut destinations = std::collections::BTreeSet::new();
    let result = for_each_dead(queue, &params, |m| {
        destinations.insert(m.destination.clone());
        let store = Arc::clone(&queue.store);
        async move { store.requeue(&m.id, now).await }
    })
    .await;
    match result {
        Ok(n) => {
            audit(
                &token,
                "dlq.retry_matching",
                &json!({ "filter": params, "retried": n }),
            );
            for d in &destinations {
                queue.engine.notify(d);
            }
            Json(json!({ "retried": n })).into_response()
        }
        Err(r) => r,
    }
}

async fn dlq_purge(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let queue = match queue(&state) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let result = for_each_dead(queue, &params, |m| {
        let store = Arc::clone(&queue.store);
        async move { store.delete(&m.id).await }
    })
    .await;
    match result {
        Ok(n) => {
            audit(
                &token,
                "dlq.purge",
                &json!({ "filter": params, "deleted": n }),
            );
            Json(json!({ "deleted": n })).into_response()
        }
        Err(r) => r,
    }
}
