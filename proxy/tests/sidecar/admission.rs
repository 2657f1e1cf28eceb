//! What is refused, with which status, and that nothing refused reaches the app.

use hookguard_tests::{body_of, send, sha256_hex, upstream, RawConn, Signer};

use super::{config, github_route, raw_head, sidecar, SECRET, WITHIN};

#[tokio::test]
async fn valid_request_reaches_the_app_byte_for_byte_with_hookguard_headers() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let body = body_of(3000);
    let mut request = Signer::new("github", SECRET).post(
        &proxy.url("/webhooks/github?attempt=1"),
        &body,
        "delivery-0001",
    );
    // A caller must not be able to set what hookguard tells the app.
    for (name, value) in [
        ("X-Hookguard-Route", "forged"),
        ("x-hookguard-secret-id", "forged"),
        ("x-hookguard-client-ip", "6.6.6.6"),
        ("X-HOOKGUARD-Injected", "1"),
    ] {
        request.headers_mut().append(name, value.parse().unwrap());
    }
    let before = time::OffsetDateTime::now_utc();
    let answer = send(request).await;
    let after = time::OffsetDateTime::now_utc();

    assert_eq!(answer.status, 200, "{}", answer.text());
    // The app's own answer comes back.
    assert_eq!(
        answer.text(),
        format!("upstream got 3000 bytes sha256={}", sha256_hex(&body))
    );
    let got = app.only_request();
    assert_eq!(got.method, http::Method::POST);
    assert_eq!(got.path, "/webhooks/github?attempt=1");
    assert_eq!(sha256_hex(&got.body), sha256_hex(&body));
    assert_eq!(got.header("content-length"), Some("3000"));
    assert_eq!(got.header("transfer-encoding"), None);
    // The provider's signature still reaches the app, which may check it again.
    assert!(got.header("x-hub-signature-256").is_some());

    let hookguard: Vec<(String, String)> = got
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-hookguard-"))
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let mut names: Vec<&str> = hookguard.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "x-hookguard-client-ip",
            "x-hookguard-delivery-id",
            "x-hookguard-received-at",
            "x-hookguard-route",
            "x-hookguard-scheme",
            "x-hookguard-secret-id",
        ],
        "exactly hookguard's own headers, once each: {hookguard:?}"
    );
    assert_eq!(got.header("x-hookguard-route"), Some("github"));
    assert_eq!(got.header("x-hookguard-scheme"), Some("github"));
    assert_eq!(got.header("x-hookguard-secret-id"), Some("primary"));
    assert_eq!(got.header("x-hookguard-delivery-id"), Some("delivery-0001"));
    assert_eq!(got.header("x-hookguard-client-ip"), Some("127.0.0.1"));
    let received = time::OffsetDateTime::parse(
        got.header("x-hookguard-received-at").unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("received-at is RFC 3339");
    let slack = time::Duration::seconds(1);
    assert!(
        received >= before - slack && received <= after + slack,
        "received-at {received} not between {before} and {after}"
    );
}

#[tokio::test]
async fn forged_tampered_or_unsigned_requests_are_401_and_the_app_gets_nothing() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let url = proxy.url("/webhooks/github");
    let body = br#"{"action":"opened"}"#;

    let forged = Signer::new("github", "not-the-secret").post(&url, body, "d-forged");
    let mut tampered = Signer::new("github", SECRET).post(&url, body, "d-tampered");
    *tampered.body_mut() = bytes::Bytes::from_static(br#"{"action":"closed"}"#);
    let unsigned = http::Request::post(&url)
        .body(bytes::Bytes::from_static(body))
        .unwrap();

    for (request, reason) in [
        (forged, "signature_mismatch"),
        (tampered, "signature_mismatch"),
        (unsigned, "missing_header"),
    ] {
        let answer = send(request).await;
        assert_eq!(answer.status, 401, "{}", answer.text());
        let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(json["error"], reason, "{json}");
    }
    assert!(app.requests().is_empty(), "{:?}", app.requests());
}

#[tokio::test]
async fn content_length_over_the_limit_is_413_without_reading_the_body() {
    let app = upstream().record().start().await;
    let route = github_route("github", "/webhooks/github", r#"body_limit = "1KiB""#);
    let proxy = sidecar().config(config(&app, "", &route)).start().await;

    // 1 GiB announced, nothing sent: only an answer decided from the head can come back.
    for length in ["1073741824", "1025"] {
        let mut conn = RawConn::connect(proxy.addr()).await;
        let head = raw_head(
            "/webhooks/github",
            &format!("Content-Length: {length}\r\n\r\n"),
        );
        conn.write(head.as_bytes()).await;
        let answer = conn.read_answer(WITHIN).await;
        assert_eq!(
            answer.status,
            413,
            "Content-Length {length}: {}",
            answer.text()
        );
        assert!(answer.text().contains("1024 bytes"), "{}", answer.text());
        // The unread body would be taken for the next request: the connection is closed.
        conn.closes_within(WITHIN).await.unwrap();
    }

    // The limit itself is allowed.
    let body = body_of(1024);
    let answer =
        send(Signer::new("github", SECRET).post(&proxy.url("/webhooks/github"), &body, "d-1024"))
            .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(app.only_request().body.len(), 1024);
}

#[tokio::test]
async fn chunked_body_is_refused_413_as_soon_as_it_crosses_the_limit() {
    let app = upstream().record().start().await;
    let route = github_route("github", "/webhooks/github", r#"body_limit = "1KiB""#);
    let proxy = sidecar().config(config(&app, "", &route)).start().await;

    let mut conn = RawConn::connect(proxy.addr()).await;
    let signature = Signer::new("github", SECRET).header_lines(&body_of(1200), "d-big");
    let head = raw_head(
        "/webhooks/github",
        &format!("{signature}Transfer-Encoding: chunked\r\n\r\n"),
    );
    conn.write(head.as_bytes()).await;
    // Two chunks of 600 bytes cross 1 KiB; the body never ends (no last chunk is sent),
    // so the answer can only come from the limit being crossed while reading.
    let chunk = body_of(600);
    for _ in 0..2 {
        let mut bytes = format!("{:x}\r\n", chunk.len()).into_bytes();
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(b"\r\n");
        conn.write(&bytes).await;
    }
    let answer = conn.read_answer(WITHIN).await;
    assert_eq!(answer.status, 413, "{}", answer.text());
    conn.closes_within(WITHIN).await.unwrap();
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn denied_or_not_allowed_addresses_get_403_before_the_body() {
    let app = upstream().record().start().await;
    let routes = [
        github_route("denied", "/denied", "ip.deny = [\"127.0.0.1\"]"),
        github_route("elsewhere", "/elsewhere", "ip.allow = [\"10.0.0.0/8\"]"),
        github_route("local", "/local", "ip.allow = [\"127.0.0.0/8\"]"),
    ]
    .concat();
    let proxy = sidecar().config(config(&app, "", &routes)).start().await;

    for path in ["/denied", "/elsewhere"] {
        // A body is announced but never sent: the refusal needs none of it.
        let mut conn = RawConn::connect(proxy.addr()).await;
        conn.write(raw_head(path, "Content-Length: 100\r\n\r\n").as_bytes())
            .await;
        let answer = conn.read_answer(WITHIN).await;
        assert_eq!(answer.status, 403, "{path}: {}", answer.text());
        let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(json["error"], "ip_denied", "{json}");
    }
    let answer =
        send(Signer::new("github", SECRET).post(&proxy.url("/local"), b"{}", "d-local")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        app.only_request().header("x-hookguard-route"),
        Some("local")
    );
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let app = upstream().record().start().await;
    let routes = [
        github_route(
            "behind-proxy",
            "/trusted",
            "ip.allow = [\"203.0.113.0/24\"]\nip.trusted_proxies = [\"127.0.0.1/32\"]",
        ),
        github_route("direct", "/untrusted", "ip.allow = [\"203.0.113.0/24\"]"),
    ]
    .concat();
    let proxy = sidecar().config(config(&app, "", &routes)).start().await;
    let signer = Signer::new("github", SECRET);
    let post = |path: &str, xff: &str, id: &str| {
        let mut request = signer.post(&proxy.url(path), b"{}", id);
        request
            .headers_mut()
            .insert("x-forwarded-for", xff.parse().unwrap());
        request
    };

    // The test's peer, 127.0.0.1, is a trusted proxy here: the header names the client.
    let answer = send(post("/trusted", "203.0.113.9", "d-1")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        app.only_request().header("x-hookguard-client-ip"),
        Some("203.0.113.9")
    );
    let answer = send(post("/trusted", "198.51.100.7", "d-2")).await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    // Read from the right: an allowed address the caller prepends is not the client.
    let answer = send(post("/trusted", "203.0.113.9, 198.51.100.7", "d-3")).await;
    assert_eq!(answer.status, 403, "{}", answer.text());

    // Without trusted proxies the header is ignored: the peer 127.0.0.1 is not allowed.
    let answer = send(post("/untrusted", "203.0.113.9", "d-4")).await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert_eq!(app.requests().len(), 1);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let app = upstream().record().start().await;
    let route = github_route(
        "github",
        "/webhooks/github",
        "rate_limit.per_route = { requests = 2, per = \"1m\" }",
    );
    let proxy = sidecar().config(config(&app, "", &route)).start().await;
    let signer = Signer::new("github", SECRET);
    for id in ["d-1", "d-2"] {
        let answer = send(signer.post(&proxy.url("/webhooks/github"), b"{}", id)).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let answer = send(signer.post(&proxy.url("/webhooks/github"), b"{}", "d-3")).await;
    assert_eq!(answer.status, 429, "{}", answer.text());
    let retry_after: u64 = answer
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    // One token comes back every 30 s.
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after}");
    // Refused from the head alone: a body announced and never sent changes nothing.
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.write(raw_head("/webhooks/github", "Content-Length: 100\r\n\r\n").as_bytes())
        .await;
    let answer = conn.read_answer(WITHIN).await;
    assert_eq!(answer.status, 429, "{}", answer.text());
    assert!(answer.header("retry-after").is_some());
    assert_eq!(app.requests().len(), 2);
}

#[tokio::test]
async fn key_routes_answer_unknown_404_disabled_403_enabled_forwarded() {
    const ENABLED: &str = "wh_Q2m8ZkT4pL9xV7cN1bR6yH3sJ5dF0gWa";
    const DISABLED: &str = "wh_A7tY2uI9oP4lK1jH6gF3dS8aZ5xC0vBn";
    const UNKNOWN: &str = "wh_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz";
    let app = upstream().record().start().await;
    let route = format!(
        r#"
[[routes]]
id = "partners"
match.key_prefix = "/hooks/"
match.keys = [{{ key = "{ENABLED}" }}, {{ key = "{DISABLED}", enabled = false }}]
scheme = "github"
secrets = [{{ id = "primary", value = "{SECRET}" }}]
rewrite = "/webhooks/partners"
"#
    );
    let proxy = sidecar().config(config(&app, "", &route)).start().await;
    let signer = Signer::new("github", SECRET);
    let post = |key: &str, id: &str| signer.post(&proxy.url(&format!("/hooks/{key}")), b"{}", id);

    let answer = send(post(UNKNOWN, "d-1")).await;
    assert_eq!(answer.status, 404, "{}", answer.text());
    let answer = send(post(DISABLED, "d-2")).await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert!(answer.text().contains("key_disabled"), "{}", answer.text());
    assert!(app.requests().is_empty());

    let answer = send(post(ENABLED, "d-3")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let got = app.only_request();
    // The app never sees the key.
    assert_eq!(got.path, "/webhooks/partners");
    assert_eq!(got.header("x-hookguard-route"), Some("partners"));
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_400_and_closes() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    // `Connection: close` must not change the answer: pingora turns keep-alive off for
    // both framings too, so a check that looks at keep-alive alone cannot tell them apart.
    for connection in [
        "",
        "Connection: close\r\n",
        "connection: keep-alive, Close\r\n",
    ] {
        let mut conn = RawConn::connect(proxy.addr()).await;
        // A smuggling attempt: the two framings disagree on where the request ends, and a
        // second request hides behind the first.
        // Validly signed: only the framing is wrong.
        let signature = Signer::new("github", SECRET).header_lines(b"hello", "d-smuggle");
        let mut bytes = raw_head(
            "/webhooks/github",
            &format!(
                "{signature}{connection}content-length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
        )
        .into_bytes();
        bytes.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
        bytes.extend_from_slice(b"GET /webhooks/github HTTP/1.1\r\nHost: hookguard.test\r\n\r\n");
        conn.write(&bytes).await;
        let answer = conn.read_answer(WITHIN).await;
        assert_eq!(answer.status, 400, "{connection:?}: {}", answer.text());
        assert!(answer.text().contains("bad_framing"), "{}", answer.text());
        // Closed, and the hidden request was never answered.
        conn.closes_within(WITHIN).await.unwrap();
        assert!(app.requests().is_empty(), "{connection:?}");
    }
}

#[tokio::test]
async fn expect_continue_gets_100_only_after_the_header_checks_pass() {
    let app = upstream().record().start().await;
    let routes = [
        github_route("github", "/webhooks/github", r#"body_limit = "4KiB""#),
        github_route("denied", "/denied", "ip.deny = [\"127.0.0.0/8\"]"),
    ]
    .concat();
    let proxy = sidecar().config(config(&app, "", &routes)).start().await;

    // Accepted head: 100 Continue, then the body, then the app's answer.
    let body = body_of(2000);
    let signature = Signer::new("github", SECRET).header_lines(&body, "d-continue");
    let mut conn = RawConn::connect(proxy.addr()).await;
    let head = raw_head(
        "/webhooks/github",
        &format!("{signature}Content-Length: 2000\r\nExpect: 100-continue\r\n\r\n"),
    );
    conn.write(head.as_bytes()).await;
    let (status, _) = conn.read_head_only(WITHIN).await;
    assert_eq!(status, 100);
    conn.write(&body).await;
    let answer = conn.read_answer(WITHIN).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let got = app.only_request();
    assert_eq!(sha256_hex(&got.body), sha256_hex(&body));
    assert_eq!(got.header("expect"), None);

    // Refused heads: the refusal is the first thing the client reads, never a 100.
    for (path, length, expected) in [("/webhooks/github", "1048576", 413), ("/denied", "10", 403)] {
        let mut conn = RawConn::connect(proxy.addr()).await;
        let head = raw_head(
            path,
            &format!("Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"),
        );
        conn.write(head.as_bytes()).await;
        let answer = conn.read_answer(WITHIN).await;
        assert_eq!(answer.status, expected, "{path}: {}", answer.text());
    }
    assert_eq!(app.requests().len(), 1);
}

#[tokio::test]
async fn a_body_that_trickles_in_too_slowly_is_408() {
    let app = upstream().record().start().await;
    let route = github_route(
        "github",
        "/webhooks/github",
        "body_read_timeout = \"500ms\"",
    );
    let proxy = sidecar().config(config(&app, "", &route)).start().await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    // 100 bytes announced, 10 sent, then nothing.
    let head = raw_head("/webhooks/github", "Content-Length: 100\r\n\r\n0123456789");
    conn.write(head.as_bytes()).await;
    let started = std::time::Instant::now();
    let answer = conn.read_answer(WITHIN).await;
    assert_eq!(answer.status, 408, "{}", answer.text());
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    conn.closes_within(WITHIN).await.unwrap();
    assert!(app.requests().is_empty());
}

/// CGI/WSGI servers read `X_Hookguard_Client_Ip` as `HTTP_X_HOOKGUARD_CLIENT_IP`, the
/// same variable as hookguard's own header (the bug class of Puma CVE-2024-45614): an
/// alias with underscores must be stripped like the header itself, forwarded or queued.
#[tokio::test]
async fn underscore_aliases_of_hookguard_headers_never_reach_the_app_in_either_mode() {
    for delivery in ["delivery = \"queue\"", ""] {
        let app = upstream().record().start().await;
        let proxy = sidecar()
            .config(config(
                &app,
                "",
                &github_route("github", "/webhooks/github", delivery),
            ))
            .start()
            .await;
        let signature = Signer::new("github", SECRET).header_lines(b"hello", "d-alias");
        let mut bytes = raw_head(
            "/webhooks/github",
            &format!(
                "{signature}X_Hookguard_Client_Ip: 6.6.6.6\r\nx-hookguard_route: forged\r\n\
                 X_HOOKGUARD-Anything: 1\r\nX_Forwarded_Proto: kept\r\n\
                 Content-Length: 5\r\nConnection: close\r\n\r\n"
            ),
        )
        .into_bytes();
        bytes.extend_from_slice(b"hello");
        let mut conn = RawConn::connect(proxy.addr()).await;
        conn.write(&bytes).await;
        let answer = conn.read_answer(WITHIN).await;
        assert!(
            answer.status == 200 || answer.status == 202,
            "{delivery:?}: {}",
            answer.text()
        );
        hookguard_tests::assert_eventually!(app.requests().len() == 1, "{delivery:?}: no delivery");
        let got = app.only_request();
        let aliases: Vec<&str> = got
            .headers
            .keys()
            .map(|n| n.as_str())
            .filter(|n| n.replace('_', "-").starts_with("x-hookguard-") && n.contains('_'))
            .collect();
        assert!(
            aliases.is_empty(),
            "{delivery:?}: forged aliases reached the app: {aliases:?}"
        );
        assert_eq!(got.header("x-hookguard-client-ip"), Some("127.0.0.1"));
        assert_eq!(got.header("x-hookguard-route"), Some("github"));
        // Other names with underscores are the app's business.
        assert_eq!(
            got.header("x_forwarded_proto"),
            Some("kept"),
            "{delivery:?}"
        );
    }
}
