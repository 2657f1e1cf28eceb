//! The admin API through the real sidecar: keys (config and API-made, merged, persisted),
//! routes, the event log, the audit log, secrets, refusals, and the OpenAPI document
//! checked against what every route answers.

use std::collections::BTreeSet;

use bytes::Bytes;
use hookguard_tests::{assert_eventually, send, upstream, Sidecar, Signer, Upstream};
use http::Request;
use serde_json::{json, Value};

use super::{config, github_route, sidecar, SECRET};

pub(super) const TOKEN: &str = "admin-token-3a9d27be";

/// A key written in the config file.
pub(super) const CONFIG_KEY: &str = "wh_ConfigKey0123456789abcdefghijklm";

/// A key route `hooks` (one config key) and a plain GitHub route, with an admin token.
fn keyed(app: &Upstream) -> String {
    keyed_with(app, "")
}

/// [`keyed`] with more top-level settings (`top`, e.g. a `[state]` table).
pub(super) fn keyed_with(app: &Upstream, top: &str) -> String {
    config(
        app,
        &format!("{top}\n[admin]\ntokens = [{{ id = \"ops\", value = \"{TOKEN}\" }}]\n"),
        &format!(
            r#"
[[routes]]
id = "hooks"
match = {{ key_prefix = "/hooks/", keys = [{{ key = "{CONFIG_KEY}" }}] }}
scheme = "github"
secrets = [{{ id = "primary", value = "{SECRET}" }}]
{}"#,
            github_route("github", "/webhooks/github", "")
        ),
    )
}

/// An admin API call with the token (or `token`) and an optional JSON body.
async fn call(
    proxy: &Sidecar,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(proxy.admin_url(&format!("/api/v1{path}")));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = Bytes::from(body.unwrap_or("").to_owned());
    let answer = send(request.body(body).unwrap()).await;
    let parsed = serde_json::from_str(&answer.text()).unwrap_or(Value::Null);
    (answer.status, parsed)
}

/// An admin API call with [`TOKEN`].
pub(super) async fn api(
    proxy: &Sidecar,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    call(proxy, method, path, Some(TOKEN), body).await
}

/// A signed GitHub delivery to `path`; its status.
pub(super) async fn deliver(proxy: &Sidecar, path: &str, id: &str) -> u16 {
    send(Signer::new("github", SECRET).post(&proxy.url(path), b"{\"zen\":1}", id))
        .await
        .status
}

#[tokio::test]
async fn keys_are_generated_disabled_regenerated_and_deleted_and_survive_a_restart() {
    let app = upstream().record().start().await;
    let mut proxy = sidecar().config(keyed(&app)).start().await;

    // Generate: `wh_` + 32 alphanumerics, working at once.
    let (status, made) = api(&proxy, "POST", "/keys", Some(r#"{"route":"hooks"}"#)).await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("wh_") && key.len() == 35, "{key}");
    assert!(key[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(made["origin"], "api");
    assert_eq!(made["url_path"], format!("/hooks/{key}"));
    assert_eq!(deliver(&proxy, &format!("/hooks/{key}"), "d-1").await, 200);
    assert_eq!(
        deliver(&proxy, &format!("/hooks/{CONFIG_KEY}"), "d-2").await,
        200
    );

    // The list merges config and API keys and says which is which.
    let (_, list) = api(&proxy, "GET", "/keys?route=hooks", None).await;
    let origins: BTreeSet<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["key"].as_str().unwrap().to_owned(),
                k["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        origins,
        BTreeSet::from([
            (CONFIG_KEY.to_owned(), "config".to_owned()),
            (key.clone(), "api".to_owned())
        ])
    );
    let config_id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["origin"] == "config")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Disable → 403; a config key can be disabled too, but neither deleted nor regenerated.
    assert_eq!(
        api(&proxy, "POST", &format!("/keys/{id}/disable"), None)
            .await
            .0,
        200
    );
    assert_eq!(deliver(&proxy, &format!("/hooks/{key}"), "d-3").await, 403);
    assert_eq!(
        api(&proxy, "POST", &format!("/keys/{config_id}/disable"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        deliver(&proxy, &format!("/hooks/{CONFIG_KEY}"), "d-4").await,
        403
    );
    let (status, refused) = api(&proxy, "DELETE", &format!("/keys/{config_id}"), None).await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("config file"));
    assert_eq!(
        api(
            &proxy,
            "POST",
            &format!("/keys/{config_id}/regenerate"),
            None
        )
        .await
        .0,
        409
    );

    // Their states are in the admin store: a crash and a restart keep them.
    proxy.kill9();
    proxy.restart().await;
    assert_eq!(deliver(&proxy, &format!("/hooks/{key}"), "d-5").await, 403);
    assert_eq!(
        deliver(&proxy, &format!("/hooks/{CONFIG_KEY}"), "d-6").await,
        403
    );
    assert_eq!(
        api(&proxy, "POST", &format!("/keys/{id}/enable"), None)
            .await
            .0,
        200
    );
    assert_eq!(deliver(&proxy, &format!("/hooks/{key}"), "d-7").await, 200);

    // Stats since the restart: requests, accepted, refused by reason, last used, who
    // changed it. (The access log, which counts them, is written after the answer.)
    assert_eventually!(
        api(&proxy, "GET", &format!("/keys/{id}"), None).await.1["stats"]["total"] == 2
    );
    let (_, shown) = api(&proxy, "GET", &format!("/keys/{id}"), None).await;
    assert_eq!(shown["stats"]["total"], 2, "{shown}");
    assert_eq!(shown["stats"]["accepted"], 1);
    assert_eq!(shown["stats"]["rejected"]["key_disabled"], 1);
    assert!(shown["stats"]["last_used"].is_string());
    assert_eq!(shown["changed_by"], "ops");

    // Regenerate without grace: the old key is unknown at once, the new one works.
    let (status, renewed) = api(&proxy, "POST", &format!("/keys/{id}/regenerate"), None).await;
    assert_eq!(status, 200, "{renewed}");
    let new_key = renewed["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(renewed["id"], id.as_str(), "the id stays");
    assert_eq!(deliver(&proxy, &format!("/hooks/{key}"), "d-8").await, 404);
    assert_eq!(
        deliver(&proxy, &format!("/hooks/{new_key}"), "d-9").await,
        200
    );

    // With a grace period, both work until it ends.
    let (_, graced) = api(
        &proxy,
        "POST",
        &format!("/keys/{id}/regenerate"),
        Some(r#"{"grace":"1h"}"#),
    )
    .await;
    let newest = graced["key"].as_str().unwrap().to_owned();
    assert!(graced["previous_key_until"].is_string(), "{graced}");
    assert_eq!(
        deliver(&proxy, &format!("/hooks/{new_key}"), "d-10").await,
        200
    );
    assert_eq!(
        deliver(&proxy, &format!("/hooks/{newest}"), "d-11").await,
        200
    );

    // Delete: the URL is unknown, the id too.
    assert_eq!(
        api(&proxy, "DELETE", &format!("/keys/{id}"), None).await.0,
        200
    );
    assert_eq!(
        deliver(&proxy, &format!("/hooks/{newest}"), "d-12").await,
        404
    );
    assert_eq!(
        api(&proxy, "GET", &format!("/keys/{id}"), None).await.0,
        404
    );

    // The audit log has every change, by token id, never the token.
    let (_, audit) = api(&proxy, "GET", "/audit", None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "key.create",
            "key.disable",
            "key.disable",
            "key.enable",
            "key.regenerate",
            "key.regenerate",
            "key.delete"
        ]
    );
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["token_id"] == "ops"));
    assert!(!audit.to_string().contains(TOKEN));
    assert!(proxy
        .stdout_lines()
        .iter()
        .chain(proxy.stderr_lines().iter())
        .all(|l| !l.contains(TOKEN)));
    proxy.finish();
}

#[tokio::test]
async fn the_event_log_keeps_each_request_and_filters_it() {
    let app = upstream().record().start().await;
    let proxy = sidecar().config(keyed(&app)).start().await;
    assert_eq!(deliver(&proxy, "/webhooks/github", "good-1").await, 200);
    let forged = Request::post(proxy.url("/webhooks/github"))
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .header("x-github-delivery", "forged-1")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    assert_eq!(send(forged).await.status, 401);
    assert_eq!(
        deliver(&proxy, "/hooks/wh_unknownKey0123456789abcdefghijkl", "x").await,
        404
    );

    let events = |query: &'static str| {
        let proxy = &proxy;
        async move { api(proxy, "GET", &format!("/events{query}"), None).await.1["items"].clone() }
    };
    assert_eventually!(events("").await.as_array().unwrap().len() == 3);
    let rejected = events("?route=github&outcome=rejected").await;
    assert_eq!(rejected.as_array().unwrap().len(), 1, "{rejected}");
    assert_eq!(rejected[0]["reason"], "signature_mismatch");
    assert_eq!(rejected[0]["status"], 401);
    assert_eq!(rejected[0]["client_ip"], "127.0.0.1");
    let good = events("?delivery_id=good-1").await;
    assert_eq!(good[0]["outcome"], "forwarded");
    assert!(good[0]["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        events("?reason=route_not_found")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        events("?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z").await,
        json!([])
    );
    // Key routes' paths are logged with the key masked.
    assert!(!events("")
        .await
        .to_string()
        .contains("wh_unknownKey0123456789abcdefghijkl"));

    // One event, and the tail.
    let id = good[0]["id"].as_u64().unwrap();
    let (status, one) = api(&proxy, "GET", &format!("/events/{id}"), None).await;
    assert_eq!((status, &one["delivery_id"]), (200, &json!("good-1")));
    let newest = events("?limit=1").await[0]["id"].as_u64().unwrap();
    assert_eq!(
        api(&proxy, "GET", &format!("/events?after={newest}"), None)
            .await
            .1["items"],
        json!([])
    );

    // Routes: redacted summary and numbers.
    let (_, route) = api(&proxy, "GET", "/routes/github", None).await;
    assert_eq!(route["scheme"], "github");
    assert_eq!(route["secrets"][0]["id"], "primary");
    assert_eq!(route["secrets"][0]["source"], "inline");
    assert!(!route.to_string().contains(SECRET), "no secret value");
    let counts = route["stats"]["requests"].as_array().unwrap();
    assert!(
        counts.contains(&json!({"outcome": "forwarded", "reason": null, "requests": 1})),
        "{route}"
    );
    assert!(counts
        .contains(&json!({"outcome": "rejected", "reason": "signature_mismatch", "requests": 1})));
    assert_eq!(route["stats"]["latency"]["last_5m"]["requests"], 2);
    assert!(
        route["stats"]["latency"]["last_60m"]["p95_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(
        route["stats"]["recent_failures"][0]["reason"],
        "signature_mismatch"
    );
    let (_, routes) = api(&proxy, "GET", "/routes", None).await;
    let ids: Vec<&str> = routes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["hooks", "github"]);

    // Secrets: status, then a refresh (audited).
    let (_, secrets) = api(&proxy, "GET", "/routes/github/secrets", None).await;
    assert_eq!(secrets["source_state"], "up", "{secrets}");
    assert_eq!(secrets["last_matched_secret"], "primary");
    assert_eq!(secrets["secrets"][0]["matches"], 1);
    assert!(!secrets.to_string().contains(SECRET));
    assert_eq!(
        api(&proxy, "POST", "/routes/github/secrets/refresh", None)
            .await
            .0,
        200
    );
    let (_, audit) = api(&proxy, "GET", "/audit?limit=1", None).await;
    assert_eq!(audit["items"][0]["action"], "secrets.refresh");
    proxy.finish();
}

#[tokio::test]
async fn the_event_log_keeps_within_its_count_limit_across_a_restart() {
    let app = upstream().record().start().await;
    let toml = keyed(&app).replace(
        "[admin]\n",
        "[admin]\nevents = { max_events = 3, max_age = \"1h\" }\n",
    );
    let mut proxy = sidecar().config(toml).start().await;
    for i in 0..5 {
        assert_eq!(
            deliver(&proxy, "/webhooks/github", &format!("n-{i}")).await,
            200
        );
    }
    let ids = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["delivery_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eventually!(ids(api(&proxy, "GET", "/events", None).await.1) == ["n-4", "n-3", "n-2"]);
    // The writer batches in the background: give the last event time to reach the disk.
    assert_eventually!(std::fs::read_dir(proxy.dir().join("hookguard-admin")).is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    proxy.kill9();
    proxy.restart().await;
    assert_eq!(
        ids(api(&proxy, "GET", "/events", None).await.1),
        ["n-4", "n-3", "n-2"]
    );
    proxy.finish();
}

/// A path of the OpenAPI document with its parameters filled in.
fn concrete(path: &str, key_id: &str) -> String {
    path.replace(
        "{id}",
        if path.starts_with("/keys") {
            key_id
        } else if path.starts_with("/routes") {
            "github"
        } else if path.starts_with("/events") {
            "1"
        } else if path.starts_with("/dlq") {
            "0190b5a8-7c4e-7000-8000-000000000000"
        } else {
            "unknown"
        },
    )
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document_and_answers_as_documented() {
    let app = upstream().record().start().await;
    let proxy = sidecar().config(keyed(&app)).start().await;
    assert_eq!(deliver(&proxy, "/webhooks/github", "first").await, 200);
    let (status, doc) = api(&proxy, "GET", "/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["servers"][0]["url"], "/api/v1");

    // The routes the API serves, written out here (not read from the code under test).
    let expected: BTreeSet<(&str, &str)> = BTreeSet::from([
        ("get", "/openapi.json"),
        ("get", "/keys"),
        ("post", "/keys"),
        ("get", "/keys/{id}"),
        ("delete", "/keys/{id}"),
        ("post", "/keys/{id}/enable"),
        ("post", "/keys/{id}/disable"),
        ("post", "/keys/{id}/regenerate"),
        ("post", "/keys/{id}/rate_limit"),
        ("get", "/routes"),
        ("get", "/routes/{id}"),
        ("get", "/routes/{id}/secrets"),
        ("post", "/routes/{id}/test"),
        ("post", "/routes/{id}/secrets/refresh"),
        ("get", "/events"),
        ("get", "/events/{id}"),
        ("get", "/alerts"),
        ("get", "/audit"),
        ("get", "/queue/stats"),
        ("get", "/dlq"),
        ("post", "/dlq/retry"),
        ("post", "/dlq/purge"),
        ("get", "/dlq/{id}"),
        ("delete", "/dlq/{id}"),
        ("post", "/dlq/{id}/retry"),
        ("get", "/subscriptions"),
        ("post", "/subscriptions"),
        ("get", "/subscriptions/{id}"),
        ("delete", "/subscriptions/{id}"),
        ("post", "/subscriptions/{id}/disable"),
        ("post", "/subscriptions/{id}/enable"),
    ]);
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "delete", "put", "patch"].contains(&method.as_str()) {
                continue;
            }
            documented.push((method.clone(), path.clone(), op["responses"].clone()));
        }
    }
    let listed: BTreeSet<(&str, &str)> = documented
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(listed, expected);

    // A key to act on; the regenerate and delete calls run last.
    let (_, made) = api(&proxy, "POST", "/keys", Some(r#"{"route":"hooks"}"#)).await;
    let key_id = made["id"].as_str().unwrap().to_owned();
    let mut calls = documented;
    calls.sort_by_key(|(m, _, _)| *m == "delete");
    for (method, path, responses) in calls {
        let url = concrete(&path, &key_id);
        let body = match (method.as_str(), path.as_str()) {
            ("post", "/keys") => Some(r#"{"route":"hooks"}"#),
            ("post", "/subscriptions") => Some("{}"),
            _ => None,
        };
        let upper = method.to_uppercase();
        let (status, answer) = api(&proxy, &upper, &url, body).await;
        assert!(
            responses.get(status.to_string()).is_some(),
            "{upper} {url} answered {status} ({answer}), documented: {:?}",
            responses.as_object().unwrap().keys().collect::<Vec<_>>()
        );
        if status >= 400 {
            assert!(
                answer["error"].is_string() && answer["message"].is_string(),
                "{upper} {url}: {answer}"
            );
        }
        // Every route refuses a missing or a wrong token, as documented.
        assert!(
            responses.get("401").is_some(),
            "{upper} {path}: 401 documented"
        );
        assert_eq!(
            call(&proxy, &upper, &url, None, body).await.0,
            401,
            "{upper} {url}"
        );
        assert_eq!(
            call(&proxy, &upper, &url, Some("wrong"), body).await.0,
            401,
            "{upper} {url}"
        );
    }
}

#[tokio::test]
async fn bad_requests_say_what_is_wrong_and_unknown_ids_are_404() {
    let app = upstream().record().start().await;
    let proxy = sidecar().config(keyed(&app)).start().await;
    for (method, path, body, status, says) in [
        (
            "POST",
            "/keys",
            Some("not json"),
            400,
            "expected {\"route\"",
        ),
        (
            "POST",
            "/keys",
            Some(r#"{"route":"github"}"#),
            400,
            "not a key route",
        ),
        (
            "POST",
            "/keys",
            Some(r#"{"route":"hooks","colour":1}"#),
            400,
            "unknown field `colour`",
        ),
        ("GET", "/keys?colour=red", None, 400, "route"),
        ("GET", "/keys/k_nope", None, 404, "no key k_nope"),
        ("POST", "/keys/k_nope/disable", None, 404, "no key"),
        (
            "POST",
            "/keys/k_nope/regenerate",
            Some(r#"{"grace":"soon"}"#),
            400,
            "grace",
        ),
        ("GET", "/routes/nope", None, 404, "no route nope"),
        ("GET", "/routes/nope/secrets", None, 404, "no route"),
        ("GET", "/events?outcome=maybe", None, 400, "`outcome`"),
        ("GET", "/events?since=yesterday", None, 400, "RFC 3339"),
        ("GET", "/events?limit=0", None, 400, "1 to 10000"),
        ("GET", "/events/abc", None, 400, "expected a number"),
        ("GET", "/events/999999", None, 404, "no event"),
        ("GET", "/audit?limit=x", None, 400, "limit"),
        ("GET", "/nothing", None, 404, "no such API route"),
    ] {
        let (got, answer) = api(&proxy, method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(says),
            "{method} {path}: {message:?} should say {says:?}"
        );
    }
    // CORS stays closed: no allow-origin header, even when asked.
    let preflight = send(
        Request::builder()
            .method("OPTIONS")
            .uri(proxy.admin_url("/api/v1/keys"))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .body(Bytes::new())
            .unwrap(),
    )
    .await;
    assert!(preflight.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn each_key_has_its_own_rate_limit_from_the_file_or_the_api() {
    let app = upstream().record().start().await;
    let toml = keyed(&app).replace(
        &format!("{{ key = \"{CONFIG_KEY}\" }}"),
        &format!("{{ key = \"{CONFIG_KEY}\", rate_limit = {{ requests = 2, per = \"1h\" }} }}"),
    );
    let proxy = sidecar().config(toml).start().await;
    let (_, other) = api(&proxy, "POST", "/keys", Some(r#"{"route":"hooks"}"#)).await;
    let other = format!("/hooks/{}", other["key"].as_str().unwrap());
    let config_path = format!("/hooks/{CONFIG_KEY}");

    // The file's limit: 2 an hour for this key, while the route's other key is not held back.
    assert_eq!(deliver(&proxy, &config_path, "c-1").await, 200);
    assert_eq!(deliver(&proxy, &config_path, "c-2").await, 200);
    let third =
        send(Signer::new("github", SECRET).post(&proxy.url(&config_path), b"{}", "c-3")).await;
    assert_eq!(third.status, 429);
    assert!(third.header("retry-after").is_some());
    for i in 0..3 {
        assert_eq!(deliver(&proxy, &other, &format!("o-{i}")).await, 200);
    }

    // Through the API: a limit on the other key; a bad one is refused with what is wrong.
    let (_, list) = api(&proxy, "GET", "/keys?route=hooks", None).await;
    let other_id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["origin"] == "api")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, bad) = api(
        &proxy,
        "POST",
        &format!("/keys/{other_id}/rate_limit"),
        Some(r#"{"requests":0,"per":"1s"}"#),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    let (status, set) = api(
        &proxy,
        "POST",
        &format!("/keys/{other_id}/rate_limit"),
        Some(r#"{"requests":1,"per":"1h"}"#),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["rate_limit"]["requests"], 1);
    assert_eq!(deliver(&proxy, &other, "o-3").await, 200);
    assert_eq!(deliver(&proxy, &other, "o-4").await, 429);
    // Cleared: the key is free again.
    assert_eq!(
        api(
            &proxy,
            "POST",
            &format!("/keys/{other_id}/rate_limit"),
            Some("null")
        )
        .await
        .0,
        200
    );
    assert_eq!(deliver(&proxy, &other, "o-5").await, 200);
    let (_, events) = api(&proxy, "GET", "/events?reason=rate_limited", None).await;
    assert_eq!(events["items"].as_array().unwrap().len(), 2, "{events}");
}

#[tokio::test]
async fn a_test_delivery_is_signed_sent_through_the_sidecar_and_reported_stage_by_stage() {
    let app = upstream().record().start().await;
    let mut proxy = sidecar().config(keyed(&app)).start().await;
    let (status, report) = api(&proxy, "POST", "/routes/github/test", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["response"]["status"], 200);
    let stages: Vec<(&str, &str)> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap(),
                s["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(stages[0], ("route", "passed"));
    assert_eq!(stages[4], ("signature", "passed"));
    assert_eq!(stages[7], ("delivery", "the app answered 200"));
    // The app received it, verified by the sidecar with the route's secret.
    let received = app.only_request();
    assert_eq!(received.header("x-hookguard-route"), Some("github"));
    assert_eq!(received.header("x-hookguard-secret-id"), Some("primary"));
    let masked = report["request"]["headers"].to_string();
    assert!(
        masked.contains("<masked>") && !masked.contains("sha256="),
        "{masked}"
    );

    // A key route: sent with its enabled key, the key kept out of the answer; with every key
    // disabled, there is nothing to send with.
    let (status, report) = api(
        &proxy,
        "POST",
        "/routes/hooks/test",
        Some(r#"{"body":"{\"a\":1}"}"#),
    )
    .await;
    assert_eq!(
        (status, &report["response"]["status"]),
        (200, &json!(200)),
        "{report}"
    );
    assert!(!report.to_string().contains(CONFIG_KEY));
    assert_eq!(app.requests().last().unwrap().body, b"{\"a\":1}".to_vec());
    let (_, keys) = api(&proxy, "GET", "/keys?route=hooks", None).await;
    let key_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
    api(&proxy, "POST", &format!("/keys/{key_id}/disable"), None).await;
    assert_eq!(api(&proxy, "POST", "/routes/hooks/test", None).await.0, 409);

    // A refusal is reported at its stage, the later ones not reached.
    let locked = keyed(&app)
        + &github_route(
            "locked",
            "/webhooks/locked",
            "ip = { deny = [\"127.0.0.0/8\"] }",
        );
    proxy.rewrite_config(&locked);
    assert_eventually!(api(&proxy, "GET", "/routes/locked", None).await.0 == 200);
    let (status, report) = api(&proxy, "POST", "/routes/locked/test", None).await;
    assert_eq!(
        (status, &report["response"]["status"]),
        (200, &json!(403)),
        "{report}"
    );
    assert_eq!(
        report["stages"][1],
        json!({"stage": "ip_filter", "decision": "refused: ip_denied"})
    );
    assert_eq!(
        report["stages"][4],
        json!({"stage": "signature", "decision": "not reached"})
    );
    let (status, report) = api(
        &proxy,
        "POST",
        "/routes/github/test",
        Some(r#"{"colour":1}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{report}"
    );
    assert_eq!(api(&proxy, "POST", "/routes/nope/test", None).await.0, 404);
}

#[tokio::test]
async fn captured_requests_keep_masked_headers_and_bodies_sealed_at_rest() {
    let app = upstream().record().start().await;
    let toml = keyed(&app).replace(
        "[admin]\n",
        "[queue]\nencryption_keys = [{ id = \"k1\", value = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\" }]\n\n[admin]\nevents = { capture = [\"github\"] }\n",
    );
    let mut proxy = sidecar().config(toml).start().await;
    const MARKER: &str = "capture-marker-7f3e91";
    let body = format!("{{\"note\":\"{MARKER}\"}}");
    let signed = Signer::new("github", SECRET).post(
        &proxy.url("/webhooks/github"),
        body.as_bytes(),
        "cap-1",
    );
    assert_eq!(send(signed).await.status, 200);
    assert_eq!(
        deliver(&proxy, &format!("/hooks/{CONFIG_KEY}"), "not-captured").await,
        200
    );

    assert_eventually!(
        api(&proxy, "GET", "/events", None).await.1["items"]
            .as_array()
            .unwrap()
            .len()
            == 2
    );
    let (_, list2) = api(&proxy, "GET", "/events", None).await;
    let items = list2["items"].as_array().unwrap();
    let captured: Vec<(&str, bool)> = items
        .iter()
        .map(|e| {
            (
                e["route"].as_str().unwrap(),
                e["captured"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(captured, [("hooks", false), ("github", true)]);
    assert!(
        !list2.to_string().contains(MARKER),
        "lists carry no capture"
    );
    let id = items[1]["id"].as_u64().unwrap();
    let path = format!("/events/{id}");
    let event = api(&proxy, "GET", &path, None).await.1;
    assert_eq!(event["capture"]["body"], body.as_str(), "{event}");
    let headers = event["capture"]["headers"].as_array().unwrap();
    let signature = headers
        .iter()
        .find(|h| h[0] == "x-hub-signature-256")
        .unwrap();
    assert_eq!(signature[1], "<masked>");

    // On disk the capture is sealed with the queue's key: the body's text is nowhere.
    proxy.kill9();
    proxy.restart().await;
    let event = api(&proxy, "GET", &path, None).await.1;
    assert_eq!(
        event["capture"]["body"],
        body.as_str(),
        "kept across a restart"
    );
    let mut files = vec![proxy.dir().join("hookguard-admin")];
    let mut seen = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            seen += bytes.len();
            assert!(
                !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
                "{} holds the body",
                path.display()
            );
        }
    }
    assert!(seen > 0);
}

#[tokio::test]
async fn the_body_of_a_request_refused_for_its_signature_is_captured_too() {
    let app = upstream().record().start().await;
    let toml = keyed(&app).replace(
        "[admin]\n",
        "[admin]\nevents = { capture = [\"github\"] }\n",
    );
    let proxy = sidecar().config(toml).start().await;
    let body = "{\"forged\":\"body-of-a-refusal-5d1c\"}";
    // Signed with another secret: refused at the body stage, after the body was read.
    let forged = Signer::new("github", "not-the-route-secret").post(
        &proxy.url("/webhooks/github"),
        body.as_bytes(),
        "cap-forged-1",
    );
    assert_eq!(send(forged).await.status, 401);
    assert_eventually!(
        api(&proxy, "GET", "/events", None).await.1["items"]
            .as_array()
            .unwrap()
            .len()
            == 1
    );
    let (_, list) = api(&proxy, "GET", "/events", None).await;
    let id = list["items"][0]["id"].as_u64().unwrap();
    let event = api(&proxy, "GET", &format!("/events/{id}"), None).await.1;
    assert_eq!(event["reason"], "signature_mismatch", "{event}");
    assert_eq!(event["capture"]["body"], body, "{event}");
    assert!(app.requests().is_empty());
}
