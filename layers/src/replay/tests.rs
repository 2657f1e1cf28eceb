use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::sync::Notify;
use tower::{service_fn, Layer, ServiceExt};

use super::*;
use crate::clock::FixedClock;
use crate::reject::Verdict;
use crate::verify::Verified;

const T0: i64 = 1_700_000_000;
const DAY: i64 = 24 * 60 * 60;

fn verified(id: Option<&str>) -> Verified {
    Verified {
        scheme: "github",
        secret_index: 0,
        secret_id: Arc::from("primary"),
        delivery_id: id.map(str::to_owned),
        timestamp: None,
    }
}

/// A request that passed verification with delivery id `id`; the echo app answers it
/// with `status`.
fn delivery(id: Option<&str>, status: u16) -> Request<Full<Bytes>> {
    let mut request = Request::post("/hook")
        .header("x-status", status.to_string())
        .body(Full::from("payload"))
        .unwrap();
    request.extensions_mut().insert(verified(id));
    request
}

/// The app: counts calls; answers with the `x-status` status and echoes the body; fails
/// with an error on `x-fail`; waits for `gate` on `x-wait`.
#[derive(Clone, Default)]
struct App {
    calls: Arc<AtomicUsize>,
    gate: Arc<Notify>,
}

impl App {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn service(
        &self,
    ) -> impl tower::Service<
        Request<Full<Bytes>>,
        Response = Response<Full<Bytes>>,
        Error = String,
        Future = impl Send,
    > + Clone
           + Send
           + 'static {
        let app = self.clone();
        service_fn(move |request: Request<Full<Bytes>>| {
            let app = app.clone();
            async move {
                app.calls.fetch_add(1, Ordering::SeqCst);
                if request.headers().contains_key("x-wait") {
                    app.gate.notified().await;
                }
                if request.headers().contains_key("x-fail") {
                    return Err("app failed".to_owned());
                }
                let status: u16 = request.headers()["x-status"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                Ok(Response::builder()
                    .status(status)
                    .body(request.into_body())
                    .unwrap())
            }
        })
    }
}

async fn send(
    layer: &ReplayGuardLayer,
    app: &App,
    request: Request<Full<Bytes>>,
) -> Response<Full<Bytes>> {
    layer.layer(app.service()).oneshot(request).await.unwrap()
}

async fn json_of(response: Response<Full<Bytes>>) -> serde_json::Value {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

fn guard(clock: &FixedClock) -> ReplayGuardLayer {
    ReplayGuardLayer::new("github", MemoryReplayStore::default()).clock(clock.clone())
}

#[tokio::test]
async fn duplicate_of_an_accepted_delivery_is_acknowledged_and_not_forwarded() {
    let clock = FixedClock::new(T0);
    let (layer, app) = (guard(&clock), App::default());
    let first = send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        first.into_body().collect().await.unwrap().to_bytes(),
        "payload"
    );

    clock.advance(60);
    let again = send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["content-type"], "application/json");
    let body = json_of(again).await;
    assert_eq!(body["error"], "duplicate");
    assert!(body["message"].as_str().unwrap().contains("not forwarded"));
    assert_eq!(app.calls(), 1, "the duplicate reached the app");

    // Another id is a new delivery.
    assert_eq!(
        send(&layer, &app, delivery(Some("d-2"), 200))
            .await
            .status(),
        200
    );
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn duplicate_can_be_answered_with_409() {
    let clock = FixedClock::new(T0);
    let layer = guard(&clock).on_duplicate(OnDuplicate::Conflict);
    let app = App::default();
    send(&layer, &app, delivery(Some("d-1"), 204)).await;
    let again = send(&layer, &app, delivery(Some("d-1"), 204)).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(json_of(again).await["error"], "duplicate");
    assert_eq!(app.calls(), 1);
}

#[tokio::test]
async fn server_error_releases_the_id_so_the_retry_is_forwarded() {
    let clock = FixedClock::new(T0);
    let (layer, app) = (guard(&clock), App::default());
    assert_eq!(
        send(&layer, &app, delivery(Some("d-1"), 503))
            .await
            .status(),
        503
    );
    let retry = send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(retry.status(), 200);
    assert_eq!(
        retry.into_body().collect().await.unwrap().to_bytes(),
        "payload"
    );
    assert_eq!(app.calls(), 2);
    // Now accepted: the next one is a duplicate.
    send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn client_error_from_the_app_is_not_an_acceptance() {
    let clock = FixedClock::new(T0);
    let (layer, app) = (guard(&clock), App::default());
    send(&layer, &app, delivery(Some("d-1"), 422)).await;
    send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn inner_error_releases_the_id() {
    let clock = FixedClock::new(T0);
    let (layer, app) = (guard(&clock), App::default());
    let mut failing = delivery(Some("d-1"), 200);
    failing.headers_mut().insert("x-fail", "1".parse().unwrap());
    let error = layer
        .layer(app.service())
        .oneshot(failing)
        .await
        .unwrap_err();
    assert_eq!(error, "app failed");
    assert_eq!(
        send(&layer, &app, delivery(Some("d-1"), 200))
            .await
            .status(),
        200
    );
    assert_eq!(app.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn timeout_around_the_stack_releases_the_id() {
    let clock = FixedClock::new(T0);
    let (layer, app) = (guard(&clock), App::default());
    let mut hanging = delivery(Some("d-1"), 200);
    hanging.headers_mut().insert("x-wait", "1".parse().unwrap());
    let call = layer.layer(app.service()).oneshot(hanging);
    // Paused time: the timeout fires as soon as the call is idle, and drops the call.
    assert!(tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .is_err());
    // The release runs in a task spawned by the drop.
    tokio::task::yield_now().await;
    let retry = send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(
        retry.into_body().collect().await.unwrap().to_bytes(),
        "payload"
    );
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn concurrent_duplicate_gets_409_until_the_first_is_settled() {
    let clock = FixedClock::new(T0);
    let (layer, app) = (guard(&clock), App::default());
    let mut slow = delivery(Some("d-1"), 200);
    slow.headers_mut().insert("x-wait", "1".parse().unwrap());
    let first = tokio::spawn(layer.layer(app.service()).oneshot(slow));
    while app.calls() == 0 {
        tokio::task::yield_now().await;
    }

    let meanwhile = send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(meanwhile.status(), StatusCode::CONFLICT);
    assert_eq!(meanwhile.headers()["retry-after"], "1");
    assert_eq!(json_of(meanwhile).await["error"], "duplicate_in_flight");

    app.gate.notify_one();
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    let later = send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(json_of(later).await["error"], "duplicate");
    assert_eq!(app.calls(), 1);
}

#[tokio::test]
async fn record_expires_after_the_window_on_the_injected_clock() {
    let clock = FixedClock::new(T0);
    let (layer, app) = (
        guard(&clock).window(Duration::from_secs(3600)),
        App::default(),
    );
    send(&layer, &app, delivery(Some("d-1"), 200)).await;
    clock.advance(3599);
    send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(app.calls(), 1, "replayed inside the window");
    clock.advance(1);
    send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(app.calls(), 2, "still refused after the window");
}

#[tokio::test]
async fn window_is_at_least_twice_the_tolerance() {
    let store = MemoryReplayStore::default();
    assert_eq!(
        ReplayPolicy::new("r", store.clone())
            .tolerance(Some(300))
            .window_secs(),
        DAY as u64
    );
    let policy = ReplayPolicy::new("r", store.clone()).tolerance(Some(30 * 3600));
    assert_eq!(policy.window_secs(), 60 * 3600);

    let clock = FixedClock::new(T0);
    let layer = ReplayGuardLayer::from_policy(policy.clock(clock.clone()));
    let app = App::default();
    send(&layer, &app, delivery(Some("d-1"), 200)).await;
    clock.advance(DAY + 3600);
    send(&layer, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(
        app.calls(),
        1,
        "a request still inside its tolerance was replayed"
    );
}

#[tokio::test]
async fn routes_sharing_a_store_are_independent() {
    let clock = FixedClock::new(T0);
    let store = MemoryReplayStore::default();
    let github = ReplayGuardLayer::new("github", store.clone()).clock(clock.clone());
    let stripe = ReplayGuardLayer::new("stripe", store).clock(clock.clone());
    let app = App::default();
    send(&github, &app, delivery(Some("same-id"), 200)).await;
    send(&stripe, &app, delivery(Some("same-id"), 200)).await;
    assert_eq!(app.calls(), 2);
    send(&stripe, &app, delivery(Some("same-id"), 200)).await;
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn request_without_delivery_id_passes_unless_refused() {
    let clock = FixedClock::new(T0);
    let app = App::default();
    let layer = guard(&clock);
    send(&layer, &app, delivery(None, 200)).await;
    send(&layer, &app, delivery(None, 200)).await;
    assert_eq!(app.calls(), 2);

    let strict = guard(&clock).on_missing_id(OnMissingId::Refuse);
    let refused = send(&strict, &app, delivery(None, 200)).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(refused).await["error"], "missing_delivery_id");
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn guard_without_verification_fails_closed() {
    let clock = FixedClock::new(T0);
    let app = App::default();
    let mut request = delivery(Some("d-1"), 200);
    request.extensions_mut().remove::<Verified>();
    let response = send(&guard(&clock), &app, request).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_of(response).await["error"], "not_verified");
    assert_eq!(app.calls(), 0);
}

#[tokio::test]
async fn overlong_delivery_id_is_refused() {
    let clock = FixedClock::new(T0);
    let app = App::default();
    let id = "x".repeat(MAX_DELIVERY_ID_LEN + 1);
    let response = send(&guard(&clock), &app, delivery(Some(&id), 200)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.calls(), 0);
}

/// A store that is down.
struct DownStore;

impl ReplayStore for DownStore {
    fn name(&self) -> &'static str {
        "down"
    }
    fn reserve<'a>(&'a self, _: &'a ReplayKey, _: i64, _: i64) -> StoreFuture<'a, Reservation> {
        Box::pin(async {
            Err(StoreError {
                store: "down",
                problem: "connection refused".into(),
            })
        })
    }
    fn commit<'a>(
        &'a self,
        _: &'a ReplayKey,
        _: ReservationToken,
        _: i64,
        _: i64,
    ) -> StoreFuture<'a, ()> {
        unreachable!("nothing is reserved in a store that is down")
    }
    fn release<'a>(&'a self, _: &'a ReplayKey, _: ReservationToken) -> StoreFuture<'a, ()> {
        unreachable!("nothing is reserved in a store that is down")
    }
}

#[tokio::test]
async fn unreachable_store_refuses_with_503_or_passes_when_configured() {
    let app = App::default();
    let refusing = ReplayGuardLayer::new("github", DownStore);
    let response = send(&refusing, &app, delivery(Some("d-1"), 200)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(json_of(response).await["error"], "replay_store_unavailable");
    assert_eq!(app.calls(), 0);

    let passing = ReplayGuardLayer::new("github", DownStore).on_store_error(OnStoreError::Pass);
    assert_eq!(
        send(&passing, &app, delivery(Some("d-1"), 200))
            .await
            .status(),
        200
    );
    assert_eq!(app.calls(), 1);
}

#[tokio::test]
async fn sidecar_forward_carries_the_reservation_until_the_upstream_answers() {
    let clock = FixedClock::new(T0);
    let layer = guard(&clock);
    // The sidecar's innermost service: hand the admitted request back.
    let stack = || {
        layer.layer(service_fn(|request: Request<Bytes>| async move {
            Ok::<_, Infallible>(Verdict::Forward(request))
        }))
    };
    let request = || {
        let mut r = Request::post("/hook")
            .body(Bytes::from_static(b"payload"))
            .unwrap();
        r.extensions_mut().insert(verified(Some("d-1")));
        r
    };

    let Verdict::Forward(forwarded) = stack().oneshot(request()).await.unwrap() else {
        panic!("first delivery not forwarded");
    };
    let pending = forwarded
        .extensions()
        .get::<PendingDelivery>()
        .unwrap()
        .clone();
    assert_eq!((pending.route(), pending.delivery_id()), ("github", "d-1"));
    assert!(!pending.is_settled());

    // Not settled yet: a concurrent copy must not be acknowledged.
    let Verdict::Respond(meanwhile) = stack().oneshot(request()).await.unwrap() else {
        panic!("copy forwarded while the first is in flight");
    };
    assert_eq!(meanwhile.status(), StatusCode::CONFLICT);

    // The upstream answered 2xx.
    pending.commit().await.unwrap();
    drop(forwarded);
    let Verdict::Respond(duplicate) = stack().oneshot(request()).await.unwrap() else {
        panic!("duplicate forwarded");
    };
    assert_eq!(duplicate.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(duplicate.body()).unwrap();
    assert_eq!(body["error"], "duplicate");
}

#[tokio::test]
async fn settling_twice_keeps_the_first_outcome() {
    let clock = FixedClock::new(T0);
    let policy = ReplayPolicy::new("github", MemoryReplayStore::default()).clock(clock);
    let Ok(Tracking::Pending(pending)) = policy.check(Some(&verified(Some("d-1")))).await else {
        panic!("fresh delivery not reserved");
    };
    pending.commit().await.unwrap();
    pending.release().await.unwrap();
    let again = policy
        .check(Some(&verified(Some("d-1"))))
        .await
        .unwrap_err();
    assert_eq!(again.reason, crate::Reason::Duplicate);
}

// Pinned by mutation testing: each of these could change without any other test failing.

#[tokio::test]
async fn a_delivery_id_of_exactly_the_maximum_length_is_admitted() {
    let clock = FixedClock::new(T0);
    let app = App::default();
    let id = "x".repeat(MAX_DELIVERY_ID_LEN);
    let response = send(&guard(&clock), &app, delivery(Some(&id), 200)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.calls(), 1);
}

#[tokio::test]
async fn an_unsettled_reservation_holds_for_the_default_lease_of_five_minutes() {
    assert_eq!(DEFAULT_LEASE, Duration::from_secs(300));
    let clock = FixedClock::new(T0);
    let policy = ReplayPolicy::new("github", MemoryReplayStore::default()).clock(clock.clone());
    let Ok(Tracking::Pending(pending)) = policy.check(Some(&verified(Some("d-1")))).await else {
        panic!("fresh delivery not reserved");
    };
    // The request hangs somewhere: never settled, never dropped.
    clock.set(T0 + 299);
    let err = policy
        .check(Some(&verified(Some("d-1"))))
        .await
        .unwrap_err();
    assert_eq!(
        err.status,
        StatusCode::CONFLICT,
        "released before the lease ran out"
    );
    clock.set(T0 + 300);
    let Ok(Tracking::Pending(retry)) = policy.check(Some(&verified(Some("d-1")))).await else {
        panic!("the lease never ran out");
    };
    retry.release().await.unwrap();
    pending.release().await.unwrap();
}

#[tokio::test]
async fn a_pending_delivery_is_settled_by_commit_or_release() {
    let clock = FixedClock::new(T0);
    let policy = ReplayPolicy::new("github", MemoryReplayStore::default()).clock(clock);
    for (id, commit) in [("d-1", true), ("d-2", false)] {
        let Ok(Tracking::Pending(pending)) = policy.check(Some(&verified(Some(id)))).await else {
            panic!("fresh delivery not reserved");
        };
        assert!(!pending.is_settled());
        if commit {
            pending.commit().await.unwrap();
        } else {
            pending.release().await.unwrap();
        }
        assert!(pending.is_settled(), "{id}");
    }
}

/// The delivery id header must come once: a scheme reads a repeated one as no id at all,
/// which would let a replay pass untracked (issue 15, item 4). Absent is the missing-id
/// rule's business, not this check's.
#[test]
fn a_repeated_delivery_id_header_is_refused_once_or_absent_passes() {
    let source = crate::verify::DeliveryIdSource {
        headers: vec![http::HeaderName::from_static("x-github-delivery")],
        signed: false,
        always_sent: true,
    };
    let policy = ReplayPolicy::new("github", MemoryReplayStore::default()).delivery_ids(&source);
    assert_eq!(policy.route(), "github");
    let mut headers = http::HeaderMap::new();
    headers.insert("x-other", "1".parse().unwrap());
    assert!(policy.check_id_headers(&headers).is_ok(), "absent");
    headers.append("x-github-delivery", "d-1".parse().unwrap());
    assert!(policy.check_id_headers(&headers).is_ok(), "once");
    headers.append("x-github-delivery", "d-2".parse().unwrap());
    let response: Response<Bytes> = policy
        .check_id_headers(&headers)
        .expect_err("twice is refused")
        .into_response();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.extensions().get::<crate::Reason>(),
        Some(&crate::Reason::DuplicateHeader)
    );
    assert!(String::from_utf8_lossy(response.body()).contains("appears 2 times"));
}
