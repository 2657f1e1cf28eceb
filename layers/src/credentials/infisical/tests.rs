//! Against a local stand-in for Infisical that serves the documented Universal Auth login
//! (<https://infisical.com/docs/api-reference/endpoints/universal-auth/login>) and the v3
//! raw secret read (<https://infisical.com/docs/api-reference/endpoints/deprecated/secrets/read>;
//! the `secret` object shaped like `secretRawSchema` in Infisical's backend), with Bearer
//! tokens and `{"message": ...}` errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::*;
use crate::credentials::testing::TestServer;
use crate::credentials::SecretSet;

const CLIENT_ID: &str = "0b8c2d6e-ua-client";
const CLIENT_SECRET: &str = "ua-client-secret-value";

#[derive(Default)]
struct Infisical {
    logins: usize,
    current_token: Option<String>,
    expires_in: u64,
}

type Shared = Arc<Mutex<Infisical>>;

async fn login(State(state): State<Shared>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    if body["clientId"] != CLIENT_ID || body["clientSecret"] != CLIENT_SECRET {
        return (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({ "statusCode": 401, "message": "Invalid credentials", "error": "UnauthorizedError" }),
            ),
        );
    }
    let mut state = state.lock().unwrap();
    state.logins += 1;
    let token = format!("eyJhbGciOi.token-{}", state.logins);
    state.current_token = Some(token.clone());
    (
        StatusCode::OK,
        Json(json!({
            "accessToken": token,
            "expiresIn": state.expires_in,
            "accessTokenMaxTTL": 2_592_000,
            "tokenType": "Bearer"
        })),
    )
}

async fn read(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let expected = state.lock().unwrap().current_token.clone();
    let presented = headers.get("authorization").and_then(|v| v.to_str().ok());
    if expected.is_none() || presented != expected.map(|t| format!("Bearer {t}")).as_deref() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({ "statusCode": 401, "message": "Token expired", "error": "UnauthorizedError" }),
            ),
        );
    }
    let want = [
        ("workspaceId", "proj-1"),
        ("environment", "prod"),
        ("secretPath", "/webhooks"),
    ];
    if want
        .iter()
        .any(|(k, v)| query.get(*k).map(String::as_str) != Some(*v))
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "statusCode": 400, "message": "bad query", "error": "BadRequest" })),
        );
    }
    let mut secret = json!({
        "id": "6f2b1c3e", "_id": "6f2b1c3e", "workspace": "proj-1", "environment": "prod",
        "version": 3, "type": "shared", "secretKey": name, "secretComment": "",
        "createdAt": "2024-04-01T09:00:00.000Z", "updatedAt": "2024-05-01T12:00:00.000Z"
    });
    match name.as_str() {
        "GITHUB_WEBHOOK_SECRET" => secret["secretValue"] = json!("gh-from-infisical"),
        "GITHUB_WEBHOOK_SECRET_NEXT" => secret["secretValue"] = json!("gh-next-from-infisical"),
        "HIDDEN" => secret["secretValueHidden"] = json!(true),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(
                    json!({ "statusCode": 404, "message": format!("Secret with name '{name}' not found"), "error": "NotFound" }),
                ),
            )
        }
    }
    (StatusCode::OK, Json(json!({ "secret": secret })))
}

async fn server(expires_in: u64) -> (TestServer, Shared) {
    let state: Shared = Arc::new(Mutex::new(Infisical {
        expires_in,
        ..Infisical::default()
    }));
    let router = axum::Router::new()
        .route(
            "/api/v1/auth/universal-auth/login",
            axum::routing::post(login),
        )
        .route("/api/v3/secrets/raw/{name}", axum::routing::get(read))
        .with_state(state.clone());
    (TestServer::start(router).await, state)
}

fn source(base: &str, client_secret: &str) -> InfisicalSource {
    InfisicalSource::new(base, CLIENT_ID, client_secret, "proj-1", "prod")
        .unwrap()
        .secret_path("/webhooks")
        .route(
            "github",
            [
                SecretRef::primary("GITHUB_WEBHOOK_SECRET"),
                SecretRef::next("GITHUB_WEBHOOK_SECRET_NEXT"),
                SecretRef::new("old", "RETIRED").optional(),
            ],
        )
        .route("hidden", [SecretRef::primary("HIDDEN")])
        .route("missing", [SecretRef::primary("NOT_THERE")])
}

fn values(set: &SecretSet) -> Vec<(&str, &str, Option<i64>)> {
    set.entries()
        .iter()
        .map(|e| (&*e.id, e.value.expose_secret(), e.rotated_at))
        .collect()
}

#[tokio::test]
async fn logs_in_once_and_reads_each_secret_with_the_bearer_token() {
    let (server, state) = server(7200).await;
    let source = source(&server.base, CLIENT_SECRET);
    let set = source.fetch("github").await.unwrap();
    // 2024-05-01T12:00:00Z, computed independently with Python's datetime.
    assert_eq!(
        values(&set),
        [
            ("primary", "gh-from-infisical", Some(1_714_564_800)),
            ("next", "gh-next-from-infisical", Some(1_714_564_800)),
        ]
    );
    source.fetch("github").await.unwrap();
    assert_eq!(state.lock().unwrap().logins, 1, "token not reused");
}

#[tokio::test]
async fn refused_token_triggers_one_new_login() {
    let (server, state) = server(7200).await;
    let source = source(&server.base, CLIENT_SECRET);
    source.fetch("github").await.unwrap();
    // Revoked on the server side.
    state.lock().unwrap().current_token = Some("revoked".into());
    source.fetch("github").await.unwrap();
    assert_eq!(state.lock().unwrap().logins, 2);
}

#[tokio::test]
async fn token_is_renewed_when_its_lifetime_is_over() {
    let (server, state) = server(0).await;
    let source = source(&server.base, CLIENT_SECRET);
    source.fetch("hidden").await.unwrap_err();
    source.fetch("hidden").await.unwrap_err();
    assert_eq!(state.lock().unwrap().logins, 2);
}

#[tokio::test]
async fn bad_client_secret_is_reported_without_it() {
    let (server, state) = server(7200).await;
    let source = source(&server.base, "wrong-client-secret");
    let error = source.fetch("github").await.unwrap_err().to_string();
    assert!(
        error.ends_with("/api/v1/auth/universal-auth/login: HTTP 401: Invalid credentials"),
        "{error}"
    );
    assert!(!error.contains("wrong-client-secret"));
    assert!(!format!("{source:?}").contains("wrong-client-secret"));
    assert_eq!(state.lock().unwrap().logins, 0);
}

#[tokio::test]
async fn hidden_and_missing_secrets_are_named() {
    let (server, _) = server(7200).await;
    let source = source(&server.base, CLIENT_SECRET);
    assert_eq!(
        source.fetch("hidden").await.unwrap_err().to_string(),
        "infisical secret HIDDEN: value hidden: the identity may not read secret values"
    );
    assert_eq!(
        source.fetch("missing").await.unwrap_err().to_string(),
        "infisical secret NOT_THERE not found"
    );
}
