//! The sandbox's HTTP server: `/_sandbox/…` for its own API, every other path answers as
//! configured.
//!
//! Written on hyper's connection API rather than axum: a `timeout` path must close the
//! connection without any response, which a handler that returns a response cannot do.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use bytes::Bytes;
use hookguard_layers::clock::{Clock, SystemClock};
use hookguard_layers::verify::{VerifyContext, WebhookRequest};
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::history::{Answer, Entry, History, SignatureCheck};
use super::settings::{Compiled, Settings};
use crate::diagnose::{likely_mistakes, Suspect};

/// The largest request body the sandbox reads.
const MAX_BODY: usize = 16 << 20;

/// The sandbox's state, shared by every connection.
pub(crate) struct Sandbox {
    compiled: ArcSwap<Compiled>,
    history: Mutex<History>,
    rng: Mutex<StdRng>,
}

/// The connection is closed without an answer (a configured timeout).
#[derive(Debug)]
struct HoldUp;

impl std::fmt::Display for HoldUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timeout: closed without an answer")
    }
}

impl std::error::Error for HoldUp {}

type Reply = Result<Response<Full<Bytes>>, HoldUp>;

fn rng_for(seed: Option<u64>) -> StdRng {
    seed.map_or_else(StdRng::from_entropy, StdRng::seed_from_u64)
}

impl Sandbox {
    pub(crate) fn new(compiled: Compiled) -> Arc<Self> {
        Arc::new(Self {
            history: Mutex::new(History::new(compiled.settings.history)),
            rng: Mutex::new(rng_for(compiled.settings.seed)),
            compiled: ArcSwap::from_pointee(compiled),
        })
    }

    /// Serves on `listener` until the process ends.
    pub(crate) async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let sandbox = Arc::clone(&self);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let sandbox = Arc::clone(&sandbox);
                    async move { sandbox.handle(req).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Reply {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return Ok(json_reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &json!({"error": format!("body unreadable or larger than {MAX_BODY} bytes")}),
                ))
            }
        };
        let path = parts.uri.path();
        if path == "/_sandbox" || path.starts_with("/_sandbox/") {
            return Ok(self.api(&parts.method, &parts.uri, &body));
        }
        self.mock(parts, body).await
    }

    fn api(&self, method: &Method, uri: &http::Uri, body: &Bytes) -> Response<Full<Bytes>> {
        let path = uri.path();
        let query_limit = uri
            .query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|p| p.strip_prefix("limit="))
            .and_then(|n| n.parse::<usize>().ok());
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        match (method, path) {
            (&Method::GET, "/_sandbox/config") => {
                json_reply(StatusCode::OK, &json!(self.compiled.load().settings))
            }
            (&Method::PUT, "/_sandbox/config") => {
                let parsed: Result<Settings, String> =
                    serde_json::from_slice(body).map_err(|e| e.to_string());
                match parsed.map_err(|e| vec![e]).and_then(Settings::compile) {
                    Ok(compiled) => {
                        history.set_capacity(compiled.settings.history);
                        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) =
                            rng_for(compiled.settings.seed);
                        let shown = json!(compiled.settings);
                        self.compiled.store(Arc::new(compiled));
                        json_reply(StatusCode::OK, &shown)
                    }
                    Err(problems) => json_reply(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": "invalid sandbox settings", "problems": problems}),
                    ),
                }
            }
            (&Method::GET, "/_sandbox/history") => {
                let items: Vec<_> = history
                    .newest(query_limit.unwrap_or(usize::MAX))
                    .map(summary)
                    .collect();
                json_reply(StatusCode::OK, &json!({ "items": items }))
            }
            (&Method::DELETE, "/_sandbox/history") => {
                json_reply(StatusCode::OK, &json!({ "cleared": history.clear() }))
            }
            (&Method::GET, _) if path.starts_with("/_sandbox/history/") => {
                let id = &path["/_sandbox/history/".len()..];
                match id.parse::<u64>().ok().and_then(|id| history.get(id)) {
                    Some(entry) => json_reply(StatusCode::OK, &json!(entry)),
                    None => json_reply(
                        StatusCode::NOT_FOUND,
                        &json!({"error": format!(
                            "no request {id:?} in the history (it keeps the last {})",
                            history.capacity()
                        )}),
                    ),
                }
            }
            _ => json_reply(
                StatusCode::NOT_FOUND,
                &json!({"error": format!(
                    "{method} {path}: not a sandbox endpoint; expected GET|PUT /_sandbox/config, \
                     GET|DELETE /_sandbox/history, GET /_sandbox/history/ID"
                )}),
            ),
        }
    }

    async fn mock(&self, parts: http::request::Parts, body: Bytes) -> Reply {
        let compiled = self.compiled.load_full();
        let behaviour = compiled.behaviour(parts.uri.path()).clone();
        let now = SystemClock.now_unix();
        let target = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        let signature = compiled
            .verify
            .as_ref()
            .map(|v| check_signature(v, &parts.method, &parts.headers, &target, &body, now));

        let (injected, delay) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            let injected = behaviour.error_rate > 0.0 && rng.gen_bool(behaviour.error_rate);
            let delay = behaviour.delay.map_or(Duration::ZERO, |d| {
                if d.min == d.max {
                    d.min
                } else {
                    rng.gen_range(d.min..=d.max)
                }
            });
            (injected, delay)
        };
        let refused = compiled.verify.as_ref().is_some_and(|v| v.settings.enforce)
            && signature.as_ref().is_some_and(|s| !s.valid);
        let status = if behaviour.timeout.is_some() {
            None
        } else if refused {
            Some(401)
        } else if injected {
            Some(behaviour.error_status)
        } else {
            Some(behaviour.status)
        };
        let id = {
            let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
            let id = history.take_id();
            history.push(Entry {
                id,
                received_at: rfc3339(now),
                received_unix: now,
                method: parts.method.to_string(),
                target,
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body_bytes: body.len(),
                body_base64: base64::engine::general_purpose::STANDARD.encode(&body),
                answer: Answer {
                    status,
                    delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    injected_error: injected && !refused,
                    timed_out: status.is_none(),
                },
                signature: signature.clone(),
            });
            id
        };

        if let Some(hold) = behaviour.timeout {
            tokio::time::sleep(hold.get()).await;
            return Err(HoldUp);
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut response = if refused {
            let check = signature.as_ref();
            json_reply(
                StatusCode::UNAUTHORIZED,
                &json!({
                    "error": "signature",
                    "message": check.and_then(|c| c.reason.clone()),
                    "likely_mistakes": check.map(|c| &c.likely_mistakes),
                }),
            )
        } else if injected {
            let status = StatusCode::from_u16(behaviour.error_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_reply(status, &json!({"error": "injected by the sandbox"}))
        } else {
            let mut response = Response::new(Full::new(Bytes::from(behaviour.body.clone())));
            *response.status_mut() =
                StatusCode::from_u16(behaviour.status).unwrap_or(StatusCode::OK);
            for (name, value) in &behaviour.headers {
                if let (Ok(n), Ok(v)) = (
                    header::HeaderName::try_from(name.as_str()),
                    header::HeaderValue::try_from(value.as_str()),
                ) {
                    response.headers_mut().insert(n, v);
                }
            }
            response
        };
        let headers = response.headers_mut();
        headers.insert("x-sandbox-request-id", header::HeaderValue::from(id));
        if let Some(check) = &signature {
            headers.insert(
                "x-sandbox-signature",
                header::HeaderValue::from_static(if check.valid { "valid" } else { "invalid" }),
            );
        }
        Ok(response)
    }
}

fn check_signature(
    verify: &super::settings::Verify,
    method: &Method,
    headers: &HeaderMap,
    target: &str,
    body: &[u8],
    now: i64,
) -> SignatureCheck {
    // The URL the sender called: the configured public base, else what Host says.
    let base = verify.settings.public_url.clone().or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|host| format!("http://{host}"))
    });
    let url = base.map(|b| format!("{}{target}", b.trim_end_matches('/')));
    let scheme = &*verify.scheme;
    let tolerance = verify
        .settings
        .tolerance
        .or_else(|| scheme.default_tolerance());
    let request = WebhookRequest {
        method,
        url: url.as_deref(),
        headers,
        body,
    };
    let ctx = VerifyContext::new(scheme, now).with_tolerance(tolerance);
    match scheme.verify(&request, &verify.keys, &ctx) {
        Ok(v) => SignatureCheck {
            scheme: scheme.name(),
            valid: true,
            secret_id: Some(v.secret_id.to_string()),
            delivery_id: v.delivery_id,
            timestamp: v.timestamp,
            reason: None,
            likely_mistakes: Vec::new(),
        },
        Err(e) => {
            let suspect = Suspect {
                scheme,
                secrets: &verify.candidates,
                others: &[],
                method,
                url: url.as_deref(),
                headers,
                body,
                now,
                tolerance,
            };
            SignatureCheck {
                scheme: scheme.name(),
                valid: false,
                secret_id: None,
                delivery_id: None,
                timestamp: None,
                reason: Some(e.to_string()),
                likely_mistakes: likely_mistakes(&suspect)
                    .into_iter()
                    .filter(|h| h.fits)
                    .collect(),
            }
        }
    }
}

fn summary(entry: &Entry) -> serde_json::Value {
    json!({
        "id": entry.id,
        "received_at": entry.received_at,
        "method": entry.method,
        "target": entry.target,
        "status": entry.answer.status,
        "body_bytes": entry.body_bytes,
        "signature": entry.signature.as_ref().map(|s| if s.valid {
            "valid".to_owned()
        } else {
            format!("invalid: {}", s.reason.as_deref().unwrap_or("-"))
        }),
    })
}

fn rfc3339(unix: i64) -> String {
    // Before 1970 (never: `now`) it shows as 1970.
    crate::rfc3339::unix_ms(u64::try_from(unix).unwrap_or(0).saturating_mul(1000))
}

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{value}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Binds `listen` and serves until the process ends; prints the bound address first (so a
/// test, or a script, can use port 0).
pub(crate) async fn run(listen: SocketAddr, compiled: Compiled) -> Result<Infallible, String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    println!("sandbox listening on http://{bound}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    Sandbox::new(compiled).serve(listener).await;
    Err("the listener stopped".into())
}
