//! `/api/v1/subscriptions`: outbound subscriptions made and managed through the API (those
//! of the config file are listed, and changed by editing the file).
//!
//! ```text
//! GET    /api/v1/subscriptions               every subscription (no secret values)
//! POST   /api/v1/subscriptions               create or replace one (the config's fields as JSON)
//! GET    /api/v1/subscriptions/{id}
//! POST   /api/v1/subscriptions/{id}/disable  no new events; queued ones wait
//! POST   /api/v1/subscriptions/{id}/enable
//! DELETE /api/v1/subscriptions/{id}          queued events go to the dead-letter queue
//! ```

// Helpers return the refusal `Response` itself as the error, as axum handlers answer;
// boxing it would only add an allocation to every refusal.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http::StatusCode;
use serde_json::{json, Value};

use super::api::{audit, error, TokenId};
use super::AdminState;
use crate::outbound::Outbound;

pub(super) fn router() -> Router<AdminState> {
    Router::new()
        .route("/subscriptions", get(list).post(create))
        .route("/subscriptions/{id}", get(show).delete(delete))
        .route("/subscriptions/{id}/disable", post(disable))
        .route("/subscriptions/{id}/enable", post(enable))
}

fn outbound(state: &AdminState) -> Result<&Arc<Outbound>, Response> {
    state.persistent.outbound().ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "no_outbound",
            "outbound webhooks are off: add an [outbound] table to the config",
        )
    })
}

fn refused((status, message): (u16, String)) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::SERVICE_UNAVAILABLE => "store_unavailable",
        _ => "bad_request",
    };
    error(status, code, message)
}

async fn list(State(state): State<AdminState>) -> Response {
    let outbound = match outbound(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let registry = outbound.subscriptions();
    let mut items: Vec<_> = registry.values().collect();
    items.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
    let items: Vec<Value> = items.iter().map(|s| s.summary()).collect();
    Json(json!({ "items": items })).into_response()
}

async fn show(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let outbound = match outbound(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match outbound.subscriptions().get(&id) {
        Some(s) => Json(s.summary()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no subscription {id}"),
        ),
    }
}

async fn create(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    body: axum::body::Bytes,
) -> Response {
    let outbound = match outbound(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let raw: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "expected a JSON object: {\"id\", \"url\", \"events\", \"secrets\", …}",
            )
        }
    };
    match outbound.add(raw).await {
        Ok(s) => {
            audit(&token, "subscriptions.create", &json!({ "id": s.spec.id }));
            (StatusCode::CREATED, Json(s.summary())).into_response()
        }
        Err(e) => refused(e),
    }
}

async fn set_enabled(state: AdminState, token: TokenId, id: String, enabled: bool) -> Response {
    let outbound = match outbound(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match outbound.set_enabled(&id, enabled).await {
        Ok(s) => {
            let action = if enabled {
                "subscriptions.enable"
            } else {
                "subscriptions.disable"
            };
            audit(&token, action, &json!({ "id": id }));
            Json(s.summary()).into_response()
        }
        Err(e) => refused(e),
    }
}

async fn disable(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    set_enabled(state, token, id, false).await
}

async fn enable(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    set_enabled(state, token, id, true).await
}

async fn delete(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    let outbound = match outbound(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match outbound.delete(&id).await {
        Ok(moved) => {
            audit(
                &token,
                "subscriptions.delete",
                &json!({ "id": id, "dead_lettered": moved }),
            );
            Json(json!({ "deleted": 1, "dead_lettered": moved })).into_response()
        }
        Err(e) => refused(e),
    }
}
