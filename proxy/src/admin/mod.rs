//! The admin listener: `/livez`, `/readyz`, `/metrics`, on its own port.
//!
//! It runs on its own thread with its own small tokio runtime, outside pingora's services:
//! during a graceful shutdown pingora stops accepting on its listeners, but `/readyz` must
//! keep answering — 503 — so Kubernetes takes the pod out of the Service while in-flight
//! webhooks finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use crate::metrics;
use crate::stack::ProcessState;

mod api;
mod auth;
mod console;
mod dead_letters;
mod events;
mod keys;
mod routes;
mod secrets;
mod subscriptions;
mod test_delivery;
mod throttled;

pub(crate) use auth::Tokens;
pub(crate) use dead_letters::is_sensitive;

/// What the probes report.
#[derive(Default)]
pub(crate) struct Health {
    /// A configuration is loaded and the proxy is serving.
    pub(crate) loaded: AtomicBool,
    /// SIGTERM received: finishing in-flight requests.
    pub(crate) draining: AtomicBool,
    /// Whether the last config (re)load succeeded, read at scrape time.
    reload_ok: std::sync::OnceLock<Box<dyn Fn() -> bool + Send + Sync>>,
}

impl Health {
    pub(crate) fn set_reload_status(&self, status: impl Fn() -> bool + Send + Sync + 'static) {
        let _ = self.reload_ok.set(Box::new(status));
    }

    pub(crate) fn ready(&self) -> bool {
        self.loaded.load(Ordering::Acquire) && !self.draining.load(Ordering::Acquire)
    }
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

pub(crate) fn respond(health: &Health, path: &str) -> Response<Full<Bytes>> {
    match path {
        "/livez" => text(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" if health.ready() => text(StatusCode::OK, "text/plain", "ready\n"),
        "/readyz" if health.draining.load(Ordering::Acquire) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "draining\n")
        }
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "no configuration loaded\n",
        ),
        "/metrics" => {
            let ok = health.reload_ok.get().is_none_or(|f| f());
            metrics::METRICS
                .reload_successful
                .set(if ok { 1.0 } else { 0.0 });
            text(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                metrics::render(),
            )
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /livez, /readyz, /metrics, /api/v1/\n",
        ),
    }
}

/// What the admin listener's handlers share.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) health: Arc<Health>,
    pub(crate) process: Arc<ProcessState>,
    /// The configuration in service (routes, credentials) for the API.
    pub(crate) live: Arc<hookguard_config::LiveConfig<crate::runtime::Snapshot>>,
}

/// The admin listener's routes: the probes and metrics (open), the API (bearer token).
pub(crate) fn router(state: AdminState) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/livez", get(probe))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .nest("/api/v1", api::router(state.clone()))
        .merge(console::router())
        .fallback(probe)
        .with_state(state)
}

async fn probe(
    axum::extract::State(state): axum::extract::State<AdminState>,
    uri: http::Uri,
) -> Response<Full<Bytes>> {
    respond(&state.health, uri.path())
}

/// `/readyz`: also 503 when the queue's store cannot take writes.
async fn readyz(
    axum::extract::State(state): axum::extract::State<AdminState>,
) -> Response<Full<Bytes>> {
    if state.health.ready() {
        if let Some(queue) = state.process.queue() {
            if let Err(e) = queue.store.healthy().await {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    format!("queue store unavailable: {e}\n"),
                );
            }
        }
    }
    respond(&state.health, "/readyz")
}

async fn metrics_page(
    axum::extract::State(state): axum::extract::State<AdminState>,
) -> Response<Full<Bytes>> {
    if let Some(queue) = state.process.queue() {
        metrics::update_queue(queue).await;
    }
    respond(&state.health, "/metrics")
}

/// Binds `addr` (so errors surface at start-up) and serves on a new thread.
pub(crate) fn start(addr: SocketAddr, state: AdminState) -> std::io::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let bound = std_listener.local_addr()?;
    std::thread::Builder::new()
        .name("hookguard-admin".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "admin listener: cannot start its runtime");
                    return;
                }
            };
            runtime.block_on(serve(std_listener, state));
        })?;
    Ok(bound)
}

async fn serve(std_listener: std::net::TcpListener, state: AdminState) {
    let listener = match tokio::net::TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "admin listener: cannot register its socket");
            return;
        }
    };
    let app = router(state);
    let mut accept_errors = throttled::Throttled::new(std::time::Duration::from_secs(5));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: do not spin, and do not flood the
                // log either (it once wrote 500,000 lines in 4 s).
                if let Some(left_out) = accept_errors.occurred(std::time::Instant::now()) {
                    tracing::warn!(
                        error = %e,
                        similar_errors_not_logged = left_out,
                        "admin listener: accept failed; retrying every 100 ms, logging at most every 5 s"
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    Ok::<_, Infallible>(
                        tower::ServiceExt::oneshot(app, req)
                            .await
                            .unwrap_or_else(|e| match e {}),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
