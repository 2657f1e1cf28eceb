use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body::{Body, Frame};
use http_body_util::Full;
use tower::{service_fn, ServiceBuilder, ServiceExt};

use super::*;
use crate::reject::{FromRejection, Rejection};

const BODY: &str = r#"{"action":"opened"}"#;
const PEER: &str = "203.0.113.7:40000";

fn request() -> Request<Full<Bytes>> {
    let mut request = Request::post("/webhooks/github?attempt=2")
        .version(Version::HTTP_11)
        .header("x-github-delivery", "d-1")
        .header("x-hub-signature-256", "sha256=00")
        .body(Full::new(Bytes::from(BODY)))
        .unwrap();
    request
        .extensions_mut()
        .insert(PEER.parse::<SocketAddr>().unwrap());
    request
}

/// A stack that changes its own copy of the request (headers, body) before answering:
/// refusing it, or handing it back.
async fn stack(request: Request<Full<Bytes>>, refuse: bool) -> Result<Verdict, Infallible> {
    let (mut parts, _) = request.into_parts();
    parts.headers.remove("x-hub-signature-256");
    parts.headers.insert("x-mapped", "yes".parse().unwrap());
    if refuse {
        let rejection = Rejection::new(
            StatusCode::UNAUTHORIZED,
            Reason::SignatureMismatch,
            "no configured secret produces this signature",
        );
        return Ok(Verdict::from_rejection(rejection));
    }
    Ok(Verdict::Forward(Request::from_parts(
        parts,
        Bytes::from_static(b"mapped"),
    )))
}

#[tokio::test]
async fn a_refused_request_is_forwarded_as_it_came_in_with_the_refusal() {
    let shadow = ServiceBuilder::new()
        .layer(ShadowLayer::new())
        .service(service_fn(|r| stack(r, true)));
    let Verdict::Forward(forwarded) = shadow.oneshot(request()).await.unwrap() else {
        panic!("shadow mode answered instead of forwarding");
    };
    let original = request();
    assert_eq!(forwarded.method(), Method::POST);
    assert_eq!(forwarded.uri(), "/webhooks/github?attempt=2");
    assert_eq!(forwarded.version(), Version::HTTP_11);
    assert_eq!(forwarded.headers(), original.headers());
    assert_eq!(forwarded.body(), BODY);
    assert_eq!(
        forwarded.extensions().get::<SocketAddr>(),
        Some(&PEER.parse().unwrap()),
        "the request's own extensions go on"
    );

    let refusal = forwarded
        .extensions()
        .get::<ShadowRefusal>()
        .expect("the refusal travels with the request");
    assert_eq!(refusal.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refusal.reason(), Some(Reason::SignatureMismatch));
    let answer: serde_json::Value = serde_json::from_slice(refusal.response().body()).unwrap();
    assert_eq!(answer["error"], "signature_mismatch");
    assert_eq!(
        answer["message"],
        "no configured secret produces this signature"
    );
}

#[tokio::test]
async fn a_passed_request_goes_on_as_the_stack_left_it() {
    let shadow = Shadow::<()>::layer().layer(service_fn(|r| stack(r, false)));
    let Verdict::Forward(forwarded) = shadow.oneshot(request()).await.unwrap() else {
        panic!("a passed request was answered");
    };
    assert_eq!(forwarded.body(), "mapped");
    assert_eq!(forwarded.headers()["x-mapped"], "yes");
    assert!(forwarded.extensions().get::<ShadowRefusal>().is_none());
}

#[tokio::test]
async fn an_acknowledged_duplicate_is_forwarded_too_with_its_status() {
    // A duplicate is acknowledged with 200 by the replay guard: shadow mode forwards it
    // too, and the record says what enforce mode would have answered.
    let acknowledge = service_fn(|_: Request<Full<Bytes>>| async {
        let rejection = Rejection::new(StatusCode::OK, Reason::Duplicate, "already accepted");
        Ok::<_, Infallible>(Verdict::from_rejection(rejection))
    });
    let shadow = ShadowLayer::new().layer(acknowledge);
    let Verdict::Forward(forwarded) = shadow.oneshot(request()).await.unwrap() else {
        panic!("shadow mode answered instead of forwarding");
    };
    let refusal = forwarded.extensions().get::<ShadowRefusal>().unwrap();
    assert_eq!(refusal.status(), StatusCode::OK);
    assert_eq!(refusal.reason(), Some(Reason::Duplicate));
}

/// A body whose clone cannot be read: its one frame is an error.
#[derive(Clone)]
struct Unreadable;

impl Body for Unreadable {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err("the connection broke")))
    }
}

#[tokio::test]
async fn a_body_that_cannot_be_read_again_leaves_the_refusal_standing() {
    let refuse = service_fn(|_: Request<Unreadable>| async {
        let rejection = Rejection::new(StatusCode::FORBIDDEN, Reason::IpDenied, "denied");
        Ok::<_, Infallible>(Verdict::from_rejection(rejection))
    });
    let shadow = ShadowLayer::new().layer(refuse);
    let request = Request::post("/hook").body(Unreadable).unwrap();
    match shadow.oneshot(request).await.unwrap() {
        Verdict::Respond(response) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
        Verdict::Forward(_) => panic!("forwarded a request without its body"),
    }
}

#[cfg(feature = "verify")]
#[tokio::test]
async fn signature_verification_in_shadow_mode_reports_a_forgery_and_forwards_it() {
    use crate::verify::{schemes, Keyring, Verified, VerifySignatureLayer};
    use http_body_util::BodyExt as _;

    let scheme = schemes::by_name("github").unwrap();
    let keys = Keyring::from_secrets(&*scheme, ["It's a Secret to Everybody"]).unwrap();
    let shadow = ServiceBuilder::new()
        .layer(ShadowLayer::new())
        .layer(VerifySignatureLayer::new(scheme, keys))
        .service(service_fn(|request: Request<Full<Bytes>>| async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            Ok::<_, Infallible>(Verdict::Forward(Request::from_parts(parts, bytes)))
        }));

    let signed = Request::post("/hook")
        .header(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )
        .body(Full::from("Hello, World!"))
        .unwrap();
    let Verdict::Forward(passed) = shadow.clone().oneshot(signed).await.unwrap() else {
        panic!("a signed request was answered");
    };
    assert!(passed.extensions().get::<Verified>().is_some());
    assert!(passed.extensions().get::<ShadowRefusal>().is_none());

    let forged = Request::post("/hook")
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .body(Full::from("Hello, World!"))
        .unwrap();
    let Verdict::Forward(forwarded) = shadow.oneshot(forged).await.unwrap() else {
        panic!("shadow mode answered a forgery instead of forwarding it");
    };
    assert_eq!(forwarded.body(), "Hello, World!");
    let refusal = forwarded.extensions().get::<ShadowRefusal>().unwrap();
    assert_eq!(refusal.reason(), Some(Reason::SignatureMismatch));
    assert_eq!(refusal.status(), StatusCode::UNAUTHORIZED);
    assert!(forwarded.extensions().get::<Verified>().is_none());
}
