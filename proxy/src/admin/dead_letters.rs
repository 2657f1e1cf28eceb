//! `/api/v1/queue/stats` and `/api/v1/dlq…`: the durable queue's numbers and its dead
//! letters (list with filters, show with attempts and masked headers, retry, delete,
//! retry or purge every match).

// Helpers return the refusal `Response` itself as the error, as axum handlers answer;
// boxing it would only add an allocation to every refusal.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hookguard_delivery::{
    DeadCode, ListQuery, Message, MessageId, State as MessageState, Timestamp,
};
use http::StatusCode;
use serde_json::{json, Value};

use super::api::{audit, bad_query, error, query_limit, query_time, ApiError, TokenId};
use super::AdminState;
use crate::queue::Queue;
use crate::rfc3339::unix_ms;

pub(super) fn queue(state: &AdminState) -> Result<&Arc<Queue>, Response> {
    state.process.queue().ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "no_queue",
            "no queue: no route has delivery = \"queue\"",
        )
    })
}

pub(super) fn store_error(e: impl std::fmt::Display) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        e.to_string(),
    )
}

#[utoipa::path(get, path = "/queue/stats", tag = "queue",
    responses(
        (status = 200, description = "Per route: ready, scheduled, in flight, delivered, dead, breaker", body = Value),
        (status = 404, description = "No queued route", body = ApiError),
    ))]
pub(super) async fn queue_stats(State(state): State<AdminState>) -> Response {
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

/// The filters of the dead-letter calls, as documented (the handlers parse the query
/// themselves, to answer every problem with a 400 that names the parameter).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the OpenAPI generator only
pub(super) struct DeadFilter {
    /// Only this route (or subscription id).
    route: Option<String>,
    /// `rejected`, `retries_exhausted`, `undecodable` or `no_destination`.
    reason: Option<String>,
    /// Dead-lettered at or after: RFC 3339 or Unix seconds.
    since: Option<String>,
    /// Dead-lettered at or before: RFC 3339 or Unix seconds.
    until: Option<String>,
}

/// The DLQ filters from the query string; every problem is a 400 that names the parameter.
fn dead_query(params: &HashMap<String, String>) -> Result<ListQuery, Response> {
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
                            bad_query(
                                "reason",
                                "rejected, retries_exhausted, undecodable or no_destination",
                            )
                        })?,
                )
            }
            "since" => query.since = Some(query_time(name, value)?),
            "until" => query.until = Some(query_time(name, value)?),
            "after" => {
                query.after = Some(value.parse().map_err(|_| bad_query(name, "a message id"))?)
            }
            "limit" => query.limit = query_limit(name, value)?,
            other => {
                return Err(bad_query(
                    other,
                    "one of route, reason, since, until, after, limit (unknown parameter)",
                ))
            }
        }
    }
    Ok(query)
}

fn summary(m: &Message) -> Value {
    let last = m.attempts.last();
    json!({
        "id": m.id.to_string(),
        "route": m.destination,
        "direction": m.direction.as_str(),
        "state": m.state.as_str(),
        "received_at": unix_ms(m.meta.received_at.0),
        "updated_at": unix_ms(m.updated_at.0),
        "delivery_id": m.meta.delivery_id,
        "attempts": m.attempts.len(),
        "last_status": last.and_then(|a| a.outcome.status()),
        "reason": m.dead_reason.as_ref().map(|r| r.code.as_str()),
        "detail": m.dead_reason.as_ref().map(|r| r.detail.as_str()),
        "size_bytes": m.payload.len(),
    })
}

/// Header names whose values are credentials or signatures: shown masked.
pub(crate) fn is_sensitive(name: &str) -> bool {
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

#[utoipa::path(get, path = "/dlq", tag = "dead letters",
    params(
        DeadFilter,
        ("after" = Option<String>, Query, description = "the page after this message id"),
        ("limit" = Option<u32>, Query, description = "1 to 10000 (default 100)"),
    ),
    responses(
        (status = 200, description = "`items` (newest last) and `next` (the id to pass as `after`)", body = Value),
        (status = 400, description = "A query parameter is wrong", body = ApiError),
        (status = 404, description = "No queued route", body = ApiError),
    ))]
pub(super) async fn dlq_list(
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

#[utoipa::path(get, path = "/dlq/{id}", tag = "dead letters",
    params(("id" = String, Path, description = "the message id")),
    responses(
        (status = 200, description = "The dead letter: attempts, method, target, headers (credentials masked)", body = Value),
        (status = 400, description = "Not a message id", body = ApiError),
        (status = 404, description = "No such dead letter", body = ApiError),
    ))]
pub(super) async fn dlq_show(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let (queue, message) = match dead_letter(&state, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let mut detail = summary(&message);
    detail["attempt_history"] = json!(message
        .attempts
        .iter()
        .map(|a| json!({
            "at": unix_ms(a.at.0),
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

#[utoipa::path(post, path = "/dlq/{id}/retry", tag = "dead letters",
    params(("id" = String, Path, description = "the message id")),
    responses(
        (status = 200, description = "Queued again for delivery now: `{\"retried\": 1}`", body = Value),
        (status = 400, description = "Not a message id", body = ApiError),
        (status = 404, description = "No such dead letter", body = ApiError),
    ))]
pub(super) async fn dlq_retry_one(
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
                &state,
                &token,
                "dlq.retry",
                json!({ "id": message.id.to_string() }),
            )
            .await;
            queue.engine.notify(&message.destination);
            Json(json!({ "retried": 1 })).into_response()
        }
        Ok(false) => no_dead_letter(&message.id),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(delete, path = "/dlq/{id}", tag = "dead letters",
    params(("id" = String, Path, description = "the message id")),
    responses(
        (status = 200, description = "Deleted: `{\"deleted\": 1}`", body = Value),
        (status = 400, description = "Not a message id", body = ApiError),
        (status = 404, description = "No such dead letter", body = ApiError),
    ))]
pub(super) async fn dlq_delete(
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
                &state,
                &token,
                "dlq.delete",
                json!({ "id": message.id.to_string() }),
            )
            .await;
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

#[utoipa::path(post, path = "/dlq/retry", tag = "dead letters",
    params(DeadFilter),
    responses(
        (status = 200, description = "Every match queued again: `{\"retried\": n}`", body = Value),
        (status = 400, description = "A query parameter is wrong", body = ApiError),
        (status = 404, description = "No queued route", body = ApiError),
    ))]
pub(super) async fn dlq_retry_matching(
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
                &state,
                &token,
                "dlq.retry_matching",
                json!({ "filter": params, "retried": n }),
            )
            .await;
            for d in &destinations {
                queue.engine.notify(d);
            }
            Json(json!({ "retried": n })).into_response()
        }
        Err(r) => r,
    }
}

#[utoipa::path(post, path = "/dlq/purge", tag = "dead letters",
    params(DeadFilter),
    responses(
        (status = 200, description = "Every match deleted: `{\"deleted\": n}`", body = Value),
        (status = 400, description = "A query parameter is wrong", body = ApiError),
        (status = 404, description = "No queued route", body = ApiError),
    ))]
pub(super) async fn dlq_purge(
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
                &state,
                &token,
                "dlq.purge",
                json!({ "filter": params, "deleted": n }),
            )
            .await;
            Json(json!({ "deleted": n })).into_response()
        }
        Err(r) => r,
    }
}
