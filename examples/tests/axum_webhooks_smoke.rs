//! Smoke test of examples/axum_webhooks.rs: the real router on a real socket.

#[path = "../axum_webhooks.rs"]
mod axum_webhooks;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GITHUB_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn github_and_stripe_routes_accept_signed_and_refuse_forged() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum_webhooks::app(&["It's a Secret to Everybody"], &["whsec_example"]);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let ok = post(
        addr,
        "/webhooks/github",
        &[
            ("X-Hub-Signature-256", GITHUB_SIG.into()),
            ("X-GitHub-Delivery", "d-42".into()),
        ],
        "Hello, World!",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.contains("accepted github delivery d-42 (13 bytes, secret #0)"),
        "{ok}"
    );

    let forged = post(
        addr,
        "/webhooks/github",
        &[("X-Hub-Signature-256", GITHUB_SIG.into())],
        "Hello, World?",
    )
    .await;
    assert!(forged.starts_with("HTTP/1.1 401"), "{forged}");

    // A verified `ping` is acknowledged by the event filter and never reaches the handler.
    let ping = post(
        addr,
        "/webhooks/github",
        &[
            ("X-Hub-Signature-256", GITHUB_SIG.into()),
            ("X-GitHub-Event", "ping".into()),
        ],
        "Hello, World!",
    )
    .await;
    assert!(ping.starts_with("HTTP/1.1 200"), "{ping}");
    assert!(
        ping.contains("event_filtered") && !ping.contains("accepted"),
        "{ping}"
    );
    assert!(forged.contains("signature_mismatch"), "{forged}");

    // Stripe: sign with the library the way Stripe would, at the current time.
    use hookguard_layers::verify::{schemes, SignOptions, WebhookRequest};
    let body = r#"{"id":"evt_smoke","object":"event","type":"invoice.paid","data":{}}"#;
    let stripe = schemes::by_name("stripe").unwrap();
    let key = stripe.parse_signing_key("whsec_example").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let empty = http::HeaderMap::new();
    let unsigned = WebhookRequest {
        method: &http::Method::POST,
        url: None,
        headers: &empty,
        body: body.as_bytes(),
    };
    let signed = stripe
        .sign(
            &unsigned,
            &key,
            &SignOptions {
                timestamp: now,
                id: None,
            },
        )
        .unwrap();
    let headers: Vec<(&str, String)> = vec![("Stripe-Signature", signed.headers[0].1.clone())];
    let ok = post(addr, "/webhooks/stripe", &headers, body).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("accepted stripe delivery evt_smoke"), "{ok}");
    // The handler got the mapped body, not Stripe's.
    assert!(
        ok.contains(r#": {"id":"evt_smoke","route":"stripe","type":"invoice.paid"}"#),
        "{ok}"
    );

    // The GitHub signature does not open the Stripe route.
    let wrong = post(
        addr,
        "/webhooks/stripe",
        &[("X-Hub-Signature-256", GITHUB_SIG.into())],
        "Hello, World!",
    )
    .await;
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
}
