//! `/api/v1/keys`: webhook keys of key routes — generate, enable, disable, regenerate
//! (the old key stops at once, or after a grace period), delete, and each key's
//! statistics. Keys of the config file are listed with `origin: "config"`: they can be
//! disabled and enabled here (the state is kept in the admin store), not deleted or
//! regenerated (the file would bring them back: edit it).
//!
//! Where keys live: in the embedded store at `admin.path` by default; with `[state]
//! backend = "redis"` in Redis, shared by every replica (each rebuilds its table within a
//! second of a change). A change is made on the record as the store has it now, not as
//! this replica last loaded it; when the store does not answer it is refused with 503
//! (`store_unavailable`) and the keys already loaded keep working.

// Helpers return the refusal `Response` itself as the error, as axum handlers answer.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hookguard_config::{HumanDuration, MatchKind};
use hookguard_delivery::Timestamp;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::api::{audit, bad_request, error, not_found, operator, rfc3339_ms, ApiError, TokenId};
use super::AdminState;
use crate::state::keys::{generate_id, generate_key, KeyRate, RetiredKey};
use crate::state::{KeyRecord, OperatorState, Origin};

/// One key, its state and its numbers.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct KeyView {
    id: String,
    route: String,
    origin: Origin,
    enabled: bool,
    /// The key itself (`wh_` + 32 characters).
    key: String,
    /// The path a provider calls: the route's `key_prefix` + the key.
    url_path: String,
    created_at: Option<String>,
    changed_at: Option<String>,
    /// The admin token id of the last change through the API.
    changed_by: Option<String>,
    /// After a regeneration with a grace period: until when the old key still works.
    previous_key_until: Option<String>,
    /// The key's own limit: `{"requests", "per", "burst"}`.
    #[schema(value_type = Option<Object>)]
    rate_limit: Option<serde_json::Value>,
    stats: KeyStats,
}

/// A key's requests since the process started.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct KeyStats {
    total: u64,
    accepted: u64,
    /// Refusals by reason.
    rejected: BTreeMap<String, u64>,
    last_used: Option<String>,
}

/// `POST /keys`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    /// A key route's id.
    route: String,
    /// Default `true`.
    #[serde(default)]
    enabled: Option<bool>,
    /// The key's own limit, e.g. `{"requests": 10, "per": "1s"}` (`burst` optional).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    rate_limit: Option<hookguard_config::Rate>,
}

/// `POST /keys/{id}/regenerate`.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Regenerate {
    /// How long the old key keeps working, e.g. `"10m"`; unset or `"0s"`: it stops at once.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    grace: Option<HumanDuration>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyFilter {
    /// Only this route's keys.
    route: Option<String>,
}

fn view(operator: &OperatorState, record: &KeyRecord) -> KeyView {
    let config = operator.config();
    let prefix = config
        .route(&record.route)
        .and_then(|r| r.matches.key_prefix.clone())
        .unwrap_or_default();
    let counters = operator.key_counters(&record.id);
    let stats = KeyStats {
        total: counters.total.load(Ordering::Relaxed),
        accepted: counters.accepted.load(Ordering::Relaxed),
        rejected: crate::state::store_lock(&counters.rejected)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        last_used: rfc3339_ms(counters.last_used_ms.load(Ordering::Relaxed)),
    };
    KeyView {
        id: record.id.clone(),
        route: record.route.clone(),
        origin: record.origin,
        enabled: record.enabled,
        key: record.key.clone(),
        url_path: format!("{prefix}{}", record.key),
        created_at: rfc3339_ms(record.created_ms),
        changed_at: rfc3339_ms(record.changed_ms),
        changed_by: record.changed_by.clone(),
        rate_limit: record.rate_limit.map(|r| {
            json!({
                "requests": r.requests,
                "per": HumanDuration(std::time::Duration::from_millis(r.per_ms)).to_string(),
                "burst": r.burst,
            })
        }),
        previous_key_until: record
            .retired
            .as_ref()
            .filter(|r| r.until_ms > Timestamp::now().0)
            .and_then(|r| rfc3339_ms(r.until_ms)),
        stats,
    }
}

/// Every key (config and API), or a route's.
#[utoipa::path(get, path = "/keys", tag = "keys", params(KeyFilter),
    responses(
        (status = 200, description = "`items`: the keys", body = Value),
        (status = 400, description = "An unknown query parameter", body = ApiError),
    ))]
pub(super) async fn list(
    State(state): State<AdminState>,
    query: Result<Query<KeyFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let operator = match operator(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Query(filter) = match query {
        Ok(q) => q,
        Err(e) => return bad_request(format!("query: {} (expected `route`)", e.body_text())),
    };
    let table = operator.keys.load();
    let items: Vec<KeyView> = table
        .records
        .iter()
        .filter(|r| filter.route.as_deref().is_none_or(|route| r.route == route))
        .map(|r| view(operator, r))
        .collect();
    Json(json!({ "items": items })).into_response()
}

/// Generates a key for a key route: `wh_` + 32 characters from the OS's CSPRNG.
#[utoipa::path(post, path = "/keys", tag = "keys", request_body = NewKey,
    responses(
        (status = 201, description = "The new key", body = KeyView),
        (status = 400, description = "The body is wrong, or the route is not a key route", body = ApiError),
    ))]
pub(super) async fn create(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    body: Bytes,
) -> Response {
    let operator = match operator(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let new: NewKey = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => {
            return bad_request(format!(
                "body: {e}; expected {{\"route\": \"<key route id>\", \"enabled\": true}}"
            ))
        }
    };
    let config = operator.config();
    let is_key_route = config
        .route(&new.route)
        .is_some_and(|r| matches!(r.matches.kind(), Some(MatchKind::Keys { .. })));
    if !is_key_route {
        let key_routes: Vec<&str> = config
            .routes
            .iter()
            .filter(|r| r.matches.key_prefix.is_some())
            .map(|r| r.id.as_str())
            .collect();
        return bad_request(format!(
            "body: route {:?} is not a key route; expected one of {key_routes:?}",
            new.route
        ));
    }
    let rate_limit = match new.rate_limit.as_ref().map(rate_of).transpose() {
        Ok(r) => r,
        Err(r) => return r,
    };
    let _one_at_a_time = operator.changes.lock().await;
    let now = Timestamp::now().0;
    let record = KeyRecord {
        id: generate_id(),
        route: new.route,
        key: generate_key(),
        origin: Origin::Api,
        enabled: new.enabled.unwrap_or(true),
        created_ms: now,
        changed_ms: now,
        changed_by: Some(token.0.to_string()),
        retired: None,
        rate_limit,
    };
    if let Err(r) = save(operator, &record).await {
        return r;
    }
    audit(
        &state,
        &token,
        "key.create",
        json!({ "id": record.id, "route": record.route }),
    )
    .await;
    (StatusCode::CREATED, Json(view(operator, &record))).into_response()
}

/// Writes `record` and rebuilds the key table.
async fn save(operator: &OperatorState, record: &KeyRecord) -> Result<(), Response> {
    let mut stored = record.clone();
    if stored.origin == Origin::Config {
        // The file has the key; the store keeps only the API's change.
        stored.key = String::new();
    }
    let saved = match operator.store.put_key(&stored).await {
        Ok(()) => operator.reload_keys().await,
        Err(e) => Err(e),
    };
    saved.map_err(unavailable)
}

/// The store did not answer: 503, and what it said.
fn unavailable(e: crate::state::StoreError) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        e.to_string(),
    )
}

fn find(operator: &OperatorState, id: &str) -> Result<KeyRecord, Response> {
    operator
        .keys
        .load()
        .record(id)
        .cloned()
        .ok_or_else(|| not_found(format!("no key {id}")))
}

fn from_config(id: &str, doing: &str) -> Response {
    error(
        StatusCode::CONFLICT,
        "conflict",
        format!("key {id} is written in the config file: it can be disabled here, but to {doing} it edit the file"),
    )
}

const ID: &str = "the key's id (`k_…` or `cfg_…`)";

/// One key.
#[utoipa::path(get, path = "/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 404, description = "No such key", body = ApiError),
    ))]
pub(super) async fn show(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let operator = match operator(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match find(operator, &id) {
        Ok(record) => Json(view(operator, &record)).into_response(),
        Err(r) => r,
    }
}

/// Changes key `id` with `edit` (one change at a time), stores it and writes `action` to
/// the audit log with the detail `edit` returns; answers with the key as it now is.
async fn change(
    state: &AdminState,
    token: &TokenId,
    id: &str,
    action: &str,
    edit: impl FnOnce(&mut KeyRecord, u64) -> Result<Value, Response>,
) -> Response {
    let operator = match operator(state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let _one_at_a_time = operator.changes.lock().await;
    // Changed as the store has it now: another replica may have changed it meanwhile.
    if let Err(e) = operator.reload_keys().await {
        return unavailable(e);
    }
    let mut record = match find(operator, id) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let now = Timestamp::now().0;
    let mut detail = match edit(&mut record, now) {
        Ok(d) => d,
        Err(r) => return r,
    };
    record.changed_ms = now;
    record.changed_by = Some(token.0.to_string());
    if let Err(r) = save(operator, &record).await {
        return r;
    }
    // Read back: a config key shows the file's settings under the API's changes.
    let record = find(operator, id).unwrap_or(record);
    detail["id"] = json!(id);
    detail["route"] = json!(record.route);
    audit(state, token, action, detail).await;
    Json(view(operator, &record)).into_response()
}

/// A JSON body, or the defaults when there is none; a 400 that says what was expected.
fn body_or_default<T: Default + serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("body: {e}; expected {expected}")))
}

async fn set_enabled(state: AdminState, token: TokenId, id: String, enabled: bool) -> Response {
    let action = if enabled { "key.enable" } else { "key.disable" };
    change(&state, &token, &id, action, |record, _| {
        record.enabled = enabled;
        Ok(json!({}))
    })
    .await
}

/// Enables a key.
#[utoipa::path(post, path = "/keys/{id}/enable", tag = "keys",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "Enabled", body = KeyView),
        (status = 404, description = "No such key", body = ApiError),
    ))]
pub(super) async fn enable(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    set_enabled(state, token, id, true).await
}

/// Disables a key: requests with it are answered 403.
#[utoipa::path(post, path = "/keys/{id}/disable", tag = "keys",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "Disabled", body = KeyView),
        (status = 404, description = "No such key", body = ApiError),
    ))]
pub(super) async fn disable(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    set_enabled(state, token, id, false).await
}

/// Replaces an API key's value: the old one stops at once (404), or after `grace`.
#[utoipa::path(post, path = "/keys/{id}/regenerate", tag = "keys",
    params(("id" = String, Path, description = ID)),
    request_body(content = Regenerate, description = "Optional"),
    responses(
        (status = 200, description = "The key with its new value", body = KeyView),
        (status = 400, description = "The body is wrong", body = ApiError),
        (status = 404, description = "No such key", body = ApiError),
        (status = 409, description = "A key of the config file", body = ApiError),
    ))]
pub(super) async fn regenerate(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let options: Regenerate = match body_or_default(&body, "{\"grace\": \"10m\"} or no body") {
        Ok(o) => o,
        Err(r) => return r,
    };
    let grace_ms = options.grace.map_or(0, |g| {
        u64::try_from(g.get().as_millis()).unwrap_or(u64::MAX)
    });
    change(&state, &token, &id, "key.regenerate", |record, now| {
        if record.origin == Origin::Config {
            return Err(from_config(&id, "regenerate"));
        }
        record.retired = (grace_ms > 0).then(|| RetiredKey {
            key: record.key.clone(),
            until_ms: now.saturating_add(grace_ms),
        });
        record.key = generate_key();
        Ok(json!({ "grace_ms": grace_ms }))
    })
    .await
}

/// Deletes an API key (its URL answers 404 from then on).
#[utoipa::path(delete, path = "/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "`{\"deleted\": 1}`", body = Value),
        (status = 404, description = "No such key", body = ApiError),
        (status = 409, description = "A key of the config file", body = ApiError),
    ))]
pub(super) async fn delete(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
) -> Response {
    let operator = match operator(&state) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let _one_at_a_time = operator.changes.lock().await;
    if let Err(e) = operator.reload_keys().await {
        return unavailable(e);
    }
    let record = match find(operator, &id) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if record.origin == Origin::Config {
        return from_config(&id, "delete");
    }
    let deleted = match operator.store.delete_key(&id).await {
        Ok(_) => operator.reload_keys().await,
        Err(e) => Err(e),
    };
    if let Err(e) = deleted {
        return unavailable(e);
    }
    audit(
        &state,
        &token,
        "key.delete",
        json!({ "id": id, "route": record.route }),
    )
    .await;
    Json(json!({ "deleted": 1 })).into_response()
}

/// A limit from the API, checked as the config's are.
fn rate_of(rate: &hookguard_config::Rate) -> Result<KeyRate, Response> {
    let rate = KeyRate::from_config(rate);
    rate.quota()
        .map(|_| rate)
        .map_err(|e| bad_request(format!("body: rate_limit: {e}")))
}

/// Sets a key's own rate limit (`null`: none; a config key then keeps the file's).
#[utoipa::path(post, path = "/keys/{id}/rate_limit", tag = "keys",
    params(("id" = String, Path, description = ID)),
    request_body(content = Object, description = "`{\"requests\": 10, \"per\": \"1s\", \"burst\": 20}` or `null`"),
    responses(
        (status = 200, description = "The key with its limit", body = KeyView),
        (status = 400, description = "The body is wrong", body = ApiError),
        (status = 404, description = "No such key", body = ApiError),
    ))]
pub(super) async fn set_rate_limit(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let rate: Option<hookguard_config::Rate> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(format!(
                "body: {e}; expected {{\"requests\": 10, \"per\": \"1s\"}} or null"
            ))
        }
    };
    let rate_limit = match rate.as_ref().map(rate_of).transpose() {
        Ok(r) => r,
        Err(r) => return r,
    };
    change(&state, &token, &id, "key.rate_limit", |record, _| {
        record.rate_limit = rate_limit;
        Ok(json!({ "rate_limit": rate_limit }))
    })
    .await
}
