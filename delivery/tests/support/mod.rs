//! Support for the engine's tests: a scripted, recording HTTP server on `127.0.0.1:0`,
//! an engine wired to it with a manual clock, and `assert_eventually!`.
//!
//! (`hookguard-tests` has a recording upstream too, but one status for every request;
//! these tests need a reply per request, `Retry-After`, and the peak of concurrent
//! requests — and that crate would pull the whole `layers` crate into this one's build.)
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookguard_delivery::{
    AttemptOutcome, Bounds, BreakerConfig, BreakerState, Clock, DeadCode, DestinationPolicy,
    Direction, Engine, HttpTransport, ManualClock, MemoryQueueStore, Message, MessageId, Metadata,
    NewMessage, Observer, QueueStore, Request, Schedule, Sealer, Timestamp,
};

/// How long `assert_eventually!` polls before failing.
pub const EVENTUALLY: Duration = Duration::from_secs(10);

/// Polls a condition every 10 ms until it holds; fails the test after [`EVENTUALLY`].
#[macro_export]
macro_rules! assert_eventually {
    ($cond:expr, $($msg:tt)+) => {{
        let deadline = ::std::time::Instant::now() + $crate::support::EVENTUALLY;
        loop {
            if $cond {
                break;
            }
            if ::std::time::Instant::now() >= deadline {
                panic!("not true within {:?}: {}", $crate::support::EVENTUALLY, format!($($msg)+));
            }
            ::tokio::time::sleep(::std::time::Duration::from_millis(10)).await;
        }
    }};
    ($cond:expr) => {
        $crate::assert_eventually!($cond, "{}", stringify!($cond))
    };
}

/// Long enough for several engine polls (10 ms each): "nothing happened meanwhile".
pub const QUIET: Duration = Duration::from_millis(150);

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }
    pub fn ok() -> Self {
        Self::status(200)
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Script = Box<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

struct ServerState {
    requests: Mutex<Vec<Recorded>>,
    script: Script,
    current: AtomicUsize,
    peak: AtomicUsize,
}

/// A running server; stops when dropped.
pub struct Upstream {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

/// Serves on `127.0.0.1:0`, answering request number `n` (0-based, over all paths) to
/// `script(&request, n)`.
pub async fn upstream(
    script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
) -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let state = Arc::new(ServerState {
        requests: Mutex::default(),
        script: Box::new(script),
        current: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(Arc::clone(&state));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Upstream { addr, state, task }
}

/// Answers every request with `reply`.
pub async fn always(reply: Reply) -> Upstream {
    upstream(move |_, _| reply.clone()).await
}

async fn answer(
    AxumState(state): AxumState<Arc<ServerState>>,
    request: axum::extract::Request,
) -> Response {
    let now = state.current.fetch_add(1, Ordering::SeqCst) + 1;
    state.peak.fetch_max(now, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.to_string()),
        headers: parts.headers,
        body,
    };
    let reply = {
        let mut requests = state.requests.lock().unwrap();
        let reply = (state.script)(&recorded, requests.len());
        requests.push(recorded);
        reply
    };
    tokio::time::sleep(reply.delay).await;
    state.current.fetch_sub(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    for (name, value) in reply.headers {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        headers,
        reply.body,
    )
        .into_response()
}

impl Upstream {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
    /// The one request received; fails the test when there were none or several.
    pub fn only(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{:?}", self.targets());
        requests[0].clone()
    }
    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
    pub fn targets(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.target).collect()
    }
    /// The most requests it was answering at once.
    pub fn peak(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address that refuses connections (bound, then released).
pub async fn refusing_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

pub const START: Timestamp = Timestamp(1_700_000_000_000);

/// Exact delays, no jitter.
pub fn exact(delays: &[u64]) -> Schedule {
    Schedule::new(
        delays
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect::<Vec<_>>(),
    )
    .unwrap()
    .with_jitter(|max: Duration| max)
}

/// A policy for tests: exact 5 s retries, a breaker that stays out of the way.
pub fn policy() -> DestinationPolicy {
    DestinationPolicy {
        max_retries: 5,
        timeout: Duration::from_secs(5),
        concurrency: 4,
        schedule: exact(&[5]),
        breaker: BreakerConfig {
            consecutive_failures: 1000,
            failure_rate: 0.0,
            ..BreakerConfig::default()
        },
        lease: Duration::from_secs(60),
    }
}

/// What the observer saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub attempts: Mutex<Vec<(String, Option<u16>)>>,
    pub delivered: Mutex<Vec<(String, Duration)>>,
    pub retries: Mutex<Vec<(String, Duration)>>,
    pub dead: Mutex<Vec<(String, DeadCode)>>,
    pub breaker: Mutex<Vec<(String, BreakerState)>>,
}

impl Observer for Seen {
    fn attempt(&self, d: &str, _: Direction, outcome: &AttemptOutcome, _: Duration) {
        self.attempts
            .lock()
            .unwrap()
            .push((d.into(), outcome.status()));
    }
    fn delivered(&self, d: &str, _: Direction, lag: Duration) {
        self.delivered.lock().unwrap().push((d.into(), lag));
    }
    fn retry_scheduled(&self, d: &str, _: Direction, delay: Duration) {
        self.retries.lock().unwrap().push((d.into(), delay));
    }
    fn dead_lettered(&self, d: &str, _: Direction, code: DeadCode) {
        self.dead.lock().unwrap().push((d.into(), code));
    }
    fn breaker(&self, d: &str, state: BreakerState) {
        self.breaker.lock().unwrap().push((d.into(), state));
    }
}

/// An engine over a memory store, a manual clock and an observer, polling every 10 ms.
pub struct Harness {
    pub store: Arc<MemoryQueueStore>,
    pub clock: ManualClock,
    pub seen: Arc<Seen>,
    pub engine: Engine,
}

/// Delivers to `base` + target with the attempt header on.
pub fn harness(base: &str) -> Harness {
    let transport = HttpTransport::to_base(base).unwrap().attempt_header(true);
    harness_with(Arc::new(transport))
}

pub fn harness_with(transport: Arc<dyn hookguard_delivery::Transport>) -> Harness {
    let store = Arc::new(MemoryQueueStore::new());
    let clock = ManualClock::new(START);
    let seen = Arc::new(Seen::default());
    let engine = Engine::new(store.clone(), Sealer::plain(), transport)
        .clock(Arc::new(clock.clone()))
        .observer(seen.clone())
        .poll_interval(Duration::from_millis(10));
    Harness {
        store,
        clock,
        seen,
        engine,
    }
}

pub fn post(target: &str, body: &[u8]) -> Request {
    Request {
        method: "POST".into(),
        target: target.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::copy_from_slice(body),
    }
}

impl Harness {
    pub fn destinations(&self, policies: &[(&str, DestinationPolicy)]) {
        self.engine.set_destinations(
            policies
                .iter()
                .map(|(name, policy)| (name.to_string(), policy.clone()))
                .collect::<HashMap<_, _>>(),
        );
    }

    /// Enqueues `request` for `destination` (ordered by `key`) and wakes the engine.
    pub async fn enqueue(
        &self,
        destination: &str,
        key: Option<&str>,
        request: &Request,
    ) -> MessageId {
        self.enqueue_payload(destination, key, Sealer::plain().seal(request))
            .await
    }

    pub async fn enqueue_payload(
        &self,
        destination: &str,
        key: Option<&str>,
        payload: Bytes,
    ) -> MessageId {
        let id = self
            .store
            .enqueue(
                NewMessage {
                    destination: destination.into(),
                    direction: Direction::Inbound,
                    ordering_key: key.map(Into::into),
                    payload,
                    meta: Metadata {
                        received_at: self.clock.now(),
                        ..Metadata::default()
                    },
                },
                Bounds::UNBOUNDED,
            )
            .await
            .unwrap();
        self.engine.notify(destination);
        id
    }

    pub async fn message(&self, id: &MessageId) -> Message {
        self.store.get(id).await.unwrap().expect("message exists")
    }

    pub async fn state(&self, id: &MessageId) -> hookguard_delivery::State {
        self.message(id).await.state
    }

    pub fn breaker_of(&self, destination: &str) -> Option<BreakerState> {
        self.engine
            .breaker_states()
            .into_iter()
            .find(|(d, _)| d == destination)
            .map(|(_, s)| s)
    }
}
