//! `hookguard explain`: runs a captured request through a route's stack — the one
//! `stack.rs` builds for the sidecar — and prints each check's decision; for a signature
//! that fails, the likely-mistake search says which mistake fits.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use bytes::Bytes;
use clap::Args;
use hookguard_config::{Config, DeliveryMode};
use hookguard_layers::clock::{Clock, SystemClock};
use hookguard_layers::credentials::CredentialSource as _;
use hookguard_layers::replay::PendingDelivery;
use hookguard_layers::rules::Transformed;
use hookguard_layers::shadow::ShadowRefusal;
use hookguard_layers::verify::{request_url, Verified};
use hookguard_layers::{Reason, Verdict};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::Full;
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use super::dlq::table;
use super::explain_event::{self, Recorded};
use super::{EXIT_INVALID, EXIT_USAGE};
use crate::diagnose::{likely_mistakes, Candidate, Suspect};
use crate::stack::{build_detached, ConfigSource, SOURCE_ROUTE};

const EXIT_CODES: &str = "Exit codes: 0 the route admits the request, 1 a check refuses it \
(each stage's decision is printed), 2 usage or configuration error (with --event: the \
sidecar cannot be reached, refuses the token, has no such event, or kept no request for it).";

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct ExplainArgs {
    /// The sidecar's configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,
    /// The route to run it through (default: the route that serves the request's path).
    #[arg(long)]
    route: Option<String>,
    /// The captured request: raw HTTP/1.1 (request line, headers, empty line, body), or a
    /// sandbox history entry (`hookguard sandbox show ID --json`).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "event",
        conflicts_with = "event"
    )]
    request: Option<PathBuf>,
    /// An event of a running sidecar's event log (`hookguard` fetches it and its captured
    /// request from the admin API; the route must be in `admin.events.capture`).
    #[arg(long, value_name = "ID")]
    event: Option<u64>,
    /// The sidecar's admin listener (with --event).
    #[arg(
        long,
        value_name = "URL",
        env = "HOOKGUARD_ADMIN_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    admin: String,
    /// The environment variable holding an admin token (with --event).
    #[arg(long, value_name = "VAR", default_value = "HOOKGUARD_ADMIN_TOKEN")]
    token_env: String,
    /// The URL the sender called, for schemes that sign it (default: the route's
    /// public_url + path, else https://{Host}{path}, as the sidecar does).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The client address the IP filter sees.
    #[arg(long, default_value = "127.0.0.1")]
    client_ip: IpAddr,
    /// A secret the sender may still use (an old one after a rotation); repeat.
    #[arg(long = "old-secret", value_name = "S")]
    old_secret: Vec<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// A request read from a file (or an event's capture).
pub(super) struct Captured {
    pub(super) method: Method,
    pub(super) target: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// Things noticed while reading it (a body longer than its Content-Length, …).
    pub(super) notes: Vec<String>,
}

fn read_captured(path: &std::path::Path) -> Result<Captured, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("--request {}: {e}", path.display()))?;
    let shown = path.display();
    if bytes.first() == Some(&b'{') {
        let entry: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("--request {shown}: starts with '{{' but is not JSON: {e}"))?;
        let replay = crate::sandbox::Replay::from_entry(&entry)
            .map_err(|e| format!("--request {shown}: {e}"))?;
        let mut headers = replay.headers;
        // The entry keeps Host (replay drops it); the URL of URL-signing schemes needs it.
        for pair in entry["headers"].as_array().into_iter().flatten() {
            if pair[0]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("host"))
            {
                if let Some(v) = pair[1].as_str().and_then(|v| HeaderValue::from_str(v).ok()) {
                    headers.insert(http::header::HOST, v);
                }
            }
        }
        return Ok(Captured {
            method: replay.method,
            target: replay.target,
            headers,
            body: Bytes::from(replay.body),
            notes: Vec::new(),
        });
    }
    parse_http(&bytes).map_err(|e| format!("--request {shown}: {e}"))
}

fn parse_http(bytes: &[u8]) -> Result<Captured, String> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut request = httparse::Request::new(&mut slots);
    let head_len = match request.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err("the request head is incomplete; expected a request line, headers and an empty line".into())
        }
        Err(e) => {
            return Err(format!(
                "not an HTTP/1.1 request ({e}); expected e.g. \"POST /webhooks/github HTTP/1.1\" then headers"
            ))
        }
    };
    let method = Method::from_bytes(request.method.unwrap_or("POST").as_bytes())
        .map_err(|_| "the request line's method is not an HTTP method".to_string())?;
    let target = request.path.unwrap_or("/").to_owned();
    let mut headers = HeaderMap::new();
    for h in request.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("header {:?} is not a header name", h.name))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| format!("header {name}: the value has characters not allowed"))?;
        headers.append(name, value);
    }
    let mut body = &bytes[head_len..];
    let mut notes = Vec::new();
    if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if body.len() > len {
            notes.push(format!(
                "the file has {} bytes after the {len}-byte body (Content-Length); they were \
                 left out (an editor's trailing newline?)",
                body.len() - len
            ));
            body = &body[..len];
        } else if body.len() < len {
            notes.push(format!(
                "Content-Length says {len} bytes, the file has {}: the capture is cut short",
                body.len()
            ));
        }
    }
    Ok(Captured {
        method,
        target,
        headers,
        body: Bytes::copy_from_slice(body),
        notes,
    })
}

/// The check a refusal reason belongs to (one vocabulary: the layers' `Reason`).
fn check_of(reason: Reason) -> &'static str {
    match reason {
        Reason::IpDenied | Reason::PeerUnknown => "ip filter",
        Reason::RateLimited => "rate limit",
        Reason::BodyTooLarge | Reason::BodyReadFailed => "body limit",
        Reason::Duplicate
        | Reason::DuplicateInFlight
        | Reason::MissingDeliveryId
        | Reason::NotVerified
        | Reason::ReplayStoreUnavailable => "replay guard",
        Reason::EventFiltered
        | Reason::SchemaInvalid
        | Reason::UnsupportedMediaType
        | Reason::TransformFailed => "payload rules",
        Reason::QueueFull | Reason::QueueUnavailable => "queue",
        // Every other reason is the signature's (and new ones default there: `Reason` is
        // non-exhaustive).
        _ => "signature",
    }
}

/// One row of the report.
fn row(check: &str, decision: &str, detail: impl Into<String>) -> Value {
    json!({"check": check, "decision": decision, "detail": detail.into()})
}

fn refusal(response: &Response<Bytes>) -> (Option<Reason>, String) {
    let reason = response.extensions().get::<Reason>().copied();
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    let message = body["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(response.body()).into_owned());
    (
        reason,
        format!("{} {}", response.status().as_u16(), message.trim()),
    )
}

pub(crate) fn run(args: ExplainArgs) -> Result<u8, String> {
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return Ok(EXIT_USAGE);
        }
    };
    // The admin client runs its own runtime: fetch before this one starts.
    let (captured, recorded) = match (&args.request, args.event) {
        (Some(path), _) => (read_captured(path)?, None),
        (None, Some(id)) => {
            let (captured, recorded) = explain_event::fetch(&args.admin, &args.token_env, id)?;
            (captured, Some(recorded))
        }
        (None, None) => return Err("--request FILE or --event ID is required".into()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let report = runtime.block_on(explain(&args, &config, captured, recorded.as_ref()))?;
    let admitted = report["admitted"] == true;
    if args.json {
        println!("{report:#}");
    } else {
        print_report(&report);
    }
    Ok(if admitted { 0 } else { EXIT_INVALID })
}

async fn explain(
    args: &ExplainArgs,
    config: &Config,
    captured: Captured,
    recorded: Option<&Recorded>,
) -> Result<Value, String> {
    let base_dir = args.config.parent().map(PathBuf::from).unwrap_or_default();
    let path = captured.target.split('?').next().unwrap_or("/").to_owned();
    let served_by = match hookguard_config::Router::new(config).lookup(&path) {
        hookguard_config::Lookup::Route { index } => config.routes.get(index).map(|r| r.id.clone()),
        _ => None,
    };
    // An event names its route (its path may be a masked webhook key).
    let recorded_route = recorded.map(|r| r.route.clone()).filter(|r| r != "-");
    let route_id = match (&args.route, &served_by) {
        (Some(id), _) => id.clone(),
        (None, _) if recorded_route.is_some() => recorded_route.clone().unwrap_or_default(),
        (None, Some(id)) => id.clone(),
        (None, None) => {
            return Err(format!(
                "no route serves the path {path}; pass --route (routes: {})",
                super::route_ids(config)
            ))
        }
    };
    let route_config = config.route(&route_id).ok_or_else(|| {
        format!(
            "--route {route_id}: no such route; expected one of: {}",
            super::route_ids(config)
        )
    })?;
    let route = build_detached(config, route_config, base_dir.clone()).await?;
    let shadow = route.shadow;
    let mut rows: Vec<Value> = recorded.map(Recorded::row).into_iter().collect();
    // The client address the sidecar saw, for an event.
    let client_ip = recorded.and_then(|r| r.client_ip).unwrap_or(args.client_ip);
    rows.push(row(
        "route",
        if served_by.as_deref() == Some(route_id.as_str()) {
            "matched"
        } else {
            "chosen"
        },
        match &served_by {
            _ if recorded_route.as_deref() == Some(route_id.as_str()) => {
                format!("route {route_id}, as the sidecar recorded")
            }
            Some(id) if *id == route_id => format!(
                "{path} -> route {route_id} ({} mode, {} delivery)",
                if shadow { "shadow" } else { "enforce" },
                if route_config.delivery == DeliveryMode::Queue {
                    "queue"
                } else {
                    "forward"
                }
            ),
            Some(other) => format!("--route {route_id}; the sidecar would route {path} to {other}"),
            None => format!("--route {route_id}; the sidecar would answer 404 for {path}"),
        },
    ));

    // Header stage, exactly as the sidecar runs it: method, URI, headers and the peer.
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.method_mut() = captured.method.clone();
    *request.uri_mut() = captured
        .target
        .parse()
        .map_err(|_| format!("the request target {:?} is not a URI", captured.target))?;
    *request.headers_mut() = captured.headers.clone();
    request
        .extensions_mut()
        .insert(SocketAddr::new(client_ip, 40000));
    let header_checks: Vec<&str> = [
        route_config.ip.is_some().then_some("ip filter"),
        (route_config.rate_limit.is_some() || config.global_rate_limit.is_some())
            .then_some("rate limit"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let Ok(verdict) = route.header_stage.clone().oneshot(request).await;
    let mut refused: Option<(Reason, String)> = None;
    let request = match enforced(verdict) {
        Ok(req) => {
            for check in &header_checks {
                let detail = if *check == "rate limit" {
                    "within the limit (a fresh budget: the running sidecar's counters are not read)"
                        .to_owned()
                } else {
                    format!("client {client_ip} allowed")
                };
                rows.push(row(check, "passed", detail));
            }
            Some(req)
        }
        Err(answer) => {
            let (reason, detail) = refusal(answer.response());
            let refused_by = reason.map_or("header stage", check_of);
            for check in &header_checks {
                if *check == refused_by {
                    rows.push(row(check, decided(shadow), detail.clone()));
                } else if refused_by == "rate limit" {
                    rows.push(row(check, "passed", ""));
                } else {
                    rows.push(row(check, "not reached", ""));
                }
            }
            refused = reason.map(|r| (r, detail));
            None
        }
    };
    let mut report = json!({
        "route": route_id,
        "notes": captured.notes,
    });
    if let Some(recorded) = recorded {
        report["event"] = recorded.summary.clone();
    }
    let body_checks: Vec<&str> = [
        Some("signature"),
        route_config.replay.enabled.then_some("replay guard"),
        route_config.rules.is_some().then_some("payload rules"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let Some(request) = request.filter(|_| refused.is_none() || shadow) else {
        for check in std::iter::once("body limit").chain(body_checks.iter().copied()) {
            rows.push(row(check, "not reached", ""));
        }
        return Ok(finish(report, rows, refused, shadow, Vec::new()));
    };

    if captured.body.len() > route.body_limit {
        rows.push(row(
            "body limit",
            decided(shadow),
            format!(
                "{} bytes, over the route's {} bytes: 413",
                captured.body.len(),
                route.body_limit
            ),
        ));
        refused.get_or_insert((Reason::BodyTooLarge, "413".into()));
    } else {
        rows.push(row(
            "body limit",
            "passed",
            format!(
                "{} bytes of at most {}",
                captured.body.len(),
                route.body_limit
            ),
        ));
    }

    // A masked signature header cannot be checked again: the sidecar's record decides.
    if let Some(recorded) = recorded.filter(|r| !r.masked.is_empty()) {
        rows.extend(recorded.body_rows(&body_checks, check_of));
        if let Some(reason) = recorded.refusal() {
            refused.get_or_insert((reason, recorded.reason.clone().unwrap_or_default()));
        }
        return Ok(finish(report, rows, refused, shadow, Vec::new()));
    }

    // Body stage: signature, replay guard, payload rules.
    let (parts, _) = request.into_parts();
    let request = Request::from_parts(parts, Full::new(captured.body.clone()));
    let Ok(verdict) = route.body_stage.clone().oneshot(request).await;
    let mut mistakes = Vec::new();
    match enforced(verdict) {
        Ok(req) => {
            for check in &body_checks {
                let detail = match *check {
                    "signature" => req.extensions().get::<Verified>().map_or(String::new(), |v| {
                        format!(
                            "{}: secret {} matched{}{}",
                            v.scheme,
                            v.secret_id,
                            v.delivery_id.as_ref().map_or(String::new(), |d| format!(", delivery id {d}")),
                            v.timestamp.map_or(String::new(), |t| format!(", timestamp {t}")),
                        )
                    }),
                    "replay guard" => "a new delivery (a fresh store here: the running sidecar's records are not read)".into(),
                    _ => match req.extensions().get::<Transformed>() {
                        Some(_) => "passed; the body is mapped before it reaches the app".into(),
                        None => "the event is taken".into(),
                    },
                };
                rows.push(row(check, "passed", detail));
            }
            // Nothing is delivered: let the reservation go.
            if let Some(pending) = req.extensions().get::<PendingDelivery>() {
                let _ = pending.release().await;
            }
        }
        Err(answer) => {
            let (reason, detail) = refusal(answer.response());
            let refused_by = reason.map_or("signature", check_of);
            let mut reached = true;
            for check in &body_checks {
                if *check == refused_by {
                    rows.push(row(check, decided(shadow), detail.clone()));
                    reached = false;
                } else if reached {
                    rows.push(row(check, "passed", ""));
                } else {
                    rows.push(row(check, "not reached", ""));
                }
            }
            if let Some(reason) = reason {
                if matches!(
                    reason,
                    Reason::SignatureMismatch | Reason::TimestampOutsideWindow
                ) {
                    mistakes = search(args, config, route_config, &captured, &base_dir).await?;
                }
                refused.get_or_insert((reason, detail));
            }
        }
    }
    report["destination"] = json!(match route_config.delivery {
        DeliveryMode::Queue => "queue, then the app".to_owned(),
        _ => format!(
            "the app at {}{}",
            config.upstream.address,
            route_config.upstream_path(&path)
        ),
    });
    Ok(finish(report, rows, refused, shadow, mistakes))
}

/// A stage's verdict as enforce mode gives it: the request it passed, or its refusal. A
/// shadow route's stages forward what they refuse, with the refusal beside the request
/// (`ShadowLayer`, composed in `stack.rs`); the report shows it as refused.
fn enforced(verdict: Verdict) -> Result<Request<Bytes>, ShadowRefusal> {
    match verdict {
        Verdict::Forward(mut req) => match req.extensions_mut().remove::<ShadowRefusal>() {
            Some(refusal) => Err(refusal),
            None => Ok(req),
        },
        Verdict::Respond(resp) => Err(ShadowRefusal::new(resp)),
    }
}

fn decided(shadow: bool) -> &'static str {
    if shadow {
        "refused (shadow: forwarded anyway)"
    } else {
        "refused"
    }
}

fn finish(
    mut report: Value,
    rows: Vec<Value>,
    refused: Option<(Reason, String)>,
    shadow: bool,
    mistakes: Vec<crate::diagnose::Hypothesis>,
) -> Value {
    report["admitted"] = json!(refused.is_none() || shadow);
    report["reason"] = json!(refused.as_ref().map(|(r, _)| r.as_str()));
    report["stages"] = json!(rows);
    report["likely_mistakes"] = json!(mistakes);
    report
}

/// The likely-mistake search with the route's secrets, `--old-secret`s and the other routes'
/// local secrets of the same scheme.
async fn search(
    args: &ExplainArgs,
    config: &Config,
    route: &hookguard_config::Route,
    captured: &Captured,
    base_dir: &std::path::Path,
) -> Result<Vec<crate::diagnose::Hypothesis>, String> {
    let scheme = route.build_scheme().map_err(|e| e.to_string())?;
    let set = ConfigSource::new(&route.secrets, base_dir.to_path_buf())?
        .fetch(SOURCE_ROUTE)
        .await
        .map_err(|e| format!("route {}: reading its secrets: {e}", route.id))?;
    let secrets: Vec<Candidate> = set
        .entries()
        .iter()
        .map(|e| Candidate::new(format!("secret {}", e.id), e.value.expose_secret()))
        .collect();
    let mut others: Vec<Candidate> = args
        .old_secret
        .iter()
        .enumerate()
        .map(|(i, s)| Candidate::new(format!("--old-secret {}", i + 1), s.as_str()))
        .collect();
    let env = hookguard_config::SystemEnv;
    for other in config
        .routes
        .iter()
        .filter(|r| r.id != route.id && r.scheme == route.scheme)
    {
        for spec in &other.secrets {
            if let Ok(Some(value)) = spec.resolve_local(&env, base_dir) {
                others.push(Candidate::new(
                    format!("route {}'s secret {}", other.id, spec.id),
                    value.expose(),
                ));
            }
        }
    }
    let uri: http::Uri = captured.target.parse().unwrap_or_default();
    let url = args
        .url
        .clone()
        .or_else(|| request_url(route.public_url.as_deref(), &uri, &captured.headers));
    let tolerance = route.effective_tolerance(&config.defaults, &*scheme);
    let suspect = Suspect {
        scheme: &*scheme,
        secrets: &secrets,
        others: &others,
        method: &captured.method,
        url: url.as_deref(),
        headers: &captured.headers,
        body: &captured.body,
        now: SystemClock.now_unix(),
        tolerance,
    };
    Ok(likely_mistakes(&suspect))
}

fn print_report(report: &Value) {
    for note in report["notes"].as_array().into_iter().flatten() {
        println!("note: {}", note.as_str().unwrap_or_default());
    }
    let stages = report["stages"].as_array().cloned().unwrap_or_default();
    println!("{}", table(&stages, &["check", "decision", "detail"]));
    let verdict = match report["reason"].as_str() {
        None => format!(
            "admitted: {}",
            report["destination"].as_str().unwrap_or("forwarded")
        ),
        Some(reason) if report["admitted"] == true => {
            format!("admitted in shadow mode; enforce mode would refuse it: {reason}")
        }
        Some(reason) => format!("refused: {reason}"),
    };
    println!("{verdict}");
    let mistakes = report["likely_mistakes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !mistakes.is_empty() {
        println!("\nLikely mistakes:");
        let rows: Vec<Value> = mistakes
            .iter()
            .map(|m| {
                json!({
                    "mistake": m["mistake"],
                    "fits": if m["fits"] == true { "YES" } else { "no" },
                    "detail": m["detail"],
                })
            })
            .collect();
        println!("{}", table(&rows, &["mistake", "fits", "detail"]));
        if !mistakes.iter().any(|m| m["fits"] == true) {
            println!(
                "None fits: the sender most likely signs with a secret this route does not have."
            );
        }
    }
}
