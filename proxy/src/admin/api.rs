//! `/api/v1/`: the admin API, one router for every resource (keys, routes, events, audit,
//! secrets, queue and dead letters, subscriptions). Every route needs a bearer token from
//! `admin.tokens`; without any configured, every call is refused. State-changing calls
//! are written to the audit log (the store, and target `hookguard::audit`) with the
//! token's id. CORS stays closed: no `Access-Control-Allow-*` header is ever sent, so a
//! browser page from another origin cannot read an answer.
//!
//! The OpenAPI 3.1 document (`GET /api/v1/openapi.json`) is generated from the handlers'
//! annotations by utoipa; routes are registered through `utoipa_axum::routes!`, so a route
//! cannot be served without being documented.

// Helpers return the refusal `Response` itself as the error, as axum handlers answer;
// boxing it would only add an allocation to every refusal.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use hookguard_delivery::Timestamp;
use http::{header, StatusCode};
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{dead_letters, events, keys, routes as route_api, secrets, test_delivery, AdminState};

/// The id of the token a call was made with (never its value).
#[derive(Clone)]
pub(super) struct TokenId(pub(super) Arc<str>);

/// Every refusal's body.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct ApiError {
    /// A fixed code: `unauthorized`, `bad_request`, `not_found`, `conflict`, …
    error: String,
    /// What is wrong, and what was expected.
    message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookguard admin API",
        description = "Keys, routes, the event log, the audit log, secrets, the queue's dead letters and outbound subscriptions. Every call needs `Authorization: Bearer <admin token>`."
    ),
    servers((url = "/api/v1")),
    security(("bearer" = [])),
    modifiers(&Security),
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes with their documentation.
fn documented() -> OpenApiRouter<AdminState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi_json))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::show, keys::delete))
        .routes(routes!(keys::enable))
        .routes(routes!(keys::disable))
        .routes(routes!(keys::regenerate))
        .routes(routes!(keys::set_rate_limit))
        .routes(routes!(route_api::list))
        .routes(routes!(route_api::show))
        .routes(routes!(test_delivery::test))
        .routes(routes!(secrets::status))
        .routes(routes!(secrets::refresh))
        .routes(routes!(events::list))
        .routes(routes!(events::show))
        .routes(routes!(events::audit_log))
        .routes(routes!(dead_letters::queue_stats))
        .routes(routes!(dead_letters::dlq_list))
        .routes(routes!(dead_letters::dlq_retry_matching))
        .routes(routes!(dead_letters::dlq_purge))
        .routes(routes!(dead_letters::dlq_show, dead_letters::dlq_delete))
        .routes(routes!(dead_letters::dlq_retry_one))
        .routes(routes!(alerts))
        .merge(super::subscriptions::router())
}

/// The OpenAPI document, with the 401 every operation can answer.
pub(crate) fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, mut doc) = documented().split_for_parts();
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                op.responses.responses.insert(
                    "401".into(),
                    utoipa::openapi::RefOr::T(
                        utoipa::openapi::ResponseBuilder::new()
                            .description("No valid admin token (or none is configured)")
                            .build(),
                    ),
                );
            }
        }
        doc
    })
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", body = Value)))]
async fn openapi_json() -> Response {
    Json(openapi()).into_response()
}

pub(super) fn router(state: AdminState) -> Router<AdminState> {
    let (router, _) = documented().split_for_parts();
    router
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such API route") })
        .layer(middleware::from_fn_with_state(state, authorize))
}

/// Built-in alerting: each rule, what fires now, each channel (no secrets: ids and kinds).
#[utoipa::path(get, path = "/alerts", tag = "alerts",
    responses(
        (status = 200, description = "Each alert rule, what fires now and since when, each channel (ids and kinds, no secrets)", body = Value),
    ))]
async fn alerts(State(state): State<AdminState>) -> Json<Value> {
    Json(state.process.alerts.get())
}

pub(super) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

pub(super) fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", message)
}

pub(super) fn not_found(message: impl Into<String>) -> Response {
    error(StatusCode::NOT_FOUND, "not_found", message)
}

async fn authorize(State(state): State<AdminState>, mut req: Request, next: Next) -> Response {
    let tokens = state.process.admin_tokens.load();
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

/// Writes a state-changing call to the audit log: the store (when the admin state is
/// open) and the `hookguard::audit` log target.
pub(super) async fn audit(state: &AdminState, token: &TokenId, action: &str, detail: Value) {
    match state.process.operator() {
        Some(operator) => operator.audit(&token.0, action, detail).await,
        None => {
            tracing::info!(target: "hookguard::audit", token_id = %token.0, action, detail = %detail, "admin action")
        }
    }
}

/// The admin state (keys, events, audit), or the answer that says why there is none.
pub(super) fn operator(state: &AdminState) -> Result<&Arc<crate::state::OperatorState>, Response> {
    state.process.operator().ok_or_else(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the admin store is not open",
        )
    })
}

/// A 400 naming the query parameter and what it takes.
pub(super) fn bad_query(name: &str, expected: &str) -> Response {
    bad_request(format!("query parameter `{name}`: expected {expected}"))
}

/// A `since`/`until` query parameter: RFC 3339 or Unix seconds.
pub(super) fn query_time(name: &str, value: &str) -> Result<Timestamp, Response> {
    parse_time(value).ok_or_else(|| {
        bad_query(
            name,
            "a time as RFC 3339 (2026-11-30T12:00:00Z) or Unix seconds",
        )
    })
}

/// A `limit` query parameter: 1 to 10000.
pub(super) fn query_limit(name: &str, value: &str) -> Result<usize, Response> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| bad_query(name, "a number from 1 to 10000"))
}

pub(super) fn parse_time(value: &str) -> Option<Timestamp> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Timestamp(secs.saturating_mul(1000)));
    }
    let t =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(Timestamp)
}

/// An RFC 3339 time from Unix milliseconds; `None` for 0 (never).
pub(super) fn rfc3339_ms(ms: u64) -> Option<String> {
    (ms > 0).then(|| crate::rfc3339::unix_ms(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_every_reference_resolves() {
        let doc = serde_json::to_value(openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let text = doc.to_string();
        let schemas = &doc["components"]["schemas"];
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(schemas.get(name).is_some(), "dangling reference to {name}");
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }
}
