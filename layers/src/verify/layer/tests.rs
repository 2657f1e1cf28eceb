use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, ServiceBuilder, ServiceExt};

use super::*;
use crate::clock::FixedClock;
use crate::verify::{schemes, Keyring, Verified};

const SECRET: &str = "It's a Secret to Everybody";
const SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// Echoes the body and reports the `Verified` extension in headers.
async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let verified = req.extensions().get::<Verified>().cloned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut res = Response::new(Full::new(body));
    if let Some(v) = verified {
        res.headers_mut()
            .insert("x-secret-index", v.secret_index.into());
        res.headers_mut()
            .insert("x-scheme", v.scheme.parse().unwrap());
        if let Some(id) = v.delivery_id {
            res.headers_mut()
                .insert("x-delivery-id", id.parse().unwrap());
        }
    }
    Ok(res)
}

fn github_layer() -> VerifySignatureLayer {
    let scheme = schemes::by_name("github").unwrap();
    let keys = Keyring::from_secrets(&*scheme, ["other", SECRET]).unwrap();
    VerifySignatureLayer::new(scheme, keys)
}

async fn body_json(res: Response<Full<Bytes>>) -> serde_json::Value {
    serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

#[tokio::test]
async fn valid_request_reaches_inner_with_same_bytes_and_verified_extension() {
    let svc = ServiceBuilder::new()
        .layer(github_layer())
        .service(service_fn(echo));
    let req = Request::post("/hook")
        .header("x-hub-signature-256", SIG)
        .header("x-github-delivery", "d-1")
        .body(Full::from("Hello, World!"))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-secret-index"], "1");
    assert_eq!(res.headers()["x-scheme"], "github");
    assert_eq!(res.headers()["x-delivery-id"], "d-1");
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "Hello, World!"
    );
}

#[tokio::test]
async fn forged_request_gets_401_json_without_reaching_inner_or_leaking() {
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = reached.clone();
    let svc = ServiceBuilder::new()
        .layer(github_layer())
        .service(service_fn(move |req| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            echo(req)
        }));
    let req = Request::post("/hook")
        .header("x-hub-signature-256", SIG)
        .body(Full::from("Hello, World?"))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["content-type"], "application/json");
    let text = res.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(json["error"], "signature_mismatch");
    let text = String::from_utf8_lossy(&text);
    assert!(
        !text.contains(SECRET) && !text.contains("757107ea"),
        "response leaks: {text}"
    );
    assert!(!reached.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn missing_header_is_named_in_the_response() {
    let svc = ServiceBuilder::new()
        .layer(github_layer())
        .service(service_fn(echo));
    let res = svc
        .oneshot(Request::post("/hook").body(Full::from("x")).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let json = body_json(res).await;
    assert_eq!(json["error"], "missing_header");
    assert!(json["message"]
        .as_str()
        .unwrap()
        .contains("x-hub-signature-256"));
}

/// A request body that is either a list of chunks (no declared length, like chunked
/// transfer encoding) or one that panics if it is ever read.
enum TestBody {
    Chunks(std::collections::VecDeque<Bytes>),
    Unreadable,
}

impl From<Bytes> for TestBody {
    fn from(b: Bytes) -> Self {
        TestBody::Chunks([b].into())
    }
}

impl http_body::Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            TestBody::Chunks(chunks) => {
                std::task::Poll::Ready(chunks.pop_front().map(|c| Ok(http_body::Frame::data(c))))
            }
            TestBody::Unreadable => panic!("the body was read"),
        }
    }
}

async fn echo_test_body(req: Request<TestBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = req.into_body().collect().await.unwrap().to_bytes();
    Ok(Response::new(Full::new(body)))
}

#[tokio::test]
async fn declared_content_length_over_limit_is_413_before_reading() {
    let svc = ServiceBuilder::new()
        .layer(github_layer().max_body(4))
        .service(service_fn(echo_test_body));
    let req = Request::post("/hook")
        .header("content-length", "5")
        .body(TestBody::Unreadable)
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(res).await["error"], "body_too_large");
}

#[tokio::test]
async fn streamed_body_over_limit_is_413_and_inner_not_called() {
    let svc = ServiceBuilder::new()
        .layer(github_layer().max_body(8))
        .service(service_fn(|_req: Request<TestBody>| async {
            panic!("inner called") as Result<Response<Full<Bytes>>, Infallible>
        }));
    let chunks = ["Hello", ", Wor", "ld!"]
        .into_iter()
        .map(Bytes::from)
        .collect();
    let req = Request::post("/hook")
        .header("x-hub-signature-256", SIG)
        .body(TestBody::Chunks(chunks))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn streamed_body_within_limit_is_reassembled_exactly() {
    let svc = ServiceBuilder::new()
        .layer(github_layer().max_body(13))
        .service(service_fn(echo_test_body));
    let chunks = ["Hello", ", Wor", "ld!"]
        .into_iter()
        .map(Bytes::from)
        .collect();
    let req = Request::post("/hook")
        .header("x-hub-signature-256", SIG)
        .body(TestBody::Chunks(chunks))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "Hello, World!"
    );
}

#[tokio::test]
async fn timestamp_window_uses_the_injected_clock_and_route_tolerance() {
    let scheme = schemes::by_name("stripe").unwrap();
    let keys = Keyring::from_secrets(&*scheme, ["whsec_test"]).unwrap();
    let key = scheme.parse_signing_key("whsec_test").unwrap();
    let body = br#"{"id":"evt_1","object":"event"}"#;
    let empty = http::HeaderMap::new();
    let unsigned = crate::verify::WebhookRequest {
        method: &http::Method::POST,
        url: None,
        headers: &empty,
        body,
    };
    let signed = scheme
        .sign(
            &unsigned,
            &key,
            &crate::verify::SignOptions {
                timestamp: 1_000_000,
                id: None,
            },
        )
        .unwrap();
    let (name, value) = signed.headers[0].clone();

    let clock = FixedClock::new(1_000_000 + 299);
    let svc = ServiceBuilder::new()
        .layer(VerifySignatureLayer::new(scheme.clone(), keys.clone()).clock(clock.clone()))
        .service(service_fn(echo));
    let req = || {
        Request::post("/s")
            .header(name.clone(), value.clone())
            .body(Full::from(&body[..]))
            .unwrap()
    };
    let res = svc.clone().oneshot(req()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-delivery-id"], "evt_1");

    clock.advance(2);
    let res = svc.oneshot(req()).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let json = body_json(res).await;
    assert_eq!(json["error"], "timestamp_outside_window");
    assert!(json["message"].as_str().unwrap().contains("301"), "{json}");

    // A route may widen the window.
    let svc = ServiceBuilder::new()
        .layer(
            VerifySignatureLayer::new(scheme, keys)
                .clock(clock)
                .tolerance(Some(600)),
        )
        .service(service_fn(echo));
    assert_eq!(svc.oneshot(req()).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn no_secret_fails_closed_with_500() {
    let scheme = schemes::by_name("github").unwrap();
    let keys = Keyring::from_secrets(&*scheme, Vec::<String>::new()).unwrap();
    let svc = ServiceBuilder::new()
        .layer(VerifySignatureLayer::new(scheme, keys))
        .service(service_fn(echo));
    let req = Request::post("/hook")
        .header("x-hub-signature-256", SIG)
        .body(Full::from("Hello, World!"))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body_json(res).await["error"], "no_secret");
}

#[tokio::test]
async fn sidecar_verdict_type_gets_a_respond_rejection() {
    use crate::reject::Verdict;
    let svc = ServiceBuilder::new()
        .layer(github_layer())
        .service(service_fn(|req: Request<Full<Bytes>>| async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            Ok::<_, Infallible>(Verdict::Forward(Request::from_parts(parts, bytes)))
        }));
    let ok = Request::post("/hook")
        .header("x-hub-signature-256", SIG)
        .body(Full::from("Hello, World!"))
        .unwrap();
    match svc.clone().oneshot(ok).await.unwrap() {
        Verdict::Forward(req) => {
            assert_eq!(req.body(), "Hello, World!");
            assert!(req.extensions().get::<Verified>().is_some());
        }
        Verdict::Respond(r) => panic!("refused: {r:?}"),
    }
    let bad = Request::post("/hook")
        .body(Full::from("Hello, World!"))
        .unwrap();
    match svc.oneshot(bad).await.unwrap() {
        Verdict::Respond(r) => assert_eq!(r.status(), StatusCode::UNAUTHORIZED),
        Verdict::Forward(_) => panic!("forwarded an unsigned request"),
    }
}
