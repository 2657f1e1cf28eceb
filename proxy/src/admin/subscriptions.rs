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
use axum::{Extension, Json};
use http::StatusCode;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::{audit, error, ApiError, TokenId};
use super::AdminState;
use crate::outbound::Outbound;

pub(super) fn router() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, delete))
        .routes(routes!(disable))
        .routes(routes!(enable))
}

fn outbound(state: &AdminState) -> Result<&Arc<Outbound>, Response> {
    state.process.outbound().ok_or_else(|| {
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

#[utoipa::path(get, path = "/subscriptions", tag = "subscriptions", responses((status = 200, description = "`items`: every subscription, config and API (no secret values)", body = Value), (status = 404, description = "Outbound webhooks are off", body = ApiError)))]
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

#[utoipa::path(get, path = "/subscriptions/{id}", tag = "subscriptions", params(("id" = String, Path, description = "the subscription id")), responses((status = 200, description = "The subscription", body = Value), (status = 404, description = "No such subscription, or outbound webhooks are off", body = ApiError)))]
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

#[utoipa::path(post, path = "/subscriptions", tag = "subscriptions", request_body(content = Value, description = "The config's subscription fields as JSON, plus `expires_at`"), responses((status = 201, description = "Created (or replaced)", body = Value), (status = 400, description = "The body is wrong (what, where)", body = ApiError), (status = 404, description = "Outbound webhooks are off", body = ApiError), (status = 409, description = "A config subscription has this id", body = ApiError)))]
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
            audit(
                &state,
                &token,
                "subscriptions.create",
                json!({ "id": s.spec.id }),
            )
            .await;
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
            audit(&state, &token, action, json!({ "id": id })).await;
            Json(s.summary()).into_response()
        }
        Err(e) => refused(e),
    }
}

#[utoipa::path(post, path = "/subscriptions/{id}/disable", tag = "subscriptions", params(("id" = String, Path, description = "the subscription id")), responses((status = 200, description = "Disabled: no new events", body = Value), (status = 404, description = "No such subscription, or outbound webhooks are off", body = ApiError), (status = 409, description = "A config subscription", body = ApiError)))]
async fn disable(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    set_enabled(state, token, id, false).await
}

#[utoipa::path(post, path = "/subscriptions/{id}/enable", tag = "subscriptions", params(("id" = String, Path, description = "the subscription id")), responses((status = 200, description = "Enabled", body = Value), (status = 404, description = "No such subscription, or outbound webhooks are off", body = ApiError), (status = 409, description = "A config subscription", body = ApiError)))]
async fn enable(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    set_enabled(state, token, id, true).await
}

#[utoipa::path(delete, path = "/subscriptions/{id}", tag = "subscriptions", params(("id" = String, Path, description = "the subscription id")), responses((status = 200, description = "Deleted; what it had queued went to the dead-letter queue", body = Value), (status = 404, description = "No such subscription, or outbound webhooks are off", body = ApiError), (status = 409, description = "A config subscription", body = ApiError)))]
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
                &state,
                &token,
                "subscriptions.delete",
                json!({ "id": id, "dead_lettered": moved }),
            )
            .await;
            Json(json!({ "deleted": 1, "dead_lettered": moved })).into_response()
        }
        Err(e) => refused(e),
    }
}
