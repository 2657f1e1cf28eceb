//! One JSON line per request on stdout, and the request metrics. Written once per request,
//! whatever happened (`exchange::serve`).
//!
//! The line carries identifiers and measurements only — never header values, bodies or
//! secrets: there is nothing to mask because nothing sensitive is written.
//!
//! Lines are batched ([`emit`]): they leave in one `write` at most [`FLUSH_EVERY`] after
//! the first of them, or as soon as [`FLUSH_AT`] bytes wait, and before the process exits
//! (`cli/run.rs`). One `write` per
//! request cost a syscall and, on the pipe a container runtime reads, a wake-up of the
//! reader per request. A kill -9 loses at most the last [`FLUSH_EVERY`] of lines.

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use pingora_error::Error;
use pingora_http::RequestHeader;
use serde::Serialize;

use super::exchange::{Ctx, Outcome};
use crate::metrics::METRICS;
use crate::runtime::Snapshot;

/// One access log line. Identifiers and measurements only.
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

pub(super) fn record(snapshot: &Snapshot, req: &RequestHeader, ctx: &Ctx, error: Option<&Error>) {
    let route = ctx.route_id();
    let total = ctx.started.elapsed();
    match (&ctx.route, ctx.outcome, ctx.reason) {
        (Some(r), Outcome::Forwarded, None) => r.metrics.forwarded.inc(),
        (_, outcome, reason) => METRICS
            .requests
            .with_label_values(&[route, outcome.as_str(), reason.map_or("", |r| r.as_str())])
            .inc(),
    }
    if let Some(reason) = ctx.reason {
        METRICS
            .rejections
            .with_label_values(&[reason.as_str()])
            .inc();
    }
    let measured = ctx.body_len > 0 || ctx.outcome == Outcome::Forwarded;
    match &ctx.route {
        Some(r) => {
            r.metrics.request_duration.observe(total.as_secs_f64());
            if let Some(upstream) = ctx.upstream_elapsed {
                r.metrics.upstream_duration.observe(upstream.as_secs_f64());
            }
            if measured {
                r.metrics.body_bytes.observe(ctx.body_len as f64);
            }
        }
        None => METRICS
            .request_duration
            .with_label_values(&[route])
            .observe(total.as_secs_f64()),
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
    let client_ip = ctx.client_ip_text();
    let mut ts = [0u8; crate::rfc3339::MICROS_LEN];
    // Now, read from the request's own clocks (no third reading).
    let ts = crate::rfc3339::micros(ctx.received + total, &mut ts);
    let path = mask_keys(req.uri.path());
    let line = AccessLine {
        ts,
        route,
        method: req.method.as_str(),
        path: &path,
        outcome: ctx.outcome.as_str(),
        reason: ctx.reason.map(|r| r.as_str()),
        status: ctx.status,
        client_ip,
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
    line.write_json(&mut buf);
    // The same line, to an MQTT channel's `outcomes_topic` when one is configured.
    crate::alerts::publish_outcome(|| buf.clone());
    buf.push(b'\n');
    emit(&buf);
    // The event log (when the admin API is on) keeps the line's own fields: no re-parse.
    if snapshot.state.is_some() {
        crate::state::record(snapshot, req, &ctx.body, line.to_event());
    }
}

impl AccessLine<'_> {
    /// The line as one JSON object, fields in declaration order.
    fn write_json(&self, buf: &mut Vec<u8>) {
        let mut out = JsonObject { buf, open: false };
        out.field("ts", self.ts);
        out.field("route", self.route);
        out.field("method", self.method);
        out.field("path", self.path);
        out.field("outcome", self.outcome);
        out.field("reason", &self.reason);
        out.field("status", &self.status);
        out.field("client_ip", &self.client_ip);
        out.field("delivery_id", &self.delivery_id);
        out.field("secret_index", &self.secret_index);
        out.field("secret_id", &self.secret_id);
        out.field("event_pattern", &self.event_pattern);
        out.field("body_bytes", &self.body_bytes);
        out.field("duration_ms", &self.duration_ms);
        out.field("upstream_ms", &self.upstream_ms);
        out.field("error", &self.error);
        out.buf.push(b'}');
    }

    /// The line as the event log keeps it (the log assigns `id` and `at_ms`).
    fn to_event(&self) -> crate::state::Event {
        crate::state::Event {
            id: 0,
            at_ms: 0,
            ts: self.ts.to_owned(),
            route: self.route.to_owned(),
            method: self.method.to_owned(),
            path: self.path.to_owned(),
            outcome: self.outcome.to_owned(),
            reason: self.reason.map(str::to_owned),
            status: self.status,
            client_ip: self.client_ip.map(str::to_owned),
            delivery_id: self.delivery_id.map(str::to_owned),
            secret_id: self.secret_id.map(str::to_owned),
            key_id: None,
            body_bytes: self.body_bytes,
            duration_ms: self.duration_ms,
            upstream_ms: self.upstream_ms,
            error: self.error.map(str::to_owned),
            capture: None,
        }
    }
}

/// A JSON object written field by field: each value by serde_json (its escaping, its
/// number formats), each key as it is — the keys are this file's plain ASCII constants,
/// which a derived `Serialize` would escape again on every line.
struct JsonObject<'b> {
    buf: &'b mut Vec<u8>,
    /// Whether the `{` and a first field are written.
    open: bool,
}

impl JsonObject<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        self.buf.push(if self.open { b',' } else { b'{' });
        self.open = true;
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
        // Writing into a `Vec` cannot fail, and these values always serialise (a
        // non-finite duration is written `null`, as serde_json does for any f64).
        let _ = serde_json::to_writer(&mut *self.buf, value);
    }
}

/// Webhook keys in a path authenticate the caller: log them as `wh_…` + 4 characters.
fn mask_keys(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains("wh_") {
        return path.into();
    }
    path.split('/')
        .map(|segment| match segment.strip_prefix("wh_") {
            Some(key) if key.len() > 4 => format!("wh_…{}", &key[key.len() - 4..]),
            _ => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
        .into()
}

/// The most time a line waits for its batch.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// A batch this large is written at once by the request that filled it.
const FLUSH_AT: usize = 64 * 1024;

/// Lines waiting for their write, and the flusher's wake-up.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static WAITING: Condvar = Condvar::new();
/// The batch being written, and the spare buffer between writes. Taken before `PENDING`
/// is released: batches leave in the order their lines came.
static WRITING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static FLUSHER: Once = Once::new();

fn pending() -> MutexGuard<'static, Vec<u8>> {
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Queues one line (or several) for stdout.
fn emit(line: &[u8]) {
    FLUSHER.call_once(start_flusher);
    let mut batch = pending();
    let first = batch.is_empty();
    batch.extend_from_slice(line);
    if batch.len() >= FLUSH_AT {
        write_out(batch);
    } else if first {
        // Only the first line of a batch wakes the flusher.
        WAITING.notify_one();
    }
}

/// Writes what waits (the guard is released once the write's turn is taken). Two buffers
/// take turns, so batches allocate nothing once both have grown.
fn write_out(mut batch: MutexGuard<'static, Vec<u8>>) {
    let mut spare = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    std::mem::swap(&mut *batch, &mut *spare);
    drop(batch);
    // Nowhere to report a failed write of the log itself.
    let _ = std::io::stdout().lock().write_all(&spare);
    spare.clear();
}

/// Writes the lines that wait now (at exit, and in tests).
pub(crate) fn flush() {
    write_out(pending());
}

fn start_flusher() {
    let started = std::thread::Builder::new()
        .name("access-log".into())
        .spawn(|| loop {
            let mut batch = pending();
            while batch.is_empty() {
                batch = WAITING.wait(batch).unwrap_or_else(PoisonError::into_inner);
            }
            drop(batch);
            std::thread::sleep(FLUSH_EVERY);
            flush();
        });
    if started.is_err() {
        tracing::warn!(
            "could not start the access log's writer thread: lines wait for a full batch"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(path: &'a str, delivery_id: Option<&'a str>, duration_ms: f64) -> AccessLine<'a> {
        AccessLine {
            ts: "2026-12-01T06:00:00.000001Z",
            route: "billing",
            method: "POST",
            path,
            outcome: "forwarded",
            reason: None,
            status: Some(200),
            client_ip: Some("192.0.2.1"),
            delivery_id,
            secret_index: Some(1),
            secret_id: Some("primary"),
            event_pattern: None,
            body_bytes: 1024,
            duration_ms,
            upstream_ms: None,
            error: Some("ConnectRefused"),
        }
    }

    fn parsed(line: &AccessLine<'_>) -> serde_json::Map<String, serde_json::Value> {
        let mut buf = Vec::new();
        line.write_json(&mut buf);
        match serde_json::from_slice(&buf) {
            Ok(serde_json::Value::Object(map)) => map,
            other => panic!("not a JSON object: {other:?} from {}", buf.escape_ascii()),
        }
    }

    #[test]
    fn a_line_is_one_json_object_with_every_field_in_order() {
        let line = line("/hooks/a", Some("d-1"), 1.5);
        let map = parsed(&line);
        let keys = [
            "ts",
            "route",
            "method",
            "path",
            "outcome",
            "reason",
            "status",
            "client_ip",
            "delivery_id",
            "secret_index",
            "secret_id",
            "event_pattern",
            "body_bytes",
            "duration_ms",
            "upstream_ms",
            "error",
        ];
        assert_eq!(map.len(), keys.len());
        let mut text = Vec::new();
        line.write_json(&mut text);
        let text = String::from_utf8(text).unwrap();
        let at: Vec<usize> = keys
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(map["status"], 200);
        assert_eq!(map["reason"], serde_json::Value::Null);
        assert_eq!(map["duration_ms"], 1.5);
        assert_eq!(map["body_bytes"], 1024);
        assert_eq!(map["error"], "ConnectRefused");
    }

    #[test]
    fn values_the_client_chose_are_escaped_and_non_finite_numbers_are_null() {
        let path = "/a\"b\\c\u{1}\u{7f}é";
        let id = "x\"}, \"outcome\": \"forged\n";
        let map = parsed(&line(path, Some(id), f64::NAN));
        assert_eq!(map["path"], path);
        assert_eq!(map["delivery_id"], id);
        assert_eq!(map["outcome"], "forwarded");
        assert_eq!(map["duration_ms"], serde_json::Value::Null);
    }
}
