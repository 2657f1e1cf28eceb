//! `HttpTransport` against real servers on 127.0.0.1:0: what is sent, what is kept of
//! the answer, and how failures are sorted.

mod support;

use std::time::Duration;

use hookguard_delivery::{
    AttemptOutcome, Direction, ErrorKind, HttpTransport, Message, MessageId, Metadata, NewMessage,
    Request, Transport,
};
use support::*;

const TIMEOUT: Duration = Duration::from_secs(5);

fn message() -> Message {
    let new = NewMessage {
        destination: "d".into(),
        direction: Direction::Outbound,
        ordering_key: None,
        payload: Default::default(),
        meta: Metadata::default(),
    };
    Message::from_new(new, MessageId::generate(), 0)
}

async fn send(transport: &HttpTransport, request: &Request) -> AttemptOutcome {
    transport.send(&message(), request, 3, TIMEOUT).await
}

fn error_kind(outcome: &AttemptOutcome) -> (ErrorKind, String) {
    match outcome {
        AttemptOutcome::Error { kind, detail } => (*kind, detail.clone()),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn outbound_sends_to_the_full_url_without_the_attempt_header_unless_asked() {
    let app = always(Reply::status(204)).await;
    let plain = HttpTransport::to_urls().unwrap();
    let url = format!("{}/endpoint?a=1", app.base());
    let outcome = send(&plain, &post(&url, b"{}")).await;
    assert_eq!(outcome.status(), Some(204));
    let got = app.only();
    assert_eq!(got.target, "/endpoint?a=1");
    assert_eq!(got.header("x-hookguard-attempt"), None);

    let counting = HttpTransport::to_urls().unwrap().attempt_header(true);
    send(&counting, &post(&url, b"{}")).await;
    assert_eq!(app.requests()[1].header("x-hookguard-attempt"), Some("3"));
}

#[tokio::test]
async fn a_base_with_a_path_prefixes_the_target() {
    let app = always(Reply::ok()).await;
    let transport = HttpTransport::to_base(format!("{}/app/", app.base())).unwrap();
    send(&transport, &post("/hooks/x?y=1", b"")).await;
    assert_eq!(app.only().target, "/app/hooks/x?y=1");
}

#[tokio::test]
async fn the_stored_host_is_sent_only_when_asked() {
    let app = always(Reply::ok()).await;
    let mut request = post("/h", b"");
    request
        .headers
        .push(("Host".into(), "hooks.example.com".into()));
    send(&HttpTransport::to_base(app.base()).unwrap(), &request).await;
    send(
        &HttpTransport::to_base(app.base()).unwrap().keep_host(true),
        &request,
    )
    .await;
    let hosts: Vec<_> = app
        .requests()
        .iter()
        .map(|r| r.header("host").unwrap().to_owned())
        .collect();
    assert_eq!(hosts, [app.addr().to_string(), "hooks.example.com".into()]);
}

#[tokio::test]
async fn hop_by_hop_and_framing_headers_are_not_forwarded() {
    let app = always(Reply::ok()).await;
    let mut request = post("/h", b"abc");
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "transfer-encoding",
    ] {
        request.headers.push((name.into(), "x".into()));
    }
    request.headers.push(("content-length".into(), "1".into()));
    request.headers.push(("x-kept".into(), "yes".into()));
    request.headers.push(("x-multi".into(), "1".into()));
    request.headers.push(("x-multi".into(), "2".into()));
    let outcome = send(&HttpTransport::to_base(app.base()).unwrap(), &request).await;
    assert_eq!(outcome.status(), Some(200));
    let got = app.only();
    for name in [
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "trailer",
        "upgrade",
        "expect",
        "transfer-encoding",
    ] {
        assert_eq!(got.header(name), None, "{name}");
    }
    assert_eq!(got.header("content-length"), Some("3"));
    assert_eq!(got.body.as_ref(), b"abc");
    assert_eq!(got.header("x-kept"), Some("yes"));
    let multi: Vec<_> = got.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["1", "2"]);
}

#[tokio::test]
async fn the_answer_keeps_status_retry_after_and_1_kib_of_body() {
    // 2001 bytes; the 1024th is the first half of an "é".
    let long = format!("x{}", "é".repeat(1000));
    let app = always(
        Reply::status(503)
            .header("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")
            .body(long),
    )
    .await;
    let outcome = send(
        &HttpTransport::to_base(app.base()).unwrap(),
        &post("/", b""),
    )
    .await;
    let AttemptOutcome::Status {
        code,
        retry_after,
        body,
    } = outcome
    else {
        panic!("a status");
    };
    assert_eq!(code, 503);
    assert_eq!(
        retry_after.as_deref(),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
    let body = body.unwrap();
    assert_eq!(body, format!("x{}\u{fffd}", "é".repeat(511)));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = always(Reply::status(302).header("location", "/elsewhere")).await;
    let outcome = send(
        &HttpTransport::to_base(app.base()).unwrap(),
        &post("/", b""),
    )
    .await;
    assert_eq!(outcome.status(), Some(302));
    assert_eq!(app.count(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_without_the_url() {
    let down = refusing_address().await;
    let outcome = send(
        &HttpTransport::to_urls().unwrap(),
        &post(&format!("{down}/hook?token=s3cr3t"), b""),
    )
    .await;
    let (kind, detail) = error_kind(&outcome);
    assert_eq!(kind, ErrorKind::Connect, "{detail}");
    assert!(!detail.contains("s3cr3t"), "{detail}");
}

#[tokio::test]
async fn an_unknown_name_is_a_dns_error() {
    let outcome = send(
        &HttpTransport::to_urls().unwrap(),
        &post("http://no-such-host.invalid/hook", b""),
    )
    .await;
    let (kind, detail) = error_kind(&outcome);
    assert_eq!(kind, ErrorKind::Dns, "{detail}");
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_a_tls_error() {
    let app = always(Reply::ok()).await;
    let url = format!("https://{}/", app.addr());
    let outcome = send(&HttpTransport::to_urls().unwrap(), &post(&url, b"")).await;
    let (kind, detail) = error_kind(&outcome);
    assert_eq!(kind, ErrorKind::Tls, "{detail}");
}

#[tokio::test]
async fn no_answer_in_time_is_a_timeout() {
    let app = always(Reply::ok().delay(Duration::from_secs(5))).await;
    let transport = HttpTransport::to_base(app.base()).unwrap();
    let outcome = transport
        .send(&message(), &post("/", b""), 1, Duration::from_millis(100))
        .await;
    assert_eq!(error_kind(&outcome).0, ErrorKind::Timeout);
}

#[tokio::test]
async fn a_target_that_is_not_an_http_url_is_refused_without_echoing_it() {
    let outcome = send(
        &HttpTransport::to_urls().unwrap(),
        &post("ftp://files.example/secret-path", b""),
    )
    .await;
    let (kind, detail) = error_kind(&outcome);
    assert_eq!(kind, ErrorKind::Refused);
    assert!(!detail.contains("secret-path"), "{detail}");
}

#[test]
fn a_bad_base_address_says_what_is_wrong() {
    for (base, problem) in [
        ("ftp://127.0.0.1", "scheme \"ftp\""),
        ("127.0.0.1:3000", "relative URL without a base"),
        ("http://", "empty host"),
        ("http://app?x=1", "no query"),
    ] {
        let error = HttpTransport::to_base(base).unwrap_err().to_string();
        assert!(error.contains(problem), "{base}: {error}");
        assert!(error.contains(base), "{base}: {error}");
    }
}
