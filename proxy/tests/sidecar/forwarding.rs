//! What reaches the app: bodies of every size intact, shadow mode, the replay guard.

use hookguard_tests::{assert_eventually, body_of, send, sha256_hex, upstream, RawConn, Signer};

use super::{config, github_route, raw_head, sample, sidecar, SECRET, WITHIN};

#[tokio::test]
async fn bodies_of_every_size_reach_the_app_intact_whatever_the_framing() {
    let app = upstream().record().start().await;
    // The default body limit is 1 MiB: the largest body is exactly at it.
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let signer = Signer::new("github", SECRET);
    // Around 64 KiB, where the old adapter switched forwarding paths, and the relay buffer.
    let sizes = [0, 64 * 1024, 64 * 1024 + 1, 1024 * 1024];
    let mut expected = Vec::new();
    for size in sizes {
        let body = body_of(size);

        // Content-Length framing.
        let id = format!("d-cl-{size}");
        let answer = send(signer.post(&proxy.url("/webhooks/github"), &body, &id)).await;
        assert_eq!(answer.status, 200, "{size} B: {}", answer.text());
        assert_eq!(
            answer.text(),
            format!("upstream got {size} bytes sha256={}", sha256_hex(&body)),
            "{size} B: the app's answer comes back"
        );
        expected.push((size, id));

        // Chunked framing, 16 KiB chunks: the app still gets Content-Length framing.
        let id = format!("d-chunked-{size}");
        let head = raw_head(
            "/webhooks/github",
            &format!(
                "{}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                signer.header_lines(&body, &id)
            ),
        );
        let mut bytes = head.into_bytes();
        for chunk in body.chunks(16 * 1024) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        let mut conn = RawConn::connect(proxy.addr()).await;
        conn.write(&bytes).await;
        let answer = conn.read_answer(WITHIN).await;
        assert_eq!(answer.status, 200, "{size} B chunked: {}", answer.text());
        expected.push((size, id));
    }

    let got = app.requests();
    assert_eq!(got.len(), expected.len());
    for (request, (size, id)) in got.iter().zip(&expected) {
        assert_eq!(request.header("x-hookguard-delivery-id"), Some(id.as_str()));
        assert_eq!(
            sha256_hex(&request.body),
            sha256_hex(&body_of(*size)),
            "{id}: body altered"
        );
        let length = size.to_string();
        assert_eq!(
            request.header("content-length"),
            Some(length.as_str()),
            "{id}"
        );
        assert_eq!(request.header("transfer-encoding"), None, "{id}");
    }
}

#[tokio::test]
async fn shadow_mode_forwards_what_fails_and_counts_it() {
    let app = upstream().record().start().await;
    let route = github_route("shadowed", "/webhooks/github", r#"mode = "shadow""#);
    let proxy = sidecar().config(config(&app, "", &route)).start().await;

    let forged = Signer::new("github", "not-the-secret").post(
        &proxy.url("/webhooks/github"),
        b"{}",
        "d-forged",
    );
    let answer = send(forged).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let got = app.only_request();
    assert_eq!(got.header("x-hookguard-route"), Some("shadowed"));
    // Nothing was verified, so no secret matched.
    assert_eq!(got.header("x-hookguard-secret-id"), None);

    let valid = Signer::new("github", SECRET).post(&proxy.url("/webhooks/github"), b"{}", "d-ok");
    assert_eq!(send(valid).await.status, 200);
    assert_eq!(app.requests().len(), 2);

    // Counted as what it is: the metrics are written once the request is logged.
    let shadow = r#"outcome="shadow_rejected",reason="signature_mismatch",route="shadowed""#;
    let forwarded = r#"outcome="forwarded",reason="",route="shadowed""#;
    let mut metrics;
    assert_eventually!(
        {
            metrics = proxy.metrics().await;
            sample(&metrics, "hookguard_requests_total", shadow) == Some(1.0)
                && sample(&metrics, "hookguard_requests_total", forwarded) == Some(1.0)
        },
        "shadow outcome not counted:\n{metrics}"
    );
    assert_eventually!(
        proxy
            .stdout_lines()
            .iter()
            .any(|l| l.contains(r#""outcome":"shadow_rejected""#)),
        "not logged: {:?}",
        proxy.stdout_lines()
    );
}

#[tokio::test]
async fn duplicate_is_acknowledged_without_forwarding_but_a_failed_delivery_passes_again() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let signer = Signer::new("github", SECRET);
    let post = |id: &str| signer.post(&proxy.url("/webhooks/github"), br#"{"n":1}"#, id);

    assert_eq!(send(post("d-accepted")).await.status, 200);
    assert_eq!(app.requests().len(), 1);
    // The provider retries a delivery the app already accepted: acknowledged, not forwarded.
    let answer = send(post("d-accepted")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("duplicate"), "{}", answer.text());
    assert_eq!(app.requests().len(), 1);

    // The app fails a delivery: its answer is relayed and the delivery is not remembered…
    app.set_status(500);
    assert_eq!(send(post("d-failed")).await.status, 500);
    assert_eq!(app.requests().len(), 2);
    // …so the provider's retry reaches the app, and is remembered once accepted.
    app.set_status(200);
    assert_eq!(send(post("d-failed")).await.status, 200);
    assert_eq!(app.requests().len(), 3);
    let answer = send(post("d-failed")).await;
    assert!(answer.text().contains("duplicate"), "{}", answer.text());
    assert_eq!(app.requests().len(), 3);
}

#[tokio::test]
async fn one_connection_carries_several_requests_of_both_forwarding_paths() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let signer = Signer::new("github", SECRET);
    let mut conn = RawConn::connect(proxy.addr()).await;
    // Small (pingora replays it), large (the sidecar forwards it), small again.
    for (n, size) in [100, 200 * 1024, 100, 300 * 1024].into_iter().enumerate() {
        let body = body_of(size);
        let id = format!("d-keepalive-{n}");
        let mut bytes = raw_head(
            "/webhooks/github",
            &format!(
                "{}Content-Length: {size}\r\n\r\n",
                signer.header_lines(&body, &id)
            ),
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        conn.write(&bytes).await;
        let answer = conn.read_answer(WITHIN).await;
        assert_eq!(answer.status, 200, "request {n}: {}", answer.text());
        assert_eq!(
            answer.text(),
            format!("upstream got {size} bytes sha256={}", sha256_hex(&body))
        );
    }
    assert_eq!(app.requests().len(), 4);
}

#[tokio::test]
async fn shadow_mode_forwards_a_body_over_the_limit_and_counts_it() {
    let app = upstream().record().start().await;
    let route = github_route(
        "shadowed",
        "/webhooks/github",
        "mode = \"shadow\"\nbody_limit = \"1KiB\"",
    );
    let proxy = sidecar().config(config(&app, "", &route)).start().await;
    let signer = Signer::new("github", SECRET);
    let body = body_of(4096);

    // Over the limit by Content-Length, then by reading a chunked body.
    let answer = send(signer.post(&proxy.url("/webhooks/github"), &body, "d-cl")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let mut conn = RawConn::connect(proxy.addr()).await;
    let mut bytes = raw_head(
        "/webhooks/github",
        &format!(
            "{}Transfer-Encoding: chunked\r\n\r\n",
            signer.header_lines(&body, "d-chunked")
        ),
    )
    .into_bytes();
    bytes.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(b"\r\n0\r\n\r\n");
    conn.write(&bytes).await;
    let answer = conn.read_answer(WITHIN).await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    let got = app.requests();
    assert_eq!(got.len(), 2);
    for request in &got {
        assert_eq!(sha256_hex(&request.body), sha256_hex(&body));
    }
    let labels = r#"outcome="shadow_rejected",reason="body_too_large",route="shadowed""#;
    assert_eventually!(
        sample(&proxy.metrics().await, "hookguard_requests_total", labels) == Some(2.0),
        "over-limit bodies not counted"
    );
}

#[tokio::test]
async fn an_unreachable_app_is_502_and_the_delivery_can_be_retried() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = upstream().record().start().await;
    let text = config(&app, "", &github_route("github", "/webhooks/github", ""));
    let down = text.replace(&app.addr().to_string(), &closed.to_string());
    let mut proxy = sidecar().config(down).start().await;
    let signer = Signer::new("github", SECRET);
    let url = proxy.url("/webhooks/github");
    // A small body (pingora forwards it) and a large one (the sidecar does).
    let small = body_of(10);
    let large = body_of(100 * 1024);
    for (body, id) in [(&small, "d-small"), (&large, "d-large")] {
        let answer = send(signer.post(&url, body, id)).await;
        assert_eq!(answer.status, 502, "{id}: {}", answer.text());
    }

    proxy.rewrite_config(&text);
    assert_eventually!(
        send(signer.post(&url, &small, "d-small")).await.status == 200,
        "the retry never passed"
    );
    let answer = send(signer.post(&url, &large, "d-large")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(app.requests().len(), 2);
}

#[tokio::test]
async fn an_app_slower_than_read_timeout_is_504_and_the_delivery_can_be_retried() {
    let app = upstream()
        .record()
        .delay(std::time::Duration::from_millis(1500))
        .start()
        .await;
    let text = config(&app, "", &github_route("github", "/webhooks/github", ""))
        .replace("read_timeout = \"10s\"", "read_timeout = \"300ms\"");
    let proxy = sidecar().config(text).start().await;
    let signer = Signer::new("github", SECRET);
    let url = proxy.url("/webhooks/github");
    // A small body (pingora forwards it) and a large one (the sidecar does).
    let small = body_of(10);
    let large = body_of(100 * 1024);
    for (body, id) in [(&small, "d-small"), (&large, "d-large")] {
        let answer = send(signer.post(&url, body, id)).await;
        assert_eq!(answer.status, 504, "{id}: {}", answer.text());
    }

    // The app got them but never answered in time: the provider's retries must reach it.
    app.set_delay(std::time::Duration::ZERO);
    for (body, id) in [(&small, "d-small"), (&large, "d-large")] {
        let answer = send(signer.post(&url, body, id)).await;
        assert_eq!(answer.status, 200, "{id}: {}", answer.text());
    }
    assert_eq!(app.requests().len(), 4);
}

#[tokio::test]
async fn a_prefix_route_rewrites_only_its_prefix_in_both_forwarding_paths_and_in_queue_mode() {
    let app = upstream().record().start().await;
    let route = |id: &str, prefix: &str, extra: &str| {
        format!(
            r#"
[[routes]]
id = "{id}"
match.path_prefix = "{prefix}"
scheme = "github"
secrets = [{{ id = "primary", value = "{SECRET}" }}]
rewrite = "/internal/{id}"
{extra}
"#
        )
    };
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &(route("billing", "/webhooks/billing", "")
                + &route("queued", "/webhooks/queued", "delivery = \"queue\"")),
        ))
        .start()
        .await;
    let signer = Signer::new("github", SECRET);
    // A small body and one beyond 64 KiB (two paths in the old adapter).
    for (n, size) in [(1, 10), (2, 70 * 1024)] {
        let body = body_of(size);
        let url = proxy.url("/webhooks/billing/orders/7?x=1");
        let answer = send(signer.post(&url, &body, &format!("b-{n}"))).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(
            app.requests().last().unwrap().path,
            "/internal/billing/orders/7?x=1"
        );
    }
    let answer = send(signer.post(&proxy.url("/webhooks/queued/a/b?y=2"), b"{}", "q-1")).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert_eventually!(
        app.requests()
            .iter()
            .any(|r| r.path == "/internal/queued/a/b?y=2"),
        "the queued delivery did not reach /internal/queued/a/b?y=2: {:?}",
        app.requests()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );
}
