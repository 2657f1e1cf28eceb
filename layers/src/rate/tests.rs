//! The rate-limit service, driven with `oneshot` against an echo service.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use governor::clock::FakeRelativeClock;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

use super::*;
use crate::Reason;

type Echo = tower::util::BoxCloneService<Request<Full<Bytes>>, Response<Full<Bytes>>, Infallible>;

fn echo() -> Echo {
    tower::util::BoxCloneService::new(service_fn(|req: Request<Full<Bytes>>| async move {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(Full::new(body)))
    }))
}

fn faked(
    scope: RateScope,
    per_second: u32,
    burst: u32,
) -> (
    RateLimiter<MemoryStore<FakeRelativeClock>>,
    FakeRelativeClock,
) {
    let clock = FakeRelativeClock::default();
    let quota = RateQuota::per_second(per_second)
        .unwrap()
        .burst(burst)
        .unwrap();
    let store = MemoryStore::with_clock(quota, 1_000, clock.clone()).unwrap();
    (RateLimiter::with_store(scope, store), clock)
}

fn from(peer: &str, body: &'static str) -> Request<Full<Bytes>> {
    let mut req = Request::post("/hook").body(Full::from(body)).unwrap();
    req.extensions_mut()
        .insert(peer.parse::<SocketAddr>().unwrap());
    req
}

async fn body_text(response: Response<Full<Bytes>>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn admitted_requests_reach_the_inner_service_untouched() {
    let (limiter, _clock) = faked(RateScope::Global, 1, 2);
    let app = RateLimitLayer::new(limiter).layer(echo());
    let response = app
        .oneshot(from("192.0.2.1:1", "{\"id\":1}"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "{\"id\":1}");
}

#[tokio::test]
async fn an_empty_bucket_answers_429_with_retry_after_and_ratelimit_headers() {
    // 1 per second, burst 2.
    let (limiter, clock) = faked(RateScope::Global, 1, 2);
    let app = RateLimitLayer::new(limiter).layer(echo());
    for _ in 0..2 {
        let ok = app.clone().oneshot(from("192.0.2.1:1", "x")).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
    clock.advance(Duration::from_millis(300));
    let refused = app.clone().oneshot(from("192.0.2.1:1", "x")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = refused.headers();
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["retry-after"], "1", "0.7 s rounded up");
    assert_eq!(h["ratelimit-limit"], "2");
    assert_eq!(h["ratelimit-remaining"], "0");
    assert_eq!(
        h["ratelimit-reset"], "2",
        "1.7 s until the bucket is full, rounded up"
    );
    let body: serde_json::Value = serde_json::from_str(&body_text(refused).await).unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(
        body["message"],
        "rate limit of 2 requests exceeded; retry in 1 s"
    );

    // Time passes on the injected clock, not the wall clock.
    clock.advance(Duration::from_millis(700));
    let again = app.oneshot(from("192.0.2.1:1", "x")).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn client_scope_gives_each_address_its_own_bucket() {
    let (limiter, _clock) = faked(RateScope::ClientIp, 1, 1);
    let app = RateLimitLayer::new(limiter).layer(echo());
    assert_eq!(
        app.clone()
            .oneshot(from("192.0.2.1:1", ""))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(from("192.0.2.1:2", ""))
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        app.clone()
            .oneshot(from("192.0.2.2:1", ""))
            .await
            .unwrap()
            .status(),
        200
    );
    // The same IPv6 /64 is one client; the next /64 is another.
    assert_eq!(
        app.clone()
            .oneshot(from("[2001:db8:0:1::a]:1", ""))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(from("[2001:db8:0:1::b]:1", ""))
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        app.oneshot(from("[2001:db8:0:2::a]:1", ""))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn client_scope_without_any_address_fails_closed() {
    let (limiter, _clock) = faked(RateScope::ClientIp, 1, 1);
    let app = RateLimitLayer::new(limiter).layer(echo());
    let req = Request::post("/hook").body(Full::from("x")).unwrap();
    let response = app.oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(body["error"], Reason::PeerUnknown.as_str());
}

#[tokio::test]
async fn extracted_keys_are_counted_apart_and_keyless_requests_together() {
    let tenant = |p: &http::request::Parts| {
        p.headers
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (limiter, _clock) = faked(RateScope::key(tenant), 1, 1);
    let app = RateLimitLayer::new(limiter).layer(echo());
    let with = |t: Option<&str>| {
        let mut builder = Request::post("/hook");
        if let Some(t) = t {
            builder = builder.header("x-tenant", t);
        }
        builder.body(Full::from("x")).unwrap()
    };
    assert_eq!(
        app.clone()
            .oneshot(with(Some("acme")))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(with(Some("acme")))
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        app.clone()
            .oneshot(with(Some("globex")))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(app.clone().oneshot(with(None)).await.unwrap().status(), 200);
    assert_eq!(
        app.oneshot(with(None)).await.unwrap().status(),
        429,
        "keyless share a bucket"
    );
}

#[tokio::test]
async fn routes_sharing_one_store_keep_separate_buckets() {
    let clock = FakeRelativeClock::default();
    let quota = RateQuota::per_second(1).unwrap();
    let store = Arc::new(MemoryStore::with_clock(quota, 100, clock).unwrap());
    let github = RateLimitLayer::new(RateLimiter::with_store(
        RateScope::route("github"),
        store.clone(),
    ))
    .layer(echo());
    let stripe = RateLimitLayer::new(RateLimiter::with_store(
        RateScope::route("stripe"),
        store.clone(),
    ))
    .layer(echo());
    assert_eq!(
        github
            .clone()
            .oneshot(from("192.0.2.1:1", ""))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        github
            .oneshot(from("192.0.2.9:1", ""))
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        stripe
            .oneshot(from("192.0.2.1:1", ""))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn any_request_body_type_passes_through_unread() {
    let (limiter, _clock) = faked(RateScope::Global, 1, 1);
    let inner = service_fn(|req: Request<&'static str>| async move {
        Ok::<_, Infallible>(Response::new(Full::from(*req.body())))
    });
    let app = RateLimitLayer::new(limiter).layer(inner);
    let req = Request::post("/hook").body("raw").unwrap();
    let response = app.oneshot(req).await.unwrap();
    assert_eq!(body_text(response).await, "raw");
}

/// A store that answers later (like a remote one), or fails, and counts sweeps.
#[derive(Default)]
struct SlowStore {
    fail: bool,
    sweeps: AtomicUsize,
}

impl RateStore for SlowStore {
    type Future = Pin<Box<dyn Future<Output = Result<RateDecision, RateStoreError>> + Send>>;

    fn check(&self, _key: &LimitKey) -> Self::Future {
        let fail = self.fail;
        Box::pin(async move {
            tokio::task::yield_now().await;
            if fail {
                return Err(RateStoreError("connection refused".into()));
            }
            Ok(RateDecision {
                allowed: true,
                limit: 5,
                remaining: 4,
                reset: Duration::from_secs(1),
                retry_after: Duration::ZERO,
            })
        })
    }

    fn quota(&self) -> RateQuota {
        RateQuota::per_second(5).unwrap()
    }

    fn sweep(&self) {
        self.sweeps.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_store_that_answers_later_still_admits() {
    let limiter = RateLimiter::with_store(RateScope::Global, SlowStore::default());
    let mut app = RateLimitLayer::new(limiter).layer(echo());
    let response = app
        .ready()
        .await
        .unwrap()
        .call(from("192.0.2.1:1", "late"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "late");
}

#[tokio::test]
async fn a_failing_store_answers_503_and_does_not_call_the_app() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = service_fn(move |_req: Request<Full<Bytes>>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("app"))) }
    });
    let store = SlowStore {
        fail: true,
        ..SlowStore::default()
    };
    let app = ServiceBuilder::new()
        .layer(RateLimitLayer::new(RateLimiter::with_store(
            RateScope::Global,
            store,
        )))
        .service(app);
    let response = app.oneshot(from("192.0.2.1:1", "")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(!body_text(response).await.contains("connection refused"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn sweeper_runs_on_its_interval_and_stops_with_the_limiter() {
    let limiter = Arc::new(RateLimiter::with_store(
        RateScope::Global,
        SlowStore::default(),
    ));
    let task = limiter.spawn_sweeper(Duration::from_secs(30));
    let sweeps = || limiter.store().sweeps.load(Ordering::SeqCst);

    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(sweeps(), 0, "not before the first interval");
    for expected in 1..=3 {
        // Virtual time: the sweep runs on a blocking thread; wait for it boundedly.
        tokio::time::sleep(Duration::from_secs(30)).await;
        for _ in 0..1_000 {
            if sweeps() >= expected {
                break;
            }
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_micros(50));
        }
        assert_eq!(sweeps(), expected);
    }
    drop(limiter);
    tokio::time::timeout(Duration::from_secs(120), task)
        .await
        .unwrap()
        .unwrap();
}
