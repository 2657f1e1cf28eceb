//! Attacks on the wire (issue 15): slow heads and connection floods, client-chosen
//! forwarding headers, dot segments, protocol upgrades, keys in log lines.

use std::time::Duration;

use hookguard_tests::{send, upstream, RawConn, Signer};

use super::{config, github_route, raw_head, sample, sidecar, SECRET, WITHIN};

#[tokio::test]
async fn slow_heads_are_cut_at_the_deadline_while_a_signed_request_still_passes() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(config(
            &app,
            "[connections]\nhead_timeout = \"1s\"",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    // 300 clients that send the start of a head and then nothing more.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut conn = RawConn::connect(proxy.addr()).await;
        conn.write(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n")
            .await;
        slow.push(conn);
    }
    // A normal signed request is served meanwhile.
    let answer =
        send(Signer::new("github", SECRET).post(&proxy.url("/webhooks/github"), b"{}", "d-slow-1"))
            .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    // Every slow connection is closed once its second is up (not after 60 s).
    for conn in &mut slow {
        conn.closes_within(Duration::from_secs(5)).await.unwrap();
    }
    let metrics = proxy.metrics().await;
    let timeouts = sample(&metrics, "hookguard_request_head_timeouts_total", "").unwrap();
    assert!(timeouts >= 300.0, "{timeouts}");
    // The signed request's client closes its connection as it finishes; the sidecar
    // sees the EOF a moment later, so the gauge is read until it settles (bounded).
    let mut open = None;
    for _ in 0..50 {
        open = sample(&proxy.metrics().await, "hookguard_connections_open", "");
        if open == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, Some(0.0), "every connection was released within 5 s");
}

#[tokio::test]
async fn connections_over_the_per_client_cap_are_closed_at_once() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(config(
            &app,
            "[connections]\nmax_per_client = 5",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(RawConn::connect(proxy.addr()).await);
    }
    // The sixth is closed without an answer...
    let mut sixth = RawConn::connect(proxy.addr()).await;
    sixth.closes_within(WITHIN).await.unwrap();
    let metrics = proxy.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "hookguard_connections_refused_total",
            r#"cap="max_per_client""#
        ),
        Some(1.0)
    );
    // ...and once one of the five goes, a new connection is served.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer =
        send(Signer::new("github", SECRET).post(&proxy.url("/webhooks/github"), b"{}", "d-cap-1"))
            .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[tokio::test]
async fn forwarded_headers_get_the_peer_appended_or_are_replaced() {
    for (mode, want_xff, want_forwarded) in [
        ("append", "6.6.6.6, 127.0.0.1", "for=6.6.6.6, for=127.0.0.1"),
        ("replace", "127.0.0.1", "for=127.0.0.1"),
    ] {
        let app = upstream().record().start().await;
        let cfg = config(&app, "", &github_route("github", "/webhooks/github", "")).replace(
            "[upstream]\n",
            &format!("[upstream]\nforwarded_for = \"{mode}\"\n"),
        );
        let proxy = sidecar().config(cfg).start().await;
        let mut request =
            Signer::new("github", SECRET).post(&proxy.url("/webhooks/github"), b"{}", "d-xff");
        request
            .headers_mut()
            .insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
        request
            .headers_mut()
            .insert("forwarded", "for=6.6.6.6".parse().unwrap());
        let answer = send(request).await;
        assert_eq!(answer.status, 200, "{mode}: {}", answer.text());
        let got = app.only_request();
        assert_eq!(got.header("x-forwarded-for"), Some(want_xff), "{mode}");
        assert_eq!(got.header("forwarded"), Some(want_forwarded), "{mode}");
        assert_eq!(got.header("x-hookguard-client-ip"), Some("127.0.0.1"));
    }
}

#[tokio::test]
async fn dot_segments_are_refused_before_routing_and_never_reach_the_app() {
    let app = upstream().record().start().await;
    let route = r#"
[[routes]]
id = "billing"
match.path_prefix = "/webhooks/billing/"
scheme = "github"
secrets = [{ id = "primary", value = "SECRET" }]
"#
    .replace("SECRET", SECRET);
    let proxy = sidecar().config(config(&app, "", &route)).start().await;
    for path in [
        "/webhooks/billing/../admin",
        "/webhooks/billing/%2e%2e/admin",
        "/webhooks/billing/.%2E/admin",
        "/webhooks/billing/./orders",
    ] {
        let mut conn = RawConn::connect(proxy.addr()).await;
        let signature = Signer::new("github", SECRET).header_lines(b"{}", "d-dots");
        let mut bytes =
            raw_head(path, &format!("{signature}content-length: 2\r\n\r\n")).into_bytes();
        bytes.extend_from_slice(b"{}");
        conn.write(&bytes).await;
        let answer = conn.read_answer(WITHIN).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.text());
        assert!(answer.text().contains("bad_path"), "{}", answer.text());
    }
    assert!(app.requests().is_empty());
    // A plain path on the same route still passes.
    let answer = send(Signer::new("github", SECRET).post(
        &proxy.url("/webhooks/billing/orders"),
        b"{}",
        "d-dots-ok",
    ))
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[tokio::test]
async fn a_signed_upgrade_request_is_refused_and_never_tunnelled() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    let signature = Signer::new("github", SECRET).header_lines(b"{}", "d-upgrade");
    let mut bytes = raw_head(
        "/webhooks/github",
        &format!(
            "{signature}Connection: Upgrade\r\nUpgrade: websocket\r\ncontent-length: 2\r\n\r\n"
        ),
    )
    .into_bytes();
    bytes.extend_from_slice(b"{}");
    // What a tunnel would carry to the app unchecked.
    bytes.extend_from_slice(b"GET /admin HTTP/1.1\r\nHost: app\r\n\r\n");
    conn.write(&bytes).await;
    let answer = conn.read_answer(WITHIN).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("upgrade_refused"),
        "{}",
        answer.text()
    );
    conn.closes_within(WITHIN).await.unwrap();
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn a_webhook_key_appears_in_no_log_line_even_when_the_app_is_down() {
    const KEY: &str = "wh_Q2m8ZkT4pL9xV7cN1bR6yH3sJ5dF0gWa";
    // An app that is not there: forwarding fails, the failure is logged.
    let app = upstream().record().start().await;
    let route = format!(
        r#"
[[routes]]
id = "partners"
match.key_prefix = "/hooks/"
match.keys = [{{ key = "{KEY}" }}]
scheme = "github"
secrets = [{{ id = "primary", value = "{SECRET}" }}]
"#
    );
    let cfg = config(&app, "", &route).replace(&app.addr().to_string(), "127.0.0.1:9");
    let proxy = sidecar().config(cfg).start().await;
    let answer = send(Signer::new("github", SECRET).post(
        &proxy.url(&format!("/hooks/{KEY}")),
        b"{}",
        "d-key-log",
    ))
    .await;
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert!(
        answer.text().contains("upstream_unreachable"),
        "{}",
        answer.text()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all: Vec<String> = proxy
        .stdout_lines()
        .into_iter()
        .chain(proxy.stderr_lines())
        .collect();
    assert!(
        all.iter().any(|l| l.contains("upstream_unreachable")),
        "the failure is logged: {all:?}"
    );
    let secret_part = &KEY[3..KEY.len() - 4];
    for line in &all {
        assert!(!line.contains(secret_part), "key in a log line: {line}");
    }
}
