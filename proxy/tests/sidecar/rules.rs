//! Payload rules through the real sidecar: event filter, JSON Schema, mapping, headers.

use hookguard_tests::{assert_eventually, body_of, send, sha256_hex, upstream, Signer};
use http::HeaderValue;

use super::{config, github_route, sample, sidecar, SECRET};

/// A signed GitHub delivery with event header `event` (and whatever else `headers` adds).
fn delivery(url: &str, event: &str, body: &[u8], id: &str) -> http::Request<bytes::Bytes> {
    let mut request = Signer::new("github", SECRET).post(url, body, id);
    request
        .headers_mut()
        .insert("x-github-event", HeaderValue::from_str(event).unwrap());
    request
}

#[tokio::test]
async fn filtered_events_are_acknowledged_counted_by_pattern_and_never_forwarded() {
    let app = upstream().record().start().await;
    let rules = r#"
[routes.rules]
events = ["push", "pull_request.*"]
ignore = ["pull_request.labeled"]
"#;
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", rules),
        ))
        .start()
        .await;
    let url = proxy.url("/webhooks/github");
    // Pre-registered from the config, before any delivery.
    let metrics = proxy.metrics().await;
    for pattern in ["other", "pull_request.labeled"] {
        let labels = format!("pattern=\"{pattern}\",route=\"github\"");
        assert_eq!(
            sample(&metrics, "hookguard_events_filtered_total", &labels),
            Some(0.0),
            "{metrics}"
        );
    }

    let push = send(delivery(
        &url,
        "push",
        br#"{"ref":"refs/heads/main"}"#,
        "d-push",
    ))
    .await;
    assert_eq!(push.status, 200, "{}", push.text());
    let opened = br#"{"action":"opened"}"#;
    assert_eq!(
        send(delivery(&url, "pull_request", opened, "d-opened"))
            .await
            .status,
        200
    );
    let labeled = br#"{"action":"labeled"}"#;
    let answer = send(delivery(&url, "pull_request", labeled, "d-labeled")).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.text().contains("\"error\":\"event_filtered\""),
        "{}",
        answer.text()
    );
    assert!(answer.text().contains("filtered"), "{}", answer.text());
    let issues = send(delivery(
        &url,
        "issues",
        br#"{"action":"opened"}"#,
        "d-issues",
    ))
    .await;
    assert_eq!(issues.status, 200);

    // The filtered delivery's id was committed: the provider's resend is a duplicate.
    let again = send(delivery(&url, "pull_request", labeled, "d-labeled")).await;
    assert_eq!(again.status, 200);
    assert!(
        again.text().contains("\"error\":\"duplicate\""),
        "{}",
        again.text()
    );

    let forwarded: Vec<String> = app
        .requests()
        .iter()
        .map(|r| r.header("x-hookguard-delivery-id").unwrap_or("").to_owned())
        .collect();
    assert_eq!(forwarded, ["d-push", "d-opened"]);
    assert_eventually!(
        {
            let metrics = proxy.metrics().await;
            sample(
                &metrics,
                "hookguard_events_filtered_total",
                "pattern=\"pull_request.labeled\",route=\"github\"",
            ) == Some(1.0)
                && sample(
                    &metrics,
                    "hookguard_events_filtered_total",
                    "pattern=\"other\",route=\"github\"",
                ) == Some(1.0)
        },
        "filtered deliveries not counted by pattern"
    );
    // Logged with the pattern, never the raw event type (the test reads the sidecar's
    // stdout on its own thread: the line may arrive a moment after the metric).
    assert_eventually!(
        proxy
            .stdout_lines()
            .iter()
            .any(|l| l.contains("\"reason\":\"event_filtered\"")
                && l.contains("\"event_pattern\":\"other\"")),
        "{:#?}",
        proxy.stdout_lines()
    );
    let lines = proxy.stdout_lines();
    assert!(!lines.iter().any(|l| l.contains("issues")), "{lines:#?}");
}

const ORDER_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id"],
  "properties": { "id": { "type": "string" }, "amount": { "type": "integer" } }
}"#;

#[tokio::test]
async fn schema_mismatch_is_422_non_json_415_and_shadow_only_counts() {
    let app = upstream().record().start().await;
    let rules = "[routes.rules]\npayload_schema = \"schemas/order.json\"\n";
    let routes = format!(
        "{}{}",
        github_route("orders", "/webhooks/orders", rules),
        github_route(
            "trial",
            "/webhooks/trial",
            &format!("mode = \"shadow\"\n{rules}")
        )
    );
    let proxy = sidecar()
        .file("schemas/order.json", ORDER_SCHEMA)
        .config(config(&app, "", &routes))
        .start()
        .await;
    let url = proxy.url("/webhooks/orders");
    let bad = send(delivery(
        &url,
        "order",
        br#"{"id":"o1","amount":"3"}"#,
        "d-1",
    ))
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text());
    let body: serde_json::Value = serde_json::from_str(&bad.text()).unwrap();
    assert_eq!(body["error"], "schema_invalid");
    assert_eq!(body["details"][0]["pointer"], "/amount");
    let form = send(delivery(&url, "order", b"payload=%7B%7D", "d-2")).await;
    assert_eq!(form.status, 415, "{}", form.text());
    let good = br#"{"id":"o1","amount":3}"#;
    assert_eq!(send(delivery(&url, "order", good, "d-3")).await.status, 200);
    // Shadow mode: forwarded as sent, counted.
    let trial = proxy.url("/webhooks/trial");
    let shadowed = br#"{"amount":-1}"#;
    assert_eq!(
        send(delivery(&trial, "order", shadowed, "d-4"))
            .await
            .status,
        200
    );

    let got = app.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(&got[0].body[..], good);
    assert_eq!(&got[1].body[..], shadowed);
    assert_eventually!(
        {
            let m = proxy.metrics().await;
            sample(
                &m,
                "hookguard_requests_total",
                "outcome=\"rejected\",reason=\"schema_invalid\",route=\"orders\"",
            ) == Some(1.0)
                && sample(
                    &m,
                    "hookguard_requests_total",
                    "outcome=\"rejected\",reason=\"unsupported_media_type\",route=\"orders\"",
                ) == Some(1.0)
                && sample(
                    &m,
                    "hookguard_requests_total",
                    "outcome=\"shadow_rejected\",reason=\"schema_invalid\",route=\"trial\"",
                ) == Some(1.0)
        },
        "payload rejections not counted"
    );
}

#[tokio::test]
async fn a_mapped_body_reaches_the_app_whole_on_both_forwarding_paths() {
    let app = upstream().record().start().await;
    let rules = r#"
[routes.rules]
transform = { ref = "$.ref", size = "$.padding.length", route = "{{ route }}", delivery = "{{ delivery_id }}", ip = "{{ client_ip }}" }
add_headers = { "X-Team" = "platform" }
remove_headers = ["X-Remove-Me"]
"#;
    let routes = github_route(
        "github",
        "/webhooks/github",
        &format!("body_limit = \"1MiB\"\n{rules}"),
    );
    let proxy = sidecar().config(config(&app, "", &routes)).start().await;
    let url = proxy.url("/webhooks/github");
    // Below and above 64 KiB (the old adapter had two forwarding paths split there).
    for (i, padding) in [10usize, 100 * 1024].into_iter().enumerate() {
        let payload = serde_json::json!({
            "ref": "refs/heads/main",
            "padding": { "length": padding, "text": String::from_utf8(body_of(padding).iter().map(|b| b'a' + b % 26).collect()).unwrap() }
        })
        .to_string();
        let id = format!("d-map-{i}");
        let mut request = delivery(&url, "push", payload.as_bytes(), &id);
        request
            .headers_mut()
            .insert("x-remove-me", HeaderValue::from_static("1"));
        request.headers_mut().insert(
            "x-hookguard-original-sha256",
            HeaderValue::from_static("forged"),
        );
        let answer = send(request).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        let got = app.requests().pop().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({ "ref": "refs/heads/main", "size": padding, "route": "github", "delivery": id, "ip": "127.0.0.1" })
        );
        let length = got.body.len().to_string();
        assert_eq!(got.header("content-length"), Some(length.as_str()));
        assert_eq!(got.header("content-type"), Some("application/json"));
        assert_eq!(
            got.header("x-hookguard-original-sha256"),
            Some(sha256_hex(payload.as_bytes()).as_str())
        );
        assert_eq!(got.header("x-team"), Some("platform"));
        assert_eq!(got.header("x-remove-me"), None);
    }
}

#[tokio::test]
async fn rules_follow_a_config_reload() {
    let app = upstream().record().start().await;
    let route = |events: &str| {
        config(
            &app,
            "",
            &github_route(
                "github",
                "/webhooks/github",
                &format!("[routes.rules]\nevents = [{events}]\n"),
            ),
        )
    };
    let mut proxy = sidecar().config(route("\"push\"")).start().await;
    let url = proxy.url("/webhooks/github");
    let answer = send(delivery(&url, "issues", b"{}", "d-r1")).await;
    assert!(
        answer.text().contains("event_filtered"),
        "{}",
        answer.text()
    );
    proxy.rewrite_config(&route("\"push\", \"issues\""));
    let mut n = 0;
    assert_eventually!(
        {
            n += 1;
            let answer = send(delivery(&url, "issues", b"{}", &format!("d-r2-{n}"))).await;
            !answer.text().contains("event_filtered")
        },
        "the reloaded events list was not applied"
    );
    assert_eq!(app.requests().len(), 1);
}
