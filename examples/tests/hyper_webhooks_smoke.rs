//! Smoke test of examples/hyper_webhooks.rs: the real hyper server on a real socket.

#[path = "../hyper_webhooks.rs"]
mod hyper_webhooks;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

// GitHub's published test delivery: secret "It's a Secret to Everybody", body "Hello, World!".
const GITHUB_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

async fn post(addr: std::net::SocketAddr, delivery: &str, signature: &str, body: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\
         X-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {signature}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn signed_delivery_is_handled_once_and_forgeries_are_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = hyper_webhooks::github_service(&["It's a Secret to Everybody"]);
    tokio::spawn(hyper_webhooks::serve(listener, service));

    let first = post(addr, "d-1", GITHUB_SIG, "Hello, World!").await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        first.contains("accepted delivery d-1 (13 bytes)"),
        "{first}"
    );

    // The same delivery again: answered, not handled a second time.
    let again = post(addr, "d-1", GITHUB_SIG, "Hello, World!").await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    assert!(again.contains(r#"{"error":"duplicate""#), "{again}");
    assert!(!again.contains("accepted delivery"), "{again}");

    let forged = post(addr, "d-2", GITHUB_SIG, "Hello, World?").await;
    assert!(forged.starts_with("HTTP/1.1 401"), "{forged}");
    assert!(forged.contains("signature_mismatch"), "{forged}");
}
