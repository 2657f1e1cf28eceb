//! The engine against a memory store and real HTTP servers on 127.0.0.1:0. Time is a
//! manual clock: a retry becomes due only when a test moves it, so "not before 7 s" is
//! exact and nothing sleeps through a schedule.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookguard_delivery::{
    AttemptOutcome, Bounds, BreakerConfig, BreakerState, DeadCode, DestinationPolicy,
    DestinationStats, Direction, Engine, ErrorKind, HttpTransport, ListQuery, MemoryQueueStore,
    Message, MessageId, Metadata, NewMessage, QueueStore, Sealer, Settlement, State, StoreError,
    Timestamp,
};
use support::*;

// --- delivering -------------------------------------------------------------------------

#[tokio::test]
async fn delivered_once_with_exact_bytes_and_the_attempt_header() {
    let app = always(Reply::ok()).await;
    let h = harness(&app.base());
    h.destinations(&[("github", policy())]);
    let body: Vec<u8> = (0..=255u8).rev().collect();
    let mut request = post("/hooks/github?delivery=1", &body);
    request.headers.extend([
        ("X-GitHub-Delivery".into(), "d-1".into()),
        ("host".into(), "hookguard.example".into()),
        ("content-length".into(), "999".into()),
        ("connection".into(), "keep-alive, x-hop".into()),
        ("x-hop".into(), "one hop only".into()),
        ("x-hookguard-attempt".into(), "forged".into()),
    ]);
    let id = h.enqueue("github", None, &request).await;

    assert_eventually!(h.state(&id).await == State::Delivered);
    let got = app.requests();
    assert_eq!(got.len(), 1);
    let got = &got[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.target, "/hooks/github?delivery=1");
    assert_eq!(got.body, Bytes::from(body));
    assert_eq!(got.header("x-hookguard-attempt"), Some("1"));
    assert_eq!(got.headers.get_all("x-hookguard-attempt").iter().count(), 1);
    assert_eq!(got.header("x-github-delivery"), Some("d-1"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("content-length"), Some("256"));
    assert_eq!(got.header("host"), Some(app.addr().to_string().as_str()));
    assert_eq!(
        got.header("x-hop"),
        None,
        "named by connection: one hop only"
    );

    let message = h.message(&id).await;
    assert_eq!(message.attempts.len(), 1);
    assert_eq!(message.attempts[0].outcome.status(), Some(200));
    tokio::time::sleep(QUIET).await;
    assert_eq!(app.count(), 1, "delivered once");
    assert_eq!(h.seen.delivered.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_503_is_retried_on_schedule_then_delivered() {
    let app = upstream(|_, n| match n {
        0 => Reply::status(503),
        _ => Reply::ok(),
    })
    .await;
    let h = harness(&app.base());
    h.destinations(&[("app", policy())]);
    let id = h.enqueue("app", None, &post("/hook", b"{}")).await;

    assert_eventually!(h.state(&id).await == State::Scheduled);
    let message = h.message(&id).await;
    assert_eq!(message.next_attempt_at, START.add(Duration::from_secs(5)));
    tokio::time::sleep(QUIET).await;
    assert_eq!(app.count(), 1, "not retried before its time");

    h.clock.advance(Duration::from_secs(5));
    assert_eventually!(h.state(&id).await == State::Delivered);
    let attempts: Vec<_> = app
        .requests()
        .iter()
        .map(|r| r.header("x-hookguard-attempt").unwrap().to_owned())
        .collect();
    assert_eq!(attempts, ["1", "2"]);
    let statuses: Vec<_> = h
        .message(&id)
        .await
        .attempts
        .iter()
        .map(|a| a.outcome.status())
        .collect();
    assert_eq!(statuses, [Some(503), Some(200)]);
    assert_eq!(
        *h.seen.retries.lock().unwrap(),
        [("app".to_owned(), Duration::from_secs(5))]
    );
}

#[tokio::test]
async fn a_404_is_dead_lettered_at_once_naming_the_status() {
    let app = always(Reply::status(404)).await;
    let h = harness(&app.base());
    h.destinations(&[("app", policy())]);
    let id = h.enqueue("app", None, &post("/gone", b"{}")).await;

    assert_eventually!(h.state(&id).await == State::Dead);
    let reason = h.message(&id).await.dead_reason.unwrap();
    assert_eq!(reason.code, DeadCode::Rejected);
    assert!(reason.detail.contains("404 Not Found"), "{}", reason.detail);
    h.clock.advance(Duration::from_secs(3600));
    tokio::time::sleep(QUIET).await;
    assert_eq!(app.count(), 1);
    assert_eq!(
        *h.seen.dead.lock().unwrap(),
        [("app".to_owned(), DeadCode::Rejected)]
    );
}

#[tokio::test]
async fn a_5xx_is_retried_max_retries_times_then_dead_with_every_attempt() {
    let app = always(Reply::status(500).body("database down")).await;
    let h = harness(&app.base());
    let policy = DestinationPolicy {
        max_retries: 3,
        schedule: exact(&[5, 30]),
        ..policy()
    };
    h.destinations(&[("app", policy)]);
    let id = h.enqueue("app", None, &post("/hook", b"{}")).await;

    for (attempts, wait) in [(1, 5), (2, 30), (3, 30)] {
        assert_eventually!(h.message(&id).await.attempts.len() == attempts);
        assert_eq!(h.state(&id).await, State::Scheduled);
        h.clock.advance(Duration::from_secs(wait));
    }
    assert_eventually!(h.state(&id).await == State::Dead);
    let message = h.message(&id).await;
    assert_eq!(message.attempts.len(), 4, "1 attempt + 3 retries");
    assert!(message
        .attempts
        .iter()
        .all(|a| a.outcome.status() == Some(500)));
    let AttemptOutcome::Status { body, .. } = &message.attempts[0].outcome else {
        panic!("a status");
    };
    assert_eq!(body.as_deref(), Some("database down"));
    let reason = message.dead_reason.unwrap();
    assert_eq!(reason.code, DeadCode::RetriesExhausted);
    assert_eq!(reason.detail, "4 attempts, last: 500 Internal Server Error");
    assert_eq!(app.count(), 4);
}

#[tokio::test]
async fn retry_after_7_is_honoured() {
    let app = upstream(|_, n| match n {
        0 => Reply::status(429).header("retry-after", "7"),
        _ => Reply::ok(),
    })
    .await;
    let h = harness(&app.base());
    h.destinations(&[("app", policy())]);
    let id = h.enqueue("app", None, &post("/hook", b"{}")).await;

    assert_eventually!(h.state(&id).await == State::Scheduled);
    assert_eq!(
        h.message(&id).await.next_attempt_at,
        START.add(Duration::from_secs(7))
    );
    h.clock.advance(Duration::from_millis(6_999));
    tokio::time::sleep(QUIET).await;
    assert_eq!(app.count(), 1, "retried before Retry-After");
    h.clock.advance(Duration::from_millis(1));
    assert_eventually!(h.state(&id).await == State::Delivered);
    let attempts = h.message(&id).await.attempts;
    assert!(attempts[1].at >= attempts[0].at.add(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let app = upstream(|_, n| match n {
        0 => Reply::ok().delay(Duration::from_secs(5)),
        _ => Reply::ok(),
    })
    .await;
    let h = harness(&app.base());
    let policy = DestinationPolicy {
        timeout: Duration::from_millis(200),
        ..policy()
    };
    h.destinations(&[("app", policy)]);
    let id = h.enqueue("app", None, &post("/slow", b"{}")).await;

    assert_eventually!(h.state(&id).await == State::Scheduled);
    let first = &h.message(&id).await.attempts[0];
    assert!(
        matches!(
            first.outcome,
            AttemptOutcome::Error {
                kind: ErrorKind::Timeout,
                ..
            }
        ),
        "{:?}",
        first.outcome
    );
    h.clock.advance(Duration::from_secs(5));
    assert_eventually!(h.state(&id).await == State::Delivered);
}

// --- isolation: breaker and concurrency ---------------------------------------------------

fn breaker_after(failures: u32) -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: failures,
        failure_rate: 0.0,
        cool_down: Duration::from_secs(30),
        ..BreakerConfig::default()
    }
}

#[tokio::test]
async fn the_breaker_opens_for_a_dead_destination_while_another_keeps_being_delivered() {
    let app = always(Reply::ok()).await;
    let down = refusing_address().await;
    let h = harness_with(std::sync::Arc::new(
        hookguard_delivery::HttpTransport::to_urls().unwrap(),
    ));
    let dead_policy = DestinationPolicy {
        concurrency: 1,
        schedule: exact(&[0]),
        breaker: breaker_after(3),
        ..policy()
    };
    h.destinations(&[("down", dead_policy), ("up", policy())]);
    let mut waiting = Vec::new();
    for i in 0..5 {
        waiting.push(
            h.enqueue("down", None, &post(&format!("{down}/{i}"), b"{}"))
                .await,
        );
    }
    assert_eventually!(h.breaker_of("down") == Some(BreakerState::Open));

    let mut delivered = Vec::new();
    for i in 0..5 {
        let url = format!("{}/{i}", app.base());
        delivered.push(h.enqueue("up", None, &post(&url, b"{}")).await);
    }
    for id in &delivered {
        assert_eventually!(h.state(id).await == State::Delivered);
    }
    assert_eq!(h.breaker_of("up"), Some(BreakerState::Closed));

    // Three attempts opened it; since then nothing was sent and nothing was burned.
    tokio::time::sleep(QUIET).await;
    let mut attempts = 0;
    for id in &waiting {
        let message = h.message(id).await;
        attempts += message.attempts.len();
        assert_ne!(message.state, State::Dead);
        assert!(message.attempts.iter().all(|a| matches!(
            a.outcome,
            AttemptOutcome::Error {
                kind: ErrorKind::Connect,
                ..
            }
        )));
    }
    assert_eq!(attempts, 3);

    // After the cool-down one probe goes; it fails, so the breaker opens again.
    h.clock.advance(Duration::from_secs(30));
    assert_eventually!(h.seen.breaker.lock().unwrap().len() == 3);
    tokio::time::sleep(QUIET).await;
    let states: Vec<_> = h.seen.breaker.lock().unwrap().clone();
    let down_states: Vec<_> = states.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        down_states,
        [
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::Open
        ]
    );
    let mut after = 0;
    for id in &waiting {
        after += h.message(id).await.attempts.len();
    }
    assert_eq!(after, 4, "exactly one probe");
}

#[tokio::test]
async fn a_good_probe_closes_the_breaker_and_the_backlog_is_delivered() {
    let app = upstream(|_, n| {
        if n < 2 {
            Reply::status(502)
        } else {
            Reply::ok()
        }
    })
    .await;
    let h = harness(&app.base());
    let policy = DestinationPolicy {
        concurrency: 1,
        schedule: exact(&[60]),
        breaker: breaker_after(2),
        ..policy()
    };
    h.destinations(&[("app", policy)]);
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(h.enqueue("app", None, &post(&format!("/{i}"), b"{}")).await);
    }
    assert_eventually!(h.breaker_of("app") == Some(BreakerState::Open));
    tokio::time::sleep(QUIET).await;
    assert_eq!(app.count(), 2);

    h.clock.advance(Duration::from_secs(30));
    // The probe is the first message due (the two that failed wait until +60 s).
    for id in &ids[2..] {
        assert_eventually!(h.state(id).await == State::Delivered);
    }
    assert_eq!(h.breaker_of("app"), Some(BreakerState::Closed));
    h.clock.advance(Duration::from_secs(60));
    for id in &ids[..2] {
        assert_eventually!(h.state(id).await == State::Delivered);
    }
    let states: Vec<_> = h
        .seen
        .breaker
        .lock()
        .unwrap()
        .iter()
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(
        states,
        [
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::Closed
        ]
    );
}

#[tokio::test]
async fn never_more_than_concurrency_requests_at_once() {
    let app = always(Reply::ok().delay(Duration::from_millis(100))).await;
    let h = harness(&app.base());
    h.destinations(&[(
        "app",
        DestinationPolicy {
            concurrency: 3,
            ..policy()
        },
    )]);
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(h.enqueue("app", None, &post(&format!("/{i}"), b"{}")).await);
    }
    for id in &ids {
        assert_eventually!(h.state(id).await == State::Delivered);
    }
    assert_eq!(app.count(), 12);
    assert_eq!(app.peak(), 3, "the bound is reached and never passed");
}

// --- ordering -----------------------------------------------------------------------------

#[tokio::test]
async fn with_a_key_the_second_waits_for_the_first_even_across_a_failing_head() {
    let failed_once = std::sync::atomic::AtomicBool::new(false);
    let app = upstream(move |r, _| {
        if r.target == "/a1" && !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            Reply::status(503)
        } else {
            Reply::ok()
        }
    })
    .await;
    let h = harness(&app.base());
    h.destinations(&[("app", policy())]);
    let a1 = h.enqueue("app", Some("order-a"), &post("/a1", b"1")).await;
    let a2 = h.enqueue("app", Some("order-a"), &post("/a2", b"2")).await;
    let b1 = h.enqueue("app", Some("order-b"), &post("/b1", b"3")).await;

    // The failing head holds back its own key only.
    assert_eventually!(h.state(&b1).await == State::Delivered);
    assert_eventually!(h.state(&a1).await == State::Scheduled);
    tokio::time::sleep(QUIET).await;
    assert!(
        !app.targets().contains(&"/a2".to_owned()),
        "{:?}",
        app.targets()
    );
    assert_eq!(h.state(&a2).await, State::Ready);

    h.clock.advance(Duration::from_secs(5));
    assert_eventually!(h.state(&a2).await == State::Delivered);
    let lane: Vec<_> = app
        .targets()
        .into_iter()
        .filter(|t| t.starts_with("/a"))
        .collect();
    assert_eq!(lane, ["/a1", "/a1", "/a2"]);
}

#[tokio::test]
async fn a_dead_head_lets_its_lane_move_on() {
    let app = upstream(|r, _| {
        if r.target == "/a1" {
            Reply::status(422)
        } else {
            Reply::ok()
        }
    })
    .await;
    let h = harness(&app.base());
    h.destinations(&[("app", policy())]);
    let a1 = h.enqueue("app", Some("k"), &post("/a1", b"1")).await;
    let a2 = h.enqueue("app", Some("k"), &post("/a2", b"2")).await;
    assert_eventually!(h.state(&a2).await == State::Delivered);
    assert_eq!(h.state(&a1).await, State::Dead);
    assert_eq!(app.targets(), ["/a1", "/a2"]);
}

// --- bad data, reloads --------------------------------------------------------------------

#[tokio::test]
async fn an_undecodable_payload_is_dead_lettered_not_sent() {
    let app = always(Reply::ok()).await;
    let h = harness(&app.base());
    h.destinations(&[("app", policy())]);
    let bad = h
        .enqueue_payload("app", None, Bytes::from_static(b"\x07not a request"))
        .await;
    let truncated = h
        .enqueue_payload("app", None, Bytes::from_static(b"\x00\x05PO"))
        .await;
    let good = h.enqueue("app", None, &post("/ok", b"{}")).await;

    assert_eventually!(h.state(&good).await == State::Delivered);
    for id in [&bad, &truncated] {
        assert_eventually!(h.state(id).await == State::Dead);
        let message = h.message(id).await;
        assert_eq!(
            message.dead_reason.as_ref().unwrap().code,
            DeadCode::Undecodable
        );
        assert!(message.attempts.is_empty());
    }
    assert!(h
        .message(&bad)
        .await
        .dead_reason
        .unwrap()
        .detail
        .contains("unknown version byte 7"));
    assert_eq!(app.targets(), ["/ok"]);
}

#[tokio::test]
async fn set_destinations_starts_stops_and_updates_loops() {
    let app = always(Reply::ok()).await;
    let h = harness(&app.base());
    h.destinations(&[("a", policy())]);
    let for_a = h.enqueue("a", None, &post("/a", b"{}")).await;
    let for_b = h.enqueue("b", None, &post("/b", b"{}")).await;
    assert_eventually!(h.state(&for_a).await == State::Delivered);
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        h.state(&for_b).await,
        State::Ready,
        "unknown: waits, not dead"
    );

    h.destinations(&[("a", policy()), ("b", policy())]);
    assert_eventually!(h.state(&for_b).await == State::Delivered);

    h.destinations(&[("b", policy())]);
    let names: Vec<_> = h
        .engine
        .breaker_states()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(names, ["b"]);
    let later = h.enqueue("a", None, &post("/a", b"{}")).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(h.state(&later).await, State::Ready);
    h.engine.shutdown().await;
}

#[tokio::test]
async fn a_reloaded_policy_reaches_a_running_loop() {
    let app = always(Reply::status(503)).await;
    let h = harness(&app.base());
    let one_retry = DestinationPolicy {
        max_retries: 1,
        ..policy()
    };
    h.destinations(&[("app", one_retry.clone())]);
    let id = h.enqueue("app", None, &post("/x", b"{}")).await;
    assert_eventually!(h.state(&id).await == State::Scheduled);

    // With max_retries 1 the next failure would be the last; with 3 it is not.
    h.destinations(&[(
        "app",
        DestinationPolicy {
            max_retries: 3,
            ..one_retry
        },
    )]);
    h.clock.advance(Duration::from_secs(5));
    assert_eventually!(h.message(&id).await.attempts.len() == 2);
    assert_eq!(h.state(&id).await, State::Scheduled);
}

#[tokio::test]
async fn shutdown_stops_claiming() {
    let app = always(Reply::ok()).await;
    let h = harness(&app.base());
    h.destinations(&[("app", policy())]);
    h.engine.shutdown().await;
    let id = h.enqueue("app", None, &post("/x", b"{}")).await;
    h.destinations(&[("app", policy())]);
    tokio::time::sleep(QUIET).await;
    assert_eq!(h.state(&id).await, State::Ready);
    assert_eq!(app.count(), 0);
}

// --- what the observer is told, and when ------------------------------------------------

/// A memory store whose `settle` is applied at once but answered only when the test adds
/// a permit: the embedded store's window between a settlement being written (visible to
/// `stats` and `get`) and its group commit being acknowledged, held open.
struct HeldSettle {
    inner: MemoryQueueStore,
    permits: tokio::sync::Semaphore,
}

#[async_trait::async_trait]
impl QueueStore for HeldSettle {
    async fn enqueue(&self, message: NewMessage, bounds: Bounds) -> Result<MessageId, StoreError> {
        self.inner.enqueue(message, bounds).await
    }
    async fn claim(
        &self,
        destination: &str,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Message>, StoreError> {
        self.inner.claim(destination, now, limit, lease).await
    }
    async fn settle(
        &self,
        id: &MessageId,
        settlement: Settlement,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let applied = self.inner.settle(id, settlement, now).await;
        self.permits.acquire().await.expect("never closed").forget();
        applied
    }
    async fn get(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        self.inner.get(id).await
    }
    async fn list(&self, query: &ListQuery) -> Result<Vec<Message>, StoreError> {
        self.inner.list(query).await
    }
    async fn requeue(&self, id: &MessageId, now: Timestamp) -> Result<bool, StoreError> {
        self.inner.requeue(id, now).await
    }
    async fn delete(&self, id: &MessageId) -> Result<bool, StoreError> {
        self.inner.delete(id).await
    }
    async fn stats(&self) -> Result<Vec<DestinationStats>, StoreError> {
        self.inner.stats().await
    }
    async fn expire(
        &self,
        now: Timestamp,
        delivered_for: Duration,
        dead_for: Duration,
    ) -> Result<u64, StoreError> {
        self.inner.expire(now, delivered_for, dead_for).await
    }
}

/// The sidecar's `hookguard_delivery_lag_seconds` counts deliveries from this call, and
/// crash tests wait on it before a kill -9: it must mean "durable", not "written".
#[tokio::test]
async fn a_delivery_is_reported_only_once_the_store_acknowledged_its_settlement() {
    let app = always(Reply::ok()).await;
    let store = Arc::new(HeldSettle {
        inner: MemoryQueueStore::new(),
        permits: tokio::sync::Semaphore::new(0),
    });
    let seen = Arc::new(Seen::default());
    let transport = HttpTransport::to_base(app.base()).unwrap();
    let engine = Engine::new(store.clone(), Sealer::plain(), Arc::new(transport))
        .observer(seen.clone())
        .poll_interval(Duration::from_millis(10));
    engine.set_destinations(HashMap::from([("app".to_owned(), policy())]));
    let new = NewMessage {
        destination: "app".into(),
        direction: Direction::Outbound,
        ordering_key: None,
        payload: Sealer::plain().seal(&post("/x", b"{}")),
        meta: Metadata {
            received_at: Timestamp::now(),
            ..Metadata::default()
        },
    };
    let id = store.enqueue(new, Bounds::UNBOUNDED).await.unwrap();
    engine.notify("app");

    // Written: the store already says delivered, but has not answered the settle.
    assert_eventually!(store.get(&id).await.unwrap().unwrap().state == State::Delivered);
    tokio::time::sleep(QUIET).await;
    assert!(seen.delivered.lock().unwrap().is_empty());
    assert_eq!(
        seen.attempts.lock().unwrap().len(),
        1,
        "the attempt is reported"
    );

    store.permits.add_permits(1);
    assert_eventually!(seen.delivered.lock().unwrap().len() == 1);
    assert_eq!(app.count(), 1);
    engine.shutdown().await;
}
