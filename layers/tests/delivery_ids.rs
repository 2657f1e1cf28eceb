//! The replay guard and the schemes' delivery ids, through real verification: a repeated id
//! header or a dropped one must not let a replay pass untracked, and what each scheme
//! declares about its id (`DeliveryIdSource`) matches what its `verify` reports.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hookguard_layers::replay::{MemoryReplayStore, ReplayGuardLayer};
use hookguard_layers::verify::{
    schemes, KeyEntry, Keyring, SignOptions, VerifyContext, VerifySignatureLayer, WebhookRequest,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::util::BoxCloneService;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

// GitHub docs, "Validating webhook deliveries".
const SECRET: &str = "It's a Secret to Everybody";
const BODY: &str = "Hello, World!";
const SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
// Shopify/shopify-app-js validate.test.ts: secret `test_secret_key`, body `{"foo": "bar"}`.
const SHOPIFY_SECRET: &str = "test_secret_key";
const SHOPIFY_BODY: &str = r#"{"foo": "bar"}"#;
const SHOPIFY_HMAC: &str = "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=";

/// The app behind verification and the replay guard.
type App = BoxCloneService<Request<Full<Bytes>>, Response<Full<Bytes>>, Infallible>;

/// A verified, replay-guarded app for `scheme`, and how many requests reached it.
fn app(scheme: &str, secret: &str) -> (App, Arc<AtomicUsize>) {
    let scheme = schemes::by_name(scheme).unwrap();
    let keys = Keyring::from_secrets(&*scheme, [secret]).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let service = ServiceBuilder::new()
        .layer(VerifySignatureLayer::new(scheme.clone(), keys))
        .layer(ReplayGuardLayer::new("route", MemoryReplayStore::default()).for_scheme(&*scheme))
        .service(service_fn(move |_req: Request<Full<Bytes>>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("handled")))) }
        }));
    (BoxCloneService::new(service), calls)
}

async fn send<S>(app: &mut S, headers: &[(&str, &str)], body: &str) -> (StatusCode, String)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    let mut request = Request::post("/hook");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .ready()
        .await
        .unwrap()
        .call(request.body(Full::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_repeated_delivery_id_header_is_refused_not_passed_untracked() {
    let (mut app, calls) = app("github", SECRET);
    let doubled = [
        ("X-Hub-Signature-256", SIGNATURE),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-GitHub-Delivery", "another-id"),
    ];
    for _ in 0..2 {
        let (status, body) = send(&mut app, &doubled, BODY).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains(r#""error":"duplicate_header""#), "{body}");
        assert!(body.contains("x-github-delivery appears 2 times"), "{body}");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "a doubled id reached the app"
    );
}

#[tokio::test]
async fn a_missing_delivery_id_is_refused_when_the_provider_always_sends_one() {
    let (mut app, calls) = app("github", SECRET);
    let (status, body) = send(&mut app, &[("X-Hub-Signature-256", SIGNATURE)], BODY).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains(r#""error":"missing_delivery_id""#), "{body}");
    assert!(
        body.contains("x-github-delivery is missing or empty"),
        "{body}"
    );
    // With the id, the delivery goes through once, and its resend is a duplicate.
    let with_id = [
        ("X-Hub-Signature-256", SIGNATURE),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ];
    assert_eq!(send(&mut app, &with_id, BODY).await.1, "handled");
    let (status, body) = send(&mut app, &with_id, BODY).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#""error":"duplicate""#), "{body}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn shopify_deliveries_without_an_id_pass_but_a_doubled_id_does_not() {
    let (mut app, calls) = app("shopify", SHOPIFY_SECRET);
    let (status, _) = send(
        &mut app,
        &[("X-Shopify-Hmac-Sha256", SHOPIFY_HMAC)],
        SHOPIFY_BODY,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(
        &mut app,
        &[
            ("X-Shopify-Hmac-Sha256", SHOPIFY_HMAC),
            ("X-Shopify-Webhook-Id", "1"),
            ("X-Shopify-Webhook-Id", "2"),
        ],
        SHOPIFY_BODY,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// What every scheme declares about its delivery id agrees with what its own signed
/// request verifies to: an id where it says there is one, in the header it names.
#[test]
fn every_scheme_declares_the_delivery_id_it_reports() {
    // Body ids live in these fields (Stripe, Discord `id`; Square `event_id`; Paddle
    // `notification_id`); Discord needs an interaction `type`.
    let body =
        br#"{"id":"evt_1","event_id":"evt_1","notification_id":"evt_1","type":1,"event_type":"x"}"#;
    for name in schemes::NAMES {
        let scheme = schemes::by_name(name).unwrap();
        let source = scheme.delivery_id_source();
        let key = [
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "s3cret",
        ]
        .iter()
        .find_map(|s| scheme.parse_signing_key(s).ok())
        .unwrap();
        let empty = HeaderMap::new();
        let request = WebhookRequest {
            method: &Method::POST,
            url: Some("https://hooks.example.com/in"),
            headers: &empty,
            body,
        };
        let options = SignOptions {
            timestamp: 1_700_000_000,
            id: Some("delivery-1".into()),
        };
        let signed = scheme.sign(&request, &key, &options).unwrap();
        let headers: HeaderMap = signed
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.parse().unwrap()))
            .collect();
        let body = signed.body.as_deref().unwrap_or(body);
        let keys = Keyring::from_keys(vec![KeyEntry {
            id: Arc::from("primary"),
            key,
        }]);
        let verified = scheme
            .verify(
                &WebhookRequest {
                    headers: &headers,
                    body,
                    ..request
                },
                &keys,
                &VerifyContext::new(&*scheme, 1_700_000_000),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            verified.delivery_id.is_some(),
            source.exists(),
            "{name}: verify reports {:?}, the scheme declares {source:?}",
            verified.delivery_id
        );
        if let Some(first) = source.headers.first() {
            assert!(
                source.headers.iter().any(|h| headers.contains_key(h)),
                "{name}: signs none of {:?} (first {first})",
                source.headers
            );
        }
        if !source.exists() {
            assert!(!source.signed && !source.always_sent, "{name}");
        }
    }
}
