//! The IP filter service, driven with `oneshot` against an echo service, and the header
//! stage composed with signature verification in one `ServiceBuilder`.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceExt};

use super::*;
use crate::{Reason, Verdict};

/// Answers with the client address the filter decided on, and the body it received.
async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let client = req
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "none".into());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let text = format!("{client} {}", String::from_utf8_lossy(&body));
    Ok(Response::new(Full::from(text)))
}

fn policy() -> IpPolicy {
    IpPolicy::builder()
        .allow(parse_networks(["192.30.252.0/22", "2606:50c0::/32"]).unwrap())
        .deny(parse_networks(["192.30.255.0/24"]).unwrap())
        .trust_proxies(
            ForwardedHeader::XForwardedFor,
            parse_networks(["10.0.0.0/8"]).unwrap(),
        )
        .build()
}

fn from(peer: &str) -> Request<Full<Bytes>> {
    let mut req = Request::post("/hook").body(Full::from("payload")).unwrap();
    req.extensions_mut()
        .insert(peer.parse::<SocketAddr>().unwrap());
    req
}

async fn text(response: Response<Full<Bytes>>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn error_code(response: Response<Full<Bytes>>) -> String {
    let body: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn admitted_request_reaches_the_app_with_its_client_ip() {
    let app = IpFilterLayer::new(policy()).layer(service_fn(echo));
    let response = app.oneshot(from("192.30.252.7:4711")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "192.30.252.7 payload");
}

#[tokio::test]
async fn refused_addresses_get_403_json_and_the_app_is_not_called() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = IpFilterLayer::new(policy()).layer(service_fn(move |req| {
        counted.fetch_add(1, Ordering::SeqCst);
        echo(req)
    }));
    for peer in ["192.30.255.1:1", "203.0.113.9:1", "[2001:db8::1]:1"] {
        let response = app.clone().oneshot(from(peer)).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{peer}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(error_code(response).await, "ip_denied");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_request_without_a_peer_address_fails_closed_with_500() {
    let app = IpFilterLayer::new(IpPolicy::allow_all()).layer(service_fn(echo));
    let req = Request::post("/hook").body(Full::from("x")).unwrap();
    let response = app.oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_code(response).await, Reason::PeerUnknown.as_str());
}

#[tokio::test]
async fn peer_from_an_ip_addr_extension_or_a_custom_client_addr() {
    let app = IpFilterLayer::new(policy()).layer(service_fn(echo));
    let mut req = Request::post("/hook").body(Full::from("x")).unwrap();
    req.extensions_mut()
        .insert("2606:50c0::9".parse::<IpAddr>().unwrap());
    assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::OK);

    // axum's `ConnectInfo<SocketAddr>` is read the same way as this stand-in.
    #[derive(Clone)]
    struct ConnectInfo<T>(T);
    let layer = IpFilterLayer::new(policy()).client_addr(|ext: &http::Extensions| {
        ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
    });
    let app = layer.layer(service_fn(echo));
    let mut req = Request::post("/hook").body(Full::from("x")).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo("192.30.252.8:9".parse::<SocketAddr>().unwrap()));
    let response = app.clone().oneshot(req).await.unwrap();
    assert_eq!(text(response).await, "192.30.252.8 x");
    // That server's plain SocketAddr is not what this ClientAddr reads: fail closed.
    let response = app.oneshot(from("192.30.252.8:9")).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_checked_and_passed_on() {
    let app = IpFilterLayer::new(policy()).layer(service_fn(echo));
    let mut req = from("10.1.2.3:5000");
    req.headers_mut()
        .insert("x-forwarded-for", "6.6.6.6, 192.30.252.44".parse().unwrap());
    let response = app.clone().oneshot(req).await.unwrap();
    assert_eq!(text(response).await, "192.30.252.44 payload");

    let mut req = from("10.1.2.3:5000");
    req.headers_mut()
        .insert("x-forwarded-for", "192.30.252.44, ???".parse().unwrap());
    let response = app.oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "malformed_header");
}

#[tokio::test]
async fn the_sidecar_verdict_type_gets_the_rejection_as_a_response() {
    let app = IpFilterLayer::new(policy()).layer(service_fn(|req: Request<Bytes>| async move {
        Ok::<_, Infallible>(Verdict::Forward(req))
    }));
    let mut req = Request::post("/hook")
        .body(Bytes::from_static(b"x"))
        .unwrap();
    req.extensions_mut()
        .insert("203.0.113.9:1".parse::<SocketAddr>().unwrap());
    match app.clone().oneshot(req).await.unwrap() {
        Verdict::Respond(response) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
        Verdict::Forward(_) => panic!("a denied address was forwarded"),
    }
    let mut req = Request::post("/hook")
        .body(Bytes::from_static(b"x"))
        .unwrap();
    req.extensions_mut()
        .insert("192.30.252.1:1".parse::<SocketAddr>().unwrap());
    match app.oneshot(req).await.unwrap() {
        Verdict::Forward(req) => {
            assert_eq!(
                req.extensions().get::<ClientIp>(),
                Some(&ClientIp("192.30.252.1".parse().unwrap()))
            );
        }
        Verdict::Respond(response) => panic!("refused: {}", response.status()),
    }
}

/// The IP filter in front of the rate limiter and signature verification.
#[cfg(all(feature = "rate", feature = "verify"))]
mod composed {
    use super::*;
    use tower::ServiceBuilder;

    use crate::rate::{RateLimitLayer, RateLimiter, RateQuota, RateScope};
    use crate::verify::{schemes, Keyring, VerifySignatureLayer};

    // GitHub's published test delivery: secret "It's a Secret to Everybody", body
    // "Hello, World!" (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries,
    // "Testing the webhook payload validation").
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_BODY: &str = "Hello, World!";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn delivery(peer: &str, forwarded_for: Option<&str>, signature: &str) -> Request<Full<Bytes>> {
        let mut builder = Request::post("/hook").header("x-hub-signature-256", signature);
        if let Some(client) = forwarded_for {
            builder = builder.header("x-forwarded-for", client);
        }
        let mut req = builder.body(Full::from(GITHUB_BODY)).unwrap();
        req.extensions_mut()
            .insert(peer.parse::<SocketAddr>().unwrap());
        req
    }

    #[tokio::test]
    async fn ip_filter_rate_limit_and_signature_compose_in_one_service_builder() {
        let scheme = schemes::by_name("github").unwrap();
        let keys = Keyring::from_secrets(&*scheme, [GITHUB_SECRET]).unwrap();
        let quota = RateQuota::per_minute(60).unwrap().burst(2).unwrap();
        let app = ServiceBuilder::new()
            // Cheapest first: no body read, refuses unknown senders outright.
            .layer(IpFilterLayer::new(policy()))
            // Still before the body: keyed on the ClientIp the filter decided on.
            .layer(RateLimitLayer::new(RateLimiter::new(
                RateScope::ClientIp,
                quota,
            )))
            // Reads and verifies the body only for admitted, unthrottled senders.
            .layer(VerifySignatureLayer::new(scheme, keys).max_body(1 << 20))
            .service(service_fn(echo));

        let ok = app
            .clone()
            .oneshot(delivery("192.30.252.7:1", None, GITHUB_SIGNATURE))
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(text(ok).await, "192.30.252.7 Hello, World!");

        let forged = GITHUB_SIGNATURE.replace("757107", "000000");
        let bad = app
            .clone()
            .oneshot(delivery("192.30.252.7:1", None, &forged))
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);

        // The burst of 2 is spent (the forged delivery counted too): throttled before the
        // body is read.
        let throttled = app
            .clone()
            .oneshot(delivery("192.30.252.7:1", None, GITHUB_SIGNATURE))
            .await
            .unwrap();
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(throttled.headers().contains_key("retry-after"));

        // Another GitHub address, reached through our proxy, has its own bucket.
        let proxied = delivery("10.0.0.2:1", Some("192.30.252.8"), GITHUB_SIGNATURE);
        let response = app.clone().oneshot(proxied).await.unwrap();
        assert_eq!(text(response).await, "192.30.252.8 Hello, World!");

        // Not an allowed sender: refused before the rate limit or the signature matter.
        let stranger = app
            .oneshot(delivery("203.0.113.9:1", None, GITHUB_SIGNATURE))
            .await
            .unwrap();
        assert_eq!(stranger.status(), StatusCode::FORBIDDEN);
    }
}
