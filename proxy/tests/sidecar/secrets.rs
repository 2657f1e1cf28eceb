//! Secrets from HashiCorp Vault through the sidecar. Vault cannot run on this machine: the
//! test serves Vault's documented KV v2 read API (`GET /v1/{mount}/data/{path}`, token in
//! `X-Vault-Token`, the value under `data.data.{key}`) on 127.0.0.1:0.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hookguard_tests::{send, upstream, Signer};
use http::{Request, Response};
use http_body_util::Full;

use super::{config, sidecar};

const VAULT_TOKEN: &str = "hvs.test-token-5f1c";
const VAULT_SECRET: &str = "secret-from-vault-9a2e";

/// A Vault KV v2 server with one secret at `secret/hookguard/github`, key `webhook_secret`.
async fn fake_vault(reads: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let reads = Arc::clone(&reads);
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let authorised = req
                    .headers()
                    .get("x-vault-token")
                    .is_some_and(|t| t == VAULT_TOKEN);
                let found = req.uri().path() == "/v1/secret/data/hookguard/github";
                if authorised && found {
                    reads.fetch_add(1, Ordering::SeqCst);
                }
                let (status, body) = match (authorised, found) {
                    (false, _) => (403, r#"{"errors":["permission denied"]}"#.to_owned()),
                    (true, false) => (404, r#"{"errors":[]}"#.to_owned()),
                    (true, true) => (
                        200,
                        serde_json::json!({
                            "data": {
                                "data": { "webhook_secret": VAULT_SECRET },
                                "metadata": { "created_time": "2026-11-01T00:00:00Z", "version": 3 }
                            }
                        })
                        .to_string(),
                    ),
                };
                let mut response = Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[tokio::test]
async fn vault_secret_verifies_requests_and_its_source_reports_up() {
    let reads = Arc::new(AtomicUsize::new(0));
    let vault = fake_vault(Arc::clone(&reads)).await;
    let app = upstream().record().start().await;
    let route = format!(
        r#"
[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{{ id = "primary", vault = {{ addr = "http://{vault}", path = "hookguard/github", key = "webhook_secret" }} }}]
"#
    );
    let proxy = sidecar()
        .config(config(&app, "", &route))
        .secret_env("VAULT_TOKEN", VAULT_TOKEN)
        .secret_env("UNUSED_VAULT_SECRET_MARKER", VAULT_SECRET)
        .start()
        .await;
    assert!(
        reads.load(Ordering::SeqCst) >= 1,
        "the sidecar read the secret from Vault at start"
    );

    let good = send(Signer::new("github", VAULT_SECRET).post(
        &proxy.url("/webhooks/github"),
        b"{}",
        "v-1",
    ))
    .await;
    assert_eq!(good.status, 200, "{}", good.text());
    assert_eq!(
        app.only_request().header("x-hookguard-secret-id"),
        Some("primary")
    );
    let forged = send(Signer::new("github", "not-the-vault-secret").post(
        &proxy.url("/webhooks/github"),
        b"{}",
        "v-2",
    ))
    .await;
    assert_eq!(forged.status, 401);

    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains(r#"hookguard_secret_source_up{source="vault"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"hookguard_secret_fetches_total{source="vault",result="ok"}"#),
        "{metrics}"
    );
    proxy.finish();
}

#[tokio::test]
async fn a_wrong_vault_token_stops_the_start_with_a_clear_error() {
    let vault = fake_vault(Arc::new(AtomicUsize::new(0))).await;
    let app = upstream().record().start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookguard.toml");
    let free = hookguard_tests::free_port;
    let text = config(
        &app,
        &format!("listen = \"{}\"\nadmin_listen = \"{}\"", free(), free()),
        &format!(
            r#"
[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{{ id = "primary", vault = {{ addr = "http://{vault}", path = "hookguard/github", key = "webhook_secret" }} }}]
"#
        ),
    );
    std::fs::write(&file, text).unwrap();
    // Off the runtime's thread: the fake Vault answers from it meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookguard"))
            .args(["run", "-c"])
            .arg(&file)
            .env("VAULT_TOKEN", "hvs.wrong-token")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success(), "started without its secret");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("route github"), "{err}");
    assert!(!err.contains("hvs.wrong-token"), "token leaked: {err}");
}
