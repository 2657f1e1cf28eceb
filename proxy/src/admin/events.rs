//! `/api/v1/events`: the event log (each request's outcome, reason, status, duration,
//! client IP, delivery id, secret id), filtered; `/api/v1/audit`: the audit log.

// Helpers return the refusal `Response` itself as the error, as axum handlers answer.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hookguard_delivery::Timestamp;
use http::StatusCode;
use serde_json::{json, Value};

use super::api::{
    bad_query, bad_request, error, not_found, operator, query_limit, query_time, ApiError,
};
use super::AdminState;
use crate::state::{Event, EventFilter};

/// The outcomes an event can have.
const OUTCOMES: [&str; 5] = [
    "forwarded",
    "queued",
    "rejected",
    "shadow_rejected",
    "error",
];

fn filter(params: &HashMap<String, String>) -> Result<EventFilter, Response> {
    let mut filter = EventFilter {
        limit: 100,
        ..EventFilter::default()
    };
    for (name, value) in params {
        match name.as_str() {
            "route" => filter.route = Some(value.clone()),
            "outcome" if OUTCOMES.contains(&value.as_str()) => filter.outcome = Some(value.clone()),
            "outcome" => return Err(bad_query(name, &OUTCOMES.join(", "))),
            "reason" => filter.reason = Some(value.clone()),
            "delivery_id" => filter.delivery_id = Some(value.clone()),
            "key" => filter.key_id = Some(value.clone()),
            "since" => filter.since_ms = Some(query_time(name, value)?.0),
            "until" => filter.until_ms = Some(query_time(name, value)?.0),
            "after" => {
                filter.after =
                    Some(value.parse().map_err(|_| bad_query(name, "an event id (a number)"))?)
            }
            "limit" => filter.limit = query_limit(name, value)?,
            other => {
                return Err(bad_query(
                    other,
                    "one of route, outcome, reason, delivery_id, key, since, until, after, limit (unknown parameter)",
                ))
            }
        }
    }
    Ok(filter)
}

/// The event log, newest first.
#[utoipa::path(get, path = "/events", tag = "events",
    params(
        ("route" = Option<String>, Query, description = "a route id"),
        ("outcome" = Option<String>, Query, description = "forwarded, queued, rejected, shadow_rejected or error"),
        ("reason" = Option<String>, Query, description = "a refusal reason, e.g. signature_mismatch"),
        ("delivery_id" = Option<String>, Query, description = "the provider's delivery id"),
        ("key" = Option<String>, Query, description = "a webhook key's id"),
        ("since" = Option<String>, Query, description = "RFC 3339 or Unix seconds"),
        ("until" = Option<String>, Query, description = "RFC 3339 or Unix seconds"),
        ("after" = Option<u64>, Query, description = "only events with a greater id (live tail)"),
        ("limit" = Option<u32>, Query, description = "1 to 10000 (default 100)"),
    ),
    responses(
        (status = 200, description = "`items`: the events, newest first; `kept`: how many the log holds", body = Value),
        (status = 400, description = "A query parameter is wrong", body = ApiError),
    ))]
pub(super) async fn list(
    State(state): State<AdminState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let operator = match operator(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let filter = match filter(&params) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let items: Vec<Value> = operator
        .events
        .list(&filter, Timestamp::now().0)
        .into_iter()
        .map(|mut event| {
            // Captures are opened one event at a time (`/events/{id}`).
            let captured = event.capture.take().is_some();
            let mut item = json!(event);
            item["captured"] = json!(captured);
            item
        })
        .collect();
    Json(json!({ "items": items, "kept": operator.events.len() })).into_response()
}

/// One event.
#[utoipa::path(get, path = "/events/{id}", tag = "events",
    params(("id" = u64, Path, description = "the event's id")),
    responses(
        (status = 200, description = "The event; with `capture` (headers, body) on a captured route", body = Event),
        (status = 400, description = "Not an event id", body = ApiError),
        (status = 404, description = "No such event (or no longer kept)", body = ApiError),
    ))]
pub(super) async fn show(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let operator = match operator(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<u64>() else {
        return bad_request(format!("event id {id:?}: expected a number"));
    };
    match operator.events.get(id) {
        Some(mut event) => {
            let capture = event.capture.take().map(|sealed| open(operator, &sealed));
            let mut shown = json!(event);
            shown["captured"] = json!(capture.is_some());
            if let Some(capture) = capture {
                shown["capture"] = capture;
            }
            Json(shown).into_response()
        }
        None => not_found(format!("no event {id} (the log keeps the newest only)")),
    }
}

/// A sealed capture opened: method, path, headers (credentials masked), body.
fn open(operator: &crate::state::OperatorState, sealed: &str) -> Value {
    use base64::Engine as _;
    let opened = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            operator
                .sealer
                .load()
                .open(&bytes)
                .map_err(|e| e.to_string())
        });
    match opened {
        Ok(request) => json!({
            "method": request.method,
            "path": request.target,
            "headers": request
                .headers
                .iter()
                .map(|(name, value)| json!([name, String::from_utf8_lossy(value)]))
                .collect::<Vec<_>>(),
            "body": String::from_utf8_lossy(&request.body),
            "body_bytes": request.body.len(),
        }),
        Err(e) => json!({ "error": format!("the capture cannot be opened: {e}") }),
    }
}

/// The audit log, newest first: who (token id), what, when.
#[utoipa::path(get, path = "/audit", tag = "audit",
    params(("limit" = Option<u32>, Query, description = "1 to 10000 (default 100)")),
    responses(
        (status = 200, description = "`items`: the entries, newest first", body = Value),
        (status = 400, description = "A query parameter is wrong", body = ApiError),
    ))]
pub(super) async fn audit_log(
    State(state): State<AdminState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let operator = match operator(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut limit = 100;
    for (name, value) in &params {
        match name.as_str() {
            "limit" => match query_limit(name, value) {
                Ok(n) => limit = n,
                Err(r) => return r,
            },
            other => return bad_query(other, "only `limit`"),
        }
    }
    match operator.store.audit(limit).await {
        Ok(items) => Json(json!({ "items": items })).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}
