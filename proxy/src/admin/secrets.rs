//! `/api/v1/routes/{id}/secrets`: the state of a route's signing secrets in the credential
//! cache — source up or down, when they were fetched, whether they are stale, their ages
//! against `max_age`, which matched last — and `…/secrets/refresh`, which drops the
//! route's cached secrets so the next request (or the refresher) fetches them again.

// Helpers return the refusal `Response` itself as the error, as axum handlers answer.
#![allow(clippy::result_large_err)]

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hookguard_layers::credentials::SourceState;
use serde_json::json;

use super::api::{audit, not_found, rfc3339_ms, ApiError, TokenId};
use super::AdminState;

fn secs(t: Option<i64>) -> Option<String> {
    t.and_then(|t| u64::try_from(t).ok())
        .and_then(|t| rfc3339_ms(t * 1000))
}

/// A route's secrets in the credential cache.
#[utoipa::path(get, path = "/routes/{id}/secrets", tag = "secrets",
    params(("id" = String, Path, description = "the route's id")),
    responses(
        (status = 200, description = "The route's secrets: source, fetched, stale, ages, last match (no values)", body = Value),
        (status = 404, description = "No such route", body = ApiError),
    ))]
pub(super) async fn status(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let snapshot = state.live.current();
    if !snapshot.routes.iter().any(|r| *r.id == *id) {
        return not_found(format!("no route {id}"));
    }
    let stats = snapshot.credentials.0.stats();
    let now = (hookguard_delivery::Timestamp::now().0 / 1000) as i64;
    let Some(route) = stats.routes.iter().find(|r| *r.route == *id) else {
        return Json(json!({ "route": id, "loaded": false })).into_response();
    };
    let source = stats.sources.iter().find(|s| s.name == route.source);
    let last_match = route
        .secrets
        .iter()
        .filter(|s| s.last_match.is_some())
        .max_by_key(|s| s.last_match)
        .map(|s| s.id.to_string());
    Json(json!({
        "route": id,
        "loaded": true,
        "source": route.source,
        "source_state": source.map(|s| match s.state {
            SourceState::Up => "up",
            SourceState::Down => "down",
            SourceState::Unknown => "unknown",
        }),
        "source_last_error": source.and_then(|s| s.last_error.clone()),
        "fetched_at": secs(route.fetched_at),
        "expires_at": secs(route.expires_at),
        "stale": route.expires_at.is_some_and(|t| t <= now),
        "last_matched_secret": last_match,
        "secrets": route.secrets.iter().map(|s| json!({
            "id": &*s.id,
            "position": s.position,
            "matches": s.matches,
            "last_match": secs(s.last_match),
            "rotated_at": secs(s.rotated_at),
            "age_seconds": s.rotated_at.map(|t| now.saturating_sub(t)),
            "too_old": s.too_old,
        })).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// Drops a route's cached secrets: they are fetched again at once in the background.
#[utoipa::path(post, path = "/routes/{id}/secrets/refresh", tag = "secrets",
    params(("id" = String, Path, description = "the route's id")),
    responses(
        (status = 200, description = "`{\"refreshing\": \"<route>\"}`", body = Value),
        (status = 404, description = "No such route", body = ApiError),
    ))]
pub(super) async fn refresh(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    let snapshot = state.live.current();
    if !snapshot.routes.iter().any(|r| *r.id == *id) {
        return not_found(format!("no route {id}"));
    }
    snapshot.credentials.0.invalidate(&id);
    audit(&state, &token, "secrets.refresh", json!({ "route": id })).await;
    Json(json!({ "refreshing": id })).into_response()
}
