//! Queue mode through the real sidecar: 202 once stored, delivered to the app with retries,
//! nothing lost while the app is down, 4xx and exhausted retries dead-lettered, ordering,
//! bounds, encryption at rest, and the admin API and CLI over the dead-letter queue.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use hookguard_tests::{assert_eventually, send, sha256_hex, upstream, Sidecar, Signer, Upstream};
use http::Request;
use serde_json::Value;

use super::{config, github_route, sample, sidecar, SECRET};

const TOKEN: &str = "admin-token-6f0c1d9e";

/// A queued GitHub route with fast retries, plus an admin token.
fn queued(app: &Upstream, queue_extra: &str, route_extra: &str) -> String {
    config(
        app,
        &format!(
            r#"
[admin]
tokens = [{{ id = "ops", value = "{TOKEN}" }}]

[queue]
retry_schedule = ["100ms", "200ms", "300ms"]
breaker = {{ consecutive_failures = 3, cooldown = "500ms" }}
{queue_extra}
"#
        ),
        &github_route(
            "github",
            "/webhooks/github",
            &format!("delivery = \"queue\"\n{route_extra}"),
        ),
    )
}

fn signer() -> Signer {
    Signer::new("github", SECRET)
}

async fn post(proxy: &Sidecar, body: &[u8], id: &str) -> hookguard_tests::Answer {
    send(signer().post(&proxy.url("/webhooks/github"), body, id)).await
}

/// An admin API call with the token (or `token`).
async fn api(proxy: &Sidecar, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(proxy.admin_url(&format!("/api/v1{path}")));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let answer = send(request.body(Bytes::new()).unwrap()).await;
    let body = serde_json::from_str(&answer.text()).unwrap_or(Value::Null);
    (answer.status, body)
}

fn delivery_ids(app: &Upstream) -> Vec<String> {
    app.requests()
        .iter()
        .filter_map(|r| r.header("x-github-delivery").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_queued_delivery_is_answered_202_and_reaches_the_app_byte_for_byte() {
    let app = upstream().record().start().await;
    let proxy = sidecar().config(queued(&app, "", "")).start().await;
    let body = br#"{"action":"opened","number":7}"#;
    let answer = post(&proxy, body, "d-1").await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let reply: Value = serde_json::from_str(&answer.text()).unwrap();
    assert_eq!(reply["status"], "queued");
    assert!(reply["id"].as_str().is_some_and(|id| id.len() == 36));

    assert_eventually!(app.requests().len() == 1, "the app never got the delivery");
    let got = app.only_request();
    assert_eq!(sha256_hex(&got.body), sha256_hex(body));
    assert_eq!(got.path, "/webhooks/github");
    assert_eq!(got.header("x-hookguard-route"), Some("github"));
    assert_eq!(got.header("x-hookguard-attempt"), Some("1"));
    assert_eq!(got.header("x-hookguard-delivery-id"), Some("d-1"));
    assert!(got.header("x-hub-signature-256").is_some());

    // The delivery id was committed when the record was stored: a resend is a duplicate.
    let again = post(&proxy, body, "d-1").await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert!(again.text().contains("duplicate"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.requests().len(), 1);
    assert_eventually!(
        proxy
            .stdout_lines()
            .iter()
            .any(|l| l.contains(r#""outcome":"queued""#)),
        "no access log line with outcome queued"
    );
}

#[tokio::test]
async fn nothing_is_lost_while_the_app_is_down_and_the_breaker_opens_then_closes() {
    let app = upstream().record().start().await;
    let proxy = sidecar().config(queued(&app, "", "")).start().await;
    app.set_down(true);
    // Deliveries keep arriving while the app is down for 30 s (~20/s, bounded).
    let mut accepted = HashSet::new();
    let mut saw_open = false;
    let down_until = std::time::Instant::now() + Duration::from_secs(30);
    for i in 0..1_000 {
        if std::time::Instant::now() >= down_until {
            break;
        }
        let id = format!("down-{i}");
        let answer = post(&proxy, format!("{{\"n\":{i}}}").as_bytes(), &id).await;
        assert_eq!(answer.status, 202, "{}", answer.text());
        accepted.insert(id);
        if i % 20 == 0 {
            saw_open |= sample(
                &proxy.metrics().await,
                "hookguard_delivery_breaker_state",
                r#"route="github""#,
            ) == Some(2.0);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_open, "the breaker never opened while the app was down");
    assert!(delivery_ids(&app).is_empty());
    app.set_down(false);
    assert_eventually!(
        delivery_ids(&app).into_iter().collect::<HashSet<_>>() == accepted,
        "not every accepted delivery reached the app: {} of {}",
        delivery_ids(&app).len(),
        accepted.len()
    );
    assert_eventually!(
        sample(
            &proxy.metrics().await,
            "hookguard_delivery_breaker_state",
            r#"route="github""#
        ) == Some(0.0),
        "the breaker did not close"
    );
}

#[tokio::test]
async fn a_4xx_is_dead_lettered_at_once_and_a_5xx_after_max_retries() {
    let app = upstream().record().status(404).start().await;
    let proxy = sidecar()
        .config(queued(&app, "", "queue = { max_retries = 2 }"))
        .start()
        .await;
    assert_eq!(post(&proxy, b"{}", "gone-1").await.status, 202);
    assert_eventually!(
        api(&proxy, "GET", "/dlq", Some(TOKEN)).await.1["items"]
            .as_array()
            .is_some_and(|i| i.len() == 1),
        "the 404 was not dead-lettered"
    );
    let (_, list) = api(&proxy, "GET", "/dlq", Some(TOKEN)).await;
    let dead = &list["items"][0];
    assert_eq!(dead["reason"], "rejected");
    assert_eq!(dead["attempts"], 1);
    assert!(dead["detail"].as_str().unwrap().contains("404"), "{dead}");

    app.set_status(503);
    assert_eq!(post(&proxy, b"{}", "fail-1").await.status, 202);
    assert_eventually!(
        api(&proxy, "GET", "/dlq?reason=retries_exhausted", Some(TOKEN))
            .await
            .1["items"]
            .as_array()
            .is_some_and(|i| i.len() == 1),
        "the 503s were not dead-lettered after the retries"
    );
    let (_, list) = api(&proxy, "GET", "/dlq?reason=retries_exhausted", Some(TOKEN)).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, shown) = api(&proxy, "GET", &format!("/dlq/{id}"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        shown["attempt_history"].as_array().unwrap().len(),
        3,
        "{shown}"
    );
    // Signature headers are masked in what the API shows.
    let headers = shown["headers"].to_string();
    assert!(
        headers.contains("<masked>") && !headers.contains("sha256="),
        "{headers}"
    );
    assert_eq!(
        app.requests()
            .iter()
            .filter(|r| r.header("x-github-delivery") == Some("fail-1"))
            .count(),
        3
    );
}

#[tokio::test]
async fn the_admin_api_refuses_every_call_without_a_valid_token() {
    let app = upstream().record().start().await;
    let proxy = sidecar().config(queued(&app, "", "")).start().await;
    for (method, path) in [
        ("GET", "/queue/stats"),
        ("GET", "/dlq"),
        ("GET", "/dlq/0190b5a8-7c4e-7000-8000-000000000000"),
        ("POST", "/dlq/0190b5a8-7c4e-7000-8000-000000000000/retry"),
        ("DELETE", "/dlq/0190b5a8-7c4e-7000-8000-000000000000"),
        ("POST", "/dlq/retry"),
        ("POST", "/dlq/purge"),
        ("GET", "/nothing-here"),
    ] {
        assert_eq!(
            api(&proxy, method, path, None).await.0,
            401,
            "{method} {path}"
        );
        assert_eq!(
            api(&proxy, method, path, Some("wrong")).await.0,
            401,
            "{method} {path}"
        );
    }
    assert_eq!(api(&proxy, "GET", "/queue/stats", Some(TOKEN)).await.0, 200);
    assert_eq!(
        api(&proxy, "GET", "/dlq?reason=bogus", Some(TOKEN)).await.0,
        400
    );
    assert_eq!(
        api(&proxy, "GET", "/dlq/not-an-id", Some(TOKEN)).await.0,
        400
    );
    // The probes stay open.
    assert_eq!(proxy.admin_get("/livez").await.0, 200);

    // No token configured: the API is off.
    let open = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", "delivery = \"queue\""),
        ))
        .start()
        .await;
    let (status, body) = api(&open, "GET", "/queue/stats", Some(TOKEN)).await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("admin.tokens"));
}

#[tokio::test]
async fn dead_letters_are_retried_deleted_and_purged_through_the_api() {
    let app = upstream().record().status(400).start().await;
    let proxy = sidecar().config(queued(&app, "", "")).start().await;
    for i in 0..3 {
        assert_eq!(post(&proxy, b"{}", &format!("bad-{i}")).await.status, 202);
    }
    assert_eventually!(
        api(&proxy, "GET", "/dlq", Some(TOKEN)).await.1["items"]
            .as_array()
            .is_some_and(|i| i.len() == 3),
        "three dead letters"
    );
    let (_, list) = api(&proxy, "GET", "/dlq", Some(TOKEN)).await;
    let ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    app.set_status(200);
    let (status, _) = api(
        &proxy,
        "POST",
        &format!("/dlq/{}/retry", ids[0]),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eventually!(
        app.requests()
            .iter()
            .filter(|r| r.header("x-hookguard-attempt") == Some("2"))
            .count()
            == 1,
        "the retried dead letter was not delivered"
    );
    assert_eq!(
        api(&proxy, "DELETE", &format!("/dlq/{}", ids[1]), Some(TOKEN))
            .await
            .0,
        200
    );
    assert_eq!(
        api(&proxy, "GET", &format!("/dlq/{}", ids[1]), Some(TOKEN))
            .await
            .0,
        404
    );
    let (status, purged) = api(&proxy, "POST", "/dlq/purge?route=github", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(purged["deleted"], 1);
    let (_, list) = api(&proxy, "GET", "/dlq", Some(TOKEN)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    // The process writes its lines a moment after answering: read until they are there.
    for action in ["dlq.retry", "dlq.delete", "dlq.purge"] {
        assert_eventually!(
            proxy
                .stderr_lines()
                .iter()
                .any(|l| l.contains("hookguard::audit") && l.contains(action)),
            "no audit line for {action}"
        );
    }
}

#[tokio::test]
async fn the_cli_lists_shows_and_retries_dead_letters() {
    let app = upstream().record().status(422).start().await;
    let proxy = sidecar().config(queued(&app, "", "")).start().await;
    assert_eq!(post(&proxy, b"{}", "cli-1").await.status, 202);
    assert_eventually!(
        api(&proxy, "GET", "/dlq", Some(TOKEN)).await.1["items"]
            .as_array()
            .is_some_and(|i| i.len() == 1),
        "one dead letter"
    );
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookguard"))
            .args(args)
            .args(["--admin", &proxy.admin_url("")])
            .env("HOOKGUARD_ADMIN_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let listed = cli(&["dlq", "list", "--json"]);
    assert!(listed.status.success(), "{listed:?}");
    let list: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let table = cli(&["dlq", "list"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains(&id));
    let shown = cli(&["dlq", "show", &id]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("422"),
        "{shown:?}"
    );
    let stats = cli(&["queue", "stats", "--json"]);
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["routes"][0]["dead"], 1);
    app.set_status(200);
    assert!(cli(&["dlq", "retry", &id]).status.success());
    assert_eventually!(
        app.requests().len() == 2,
        "the retried message was not delivered"
    );
    // Refusals: an unknown id exits 1, a missing token exits 2.
    assert_eq!(
        cli(&["dlq", "show", "0190b5a8-7c4e-7000-8000-000000000000"])
            .status
            .code(),
        Some(1)
    );
    let no_token = std::process::Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .args(["queue", "stats", "--admin", &proxy.admin_url("")])
        .env_remove("HOOKGUARD_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(no_token.status.code(), Some(2));
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(queued(&app, "", "queue = { max_messages = 2 }"))
        .start()
        .await;
    app.set_down(true);
    assert_eq!(post(&proxy, b"{}", "f-1").await.status, 202);
    assert_eq!(post(&proxy, b"{}", "f-2").await.status, 202);
    let full = post(&proxy, b"{}", "f-3").await;
    assert_eq!(full.status, 503, "{}", full.text());
    assert!(full.header("retry-after").is_some());
    assert!(full.text().contains("queue_full"));
    // Not stored, so the provider's resend is not a duplicate once there is room.
    app.set_down(false);
    assert_eventually!(app.requests().len() == 2, "the two stored deliveries");
    assert_eventually!(
        post(&proxy, b"{}", "f-3").await.status == 202,
        "the resend was refused"
    );
}

#[tokio::test]
async fn messages_with_the_same_key_arrive_in_order_across_a_failing_head_and_a_restart() {
    let app = upstream().record().start().await;
    let mut proxy = sidecar()
        .config(queued(
            &app,
            "",
            "queue = { concurrency = 8, ordering_key = { json_path = \"$.order\" } }",
        ))
        .start()
        .await;
    app.set_status(503);
    for i in 0..6 {
        let body = format!("{{\"order\":\"o-{}\",\"seq\":{i}}}", i % 2);
        assert_eq!(
            post(&proxy, body.as_bytes(), &format!("k-{i}"))
                .await
                .status,
            202
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.kill9();
    proxy.restart().await;
    app.set_status(200);
    assert_eventually!(
        app.requests().iter().filter(|r| r.status_ok()).count() >= 6,
        "every message delivered"
    );
    for key in ["o-0", "o-1"] {
        let seqs: Vec<i64> = app
            .requests()
            .iter()
            .filter(|r| r.status_ok())
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
            .filter(|v| v["order"] == key)
            .map(|v| v["seq"].as_i64().unwrap())
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seqs, sorted, "key {key} delivered out of order");
    }
}

#[tokio::test]
async fn an_undecryptable_record_is_dead_lettered_and_a_bad_key_stops_the_start() {
    let app = upstream().record().start().await;
    let key_a = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes
    let key_b = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="; // 32 bytes
    let with_key = |id: &str, key: &str| {
        queued(
            &app,
            &format!("encryption_keys = [{{ id = \"{id}\", value = \"{key}\" }}]"),
            "",
        )
    };
    let mut proxy = sidecar().config(with_key("a", key_a)).start().await;
    app.set_down(true);
    assert_eq!(post(&proxy, b"{\"secret\":1}", "e-1").await.status, 202);
    // At rest, the body is not readable in the queue's files.
    proxy.kill9();
    let leaked = walk(proxy.dir()).into_iter().any(|f| {
        std::fs::read(&f).is_ok_and(|bytes| bytes.windows(12).any(|w| w == b"{\"secret\":1}"))
    });
    assert!(!leaked, "a queued body is readable on disk");
    proxy.rewrite_config(&with_key("b", key_b));
    proxy.restart().await;
    app.set_down(false);
    assert_eventually!(
        api(&proxy, "GET", "/dlq?reason=undecodable", Some(TOKEN))
            .await
            .1["items"]
            .as_array()
            .is_some_and(|i| i.len() == 1),
        "the record sealed with a key no longer configured was not dead-lettered"
    );
    assert!(app.requests().is_empty());

    // A key that is not 32 bytes of base64 is refused at start, with where and why.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .args(["check", "-c"])
        .arg({
            let path = proxy.dir().join("bad.toml");
            std::fs::write(&path, with_key("c", "c2hvcnQ=")).unwrap();
            path
        })
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let text =
        String::from_utf8_lossy(&bad.stderr).to_string() + &String::from_utf8_lossy(&bad.stdout);
    assert!(
        text.contains("queue.encryption_keys[0]") && text.contains("5 bytes"),
        "{text}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
