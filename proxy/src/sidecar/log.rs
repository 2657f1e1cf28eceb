//! One JSON line per request on stdout, and the request metrics. Written in `logging`,
//! which pingora calls whatever happened.
//!
//! The line carries identifiers and measurements only — never header values, bodies or
//! secrets: there is nothing to mask because nothing sensitive is written.

use std::io::Write;

use pingora_error::Error;
use pingora_proxy::Session;
use serde::Serialize;

use super::Ctx;
use crate::metrics::METRICS;

/// What happened to a request (a metric label: a fixed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Passed every check and was sent to the app.
    Forwarded,
    /// Passed every check and was stored for delivery (queue mode), answered 202.
    Queued,
    /// Refused by a check (or answered as a duplicate).
    Rejected,
    /// A check refused it but the route is in shadow mode: forwarded anyway.
    ShadowRejected,
    /// Something failed (upstream unreachable, client gone).
    Error,
}

impl Outcome {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Queued => "queued",
            Outcome::Rejected => "rejected",
            Outcome::ShadowRejected => "shadow_rejected",
            Outcome::Error => "error",
        }
    }
}

/// One access log line. Identifiers and measurements only.
#[derive(Serialize)]
struct AccessLine<'a> {
    ts: &'a str,
    route: &'a str,
    method: &'a str,
    path: &'a str,
    outcome: &'static str,
    reason: Option<&'static str>,
    status: Option<u16>,
    client_ip: Option<&'a str>,
    delivery_id: Option<&'a str>,
    secret_index: Option<usize>,
    secret_id: Option<&'a str>,
    /// The configured event pattern that filtered the delivery (never the event type).
    event_pattern: Option<&'a str>,
    body_bytes: usize,
    duration_ms: f64,
    upstream_ms: Option<f64>,
    error: Option<&'static str>,
}

pub(super) fn record(session: &Session, ctx: &Ctx, error: Option<&Error>) {
    let route = ctx.route_id();
    let total = ctx.started.elapsed();
    let reason = ctx.reason.unwrap_or("");
    METRICS
        .requests
        .with_label_values(&[route, ctx.outcome.as_str(), reason])
        .inc();
    METRICS
        .request_duration
        .with_label_values(&[route])
        .observe(total.as_secs_f64());
    if let Some(upstream) = ctx.upstream_elapsed {
        METRICS
            .upstream_duration
            .with_label_values(&[route])
            .observe(upstream.as_secs_f64());
    }
    if ctx.body_len > 0 || ctx.outcome == super::Outcome::Forwarded {
        METRICS
            .body_bytes
            .with_label_values(&[route])
            .observe(ctx.body_len as f64);
    }
    if let Some(filtered) = &ctx.filtered {
        METRICS
            .events_filtered
            .with_label_values(&[route, &filtered.pattern])
            .inc();
    }
    if let Some(v) = &ctx.verified {
        METRICS
            .secret_matches
            .with_label_values(&[route, &v.secret_id])
            .inc();
    }
    let client_ip = ctx.client_ip.clone().or_else(|| {
        session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string())
    });
    let ts = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let path = mask_keys(session.req_header().uri.path());
    let line = AccessLine {
        ts: &ts,
        route,
        method: session.req_header().method.as_str(),
        path: &path,
        outcome: ctx.outcome.as_str(),
        reason: ctx.reason,
        status: ctx.status,
        client_ip: client_ip.as_deref(),
        delivery_id: ctx.verified.as_ref().and_then(|v| v.delivery_id.as_deref()),
        secret_index: ctx.verified.as_ref().map(|v| v.secret_index),
        secret_id: ctx.verified.as_ref().map(|v| v.secret_id.as_ref()),
        event_pattern: ctx.filtered.as_ref().map(|f| &*f.pattern),
        body_bytes: ctx.body_len,
        duration_ms: total.as_secs_f64() * 1e3,
        upstream_ms: ctx.upstream_elapsed.map(|d| d.as_secs_f64() * 1e3),
        error: error.map(|e| e.etype().as_str()),
    };
    // Serialised straight into one buffer (no intermediate JSON tree), written at once.
    let mut buf = Vec::with_capacity(384);
    if serde_json::to_writer(&mut buf, &line).is_err() {
        return;
    }
    // The same line, to an MQTT channel's `outcomes_topic` when one is configured.
    crate::alerts::publish_outcome(|| buf.clone());
    buf.push(b'\n');
    let _ = std::io::stdout().lock().write_all(&buf);
}

/// Webhook keys in a path authenticate the caller: log them as `wh_…` + 4 characters.
fn mask_keys(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment.strip_prefix("wh_") {
            Some(key) if key.len() > 4 => format!("wh_…{}", &key[key.len() - 4..]),
            _ => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}
