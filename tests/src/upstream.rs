//! A recording HTTP/1.1 upstream: the app behind the sidecar, as the tests see it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: Method,
    /// Path and query, as received.
    pub path: String,
    /// Every header, as received.
    pub headers: HeaderMap,
    /// The body bytes, exactly as received.
    pub body: Bytes,
    /// The status the upstream answered with (set when the request was recorded).
    pub status: u16,
}

impl Recorded {
    /// The single value of header `name` as text; `None` when absent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the upstream accepted it (answered 2xx).
    pub fn status_ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Builds an [`Upstream`]: `upstream().record().start().await`.
#[derive(Debug, Default)]
pub struct UpstreamBuilder {
    status: Option<u16>,
    delay: Duration,
}

/// Starts building a recording upstream.
pub fn upstream() -> UpstreamBuilder {
    UpstreamBuilder::default()
}

impl UpstreamBuilder {
    /// Records every request (the upstream always does; this reads as the intent).
    pub fn record(self) -> Self {
        self
    }

    /// The status every answer has (default 200); changeable later with
    /// [`Upstream::set_status`].
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Waits this long after receiving a whole request before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Binds `127.0.0.1:0` and serves until the [`Upstream`] is dropped.
    pub async fn start(self) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the upstream on 127.0.0.1:0");
        let addr = listener.local_addr().expect("upstream address");
        let state = Arc::new(State {
            refusing: std::sync::atomic::AtomicBool::new(false),
            requests: Mutex::default(),
            status: AtomicU16::new(self.status.unwrap_or(200)),
            delay_ms: AtomicU64::new(self.delay.as_millis() as u64),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&state)));
        Upstream { addr, state, task }
    }
}

struct State {
    /// While set, connections are closed without an answer (the app is down).
    refusing: std::sync::atomic::AtomicBool,
    requests: Mutex<Vec<Recorded>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
}

/// A running recording upstream; stops when dropped.
pub struct Upstream {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// `127.0.0.1:PORT`, for the config's `upstream.address`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order (recorded as soon as the body is
    /// in, before any delay).
    pub fn requests(&self) -> Vec<Recorded> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The one request received; fails the test when there were none or several.
    pub fn only_request(&self) -> Recorded {
        let mut requests = self.requests();
        assert_eq!(
            requests.len(),
            1,
            "the upstream got {} requests",
            requests.len()
        );
        requests.remove(0)
    }

    /// Changes the status of later answers (e.g. 500 to make a delivery fail).
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// While `down`, every connection is closed at once without an answer (not recorded):
    /// the app is down, as a crashed or restarting app looks to a client.
    pub fn set_down(&self, down: bool) {
        self.state.refusing.store(down, Ordering::SeqCst);
    }

    /// Changes the delay of later answers.
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if state.refusing.load(Ordering::SeqCst) {
            drop(stream);
            continue;
        }
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move {
                    // A kept-alive connection of an app that went down: no answer at all.
                    if state.refusing.load(Ordering::SeqCst) {
                        return Err(std::io::Error::other("the app is down"));
                    }
                    answer(state, req)
                        .await
                        .map_err(|never: Infallible| match never {})
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    state: Arc<State>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // A body cut short is not a request the app received.
        Err(_) => return Ok(Response::new(Full::new(Bytes::new()))),
    };
    let status = state.status.load(Ordering::SeqCst);
    let recorded = Recorded {
        method: parts.method,
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: parts.headers,
        body,
        status,
    };
    let answer_body = format!(
        "upstream got {} bytes sha256={}",
        recorded.body.len(),
        crate::sha256_hex(&recorded.body)
    );
    state
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(recorded);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut response = Response::new(Full::new(Bytes::from(answer_body)));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    Ok(response)
}
