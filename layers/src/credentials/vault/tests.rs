//! Against a local stand-in for Vault that serves the KV v2 read API as documented at
//! <https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version>:
//! `GET /v1/{mount}/data/{path}`, `X-Vault-Token`, the answer shaped like the docs'
//! sample response, and `{"errors": [...]}` on refusal.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::*;
use crate::credentials::testing::TestServer;

const TOKEN: &str = "hvs.test-token-value";

#[derive(Clone, Default)]
struct Seen {
    namespaces: Arc<Mutex<Vec<Option<String>>>>,
}

async fn vault(
    State(seen): State<Seen>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    seen.namespaces.lock().unwrap().push(
        headers
            .get("x-vault-namespace")
            .map(|v| v.to_str().unwrap().to_owned()),
    );
    if headers.get("x-vault-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "errors": ["permission denied"] })),
        );
    }
    let data = match path.as_str() {
        "secret/data/hookguard/github" => json!({ "primary": "gh-primary", "next": "gh-next" }),
        "kv/data/teams/payments/stripe" => json!({ "primary": "whsec_stripe" }),
        "secret/data/hookguard/numeric" => json!({ "primary": 42 }),
        _ => return (StatusCode::NOT_FOUND, Json(json!({ "errors": [] }))),
    };
    let body = json!({
        "request_id": "c4fc1b5e-0bd1-4a8b-a3d4-3b5ac0d1e5d2",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": {
            "data": data,
            "metadata": {
                "created_time": "2018-03-22T02:24:06.945319214Z",
                "custom_metadata": { "owner": "jdoe", "mission_critical": "false" },
                "deletion_time": "",
                "destroyed": false,
                "version": 2
            }
        },
        "wrap_info": null,
        "warnings": null,
        "auth": null
    });
    (StatusCode::OK, Json(body))
}

async fn server() -> (TestServer, Seen) {
    let seen = Seen::default();
    let router = axum::Router::new()
        .route("/v1/{*path}", axum::routing::get(vault))
        .with_state(seen.clone());
    (TestServer::start(router).await, seen)
}

fn values(set: &SecretSet) -> Vec<(&str, &str, Option<i64>)> {
    set.entries()
        .iter()
        .map(|e| (&*e.id, e.value.expose_secret(), e.rotated_at))
        .collect()
}

#[tokio::test]
async fn reads_keys_of_the_route_path_with_the_version_time() {
    let (server, seen) = server().await;
    let source = VaultSource::new(&server.base, TOKEN).unwrap().route(
        "github",
        "/hookguard/github/",
        [SecretRef::primary("primary"), SecretRef::next("next")],
    );
    let set = source.fetch("github").await.unwrap();
    // 2018-03-22T02:24:06Z, computed independently with Python's datetime.
    assert_eq!(
        values(&set),
        [
            ("primary", "gh-primary", Some(1_521_685_446)),
            ("next", "gh-next", Some(1_521_685_446)),
        ]
    );
    assert_eq!(*seen.namespaces.lock().unwrap(), [None]);
}

#[tokio::test]
async fn custom_mount_nested_path_and_namespace() {
    let (server, seen) = server().await;
    let source = VaultSource::new(&format!("{}/", server.base), TOKEN)
        .unwrap()
        .mount("kv")
        .namespace("team-a")
        .route(
            "stripe",
            "teams/payments/stripe",
            [SecretRef::primary("primary")],
        );
    assert_eq!(source.fetch("stripe").await.unwrap().len(), 1);
    assert_eq!(
        *seen.namespaces.lock().unwrap(),
        [Some("team-a".to_owned())]
    );
}

#[tokio::test]
async fn refusal_reports_vaults_message_and_never_the_token() {
    let (server, _) = server().await;
    let source = VaultSource::new(&server.base, "hvs.wrong-token")
        .unwrap()
        .route(
            "github",
            "hookguard/github",
            [SecretRef::primary("primary")],
        );
    let error = source.fetch("github").await.unwrap_err().to_string();
    assert!(
        error.ends_with("/v1/secret/data/hookguard/github: HTTP 403: permission denied"),
        "{error}"
    );
    assert!(!error.contains("wrong-token"));
    assert!(!format!("{source:?}").contains("wrong-token"));
}

#[tokio::test]
async fn missing_path_key_or_non_string_value_are_named() {
    let (server, _) = server().await;
    let source = VaultSource::new(&server.base, TOKEN)
        .unwrap()
        .route("gone", "hookguard/gone", [SecretRef::primary("primary")])
        .route("nokey", "hookguard/github", [SecretRef::primary("absent")])
        .route(
            "number",
            "hookguard/numeric",
            [SecretRef::primary("primary")],
        );
    assert_eq!(
        source.fetch("gone").await.unwrap_err().to_string(),
        "vault secret secret/hookguard/gone not found"
    );
    assert_eq!(
        source.fetch("nokey").await.unwrap_err().to_string(),
        "vault key absent not found"
    );
    assert_eq!(
        source.fetch("number").await.unwrap_err().to_string(),
        "vault key hookguard/numeric#primary: not a non-empty string"
    );
}

#[tokio::test]
async fn unreachable_vault_is_a_request_error() {
    // Bind and drop: nothing listens on this port any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let source = VaultSource::new(&base, TOKEN).unwrap().route(
        "github",
        "hookguard/github",
        [SecretRef::primary("primary")],
    );
    assert!(matches!(
        source.fetch("github").await.unwrap_err(),
        SourceError::Request { .. }
    ));
}

#[test]
fn bad_addresses_are_configuration_errors() {
    for addr in ["vault:8200", "ftp://vault", "https://user:pw@vault"] {
        let error = VaultSource::new(addr, TOKEN).unwrap_err();
        assert!(matches!(error, SourceError::Config(_)), "{addr}: {error}");
        assert!(!error.to_string().contains("pw@"), "{error}");
    }
}
