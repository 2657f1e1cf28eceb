//! `hookguard explain --event ID`: the request comes from a running sidecar's event log
//! (`GET /api/v1/events/{id}` on its admin API) instead of a file.
//!
//! The sidecar keeps a request's headers and body only for routes listed in
//! `admin.events.capture`, and masks credential and signature headers in what it keeps
//! (`admin::is_sensitive`). So the header stage and the body limit run again here on the
//! captured request, but when a header is masked the signature cannot be checked again:
//! the body-stage decisions shown are the ones the sidecar recorded.

use bytes::Bytes;
use hookguard_layers::Reason;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{json, Value};

use super::dlq::{AdminArgs, Call};
use super::explain::Captured;

/// What the sidecar recorded about the event.
pub(super) struct Recorded {
    pub(super) id: u64,
    pub(super) route: String,
    pub(super) outcome: String,
    pub(super) reason: Option<String>,
    pub(super) client_ip: Option<std::net::IpAddr>,
    /// Headers the capture masks (their values are not known here).
    pub(super) masked: Vec<String>,
    /// The event as the admin API returned it, without the capture.
    pub(super) summary: Value,
}

/// The value the sidecar puts in place of a masked header.
const MASKED: &str = "<masked>";

/// Fetches event `id` and turns its capture into a request. Must run outside a tokio
/// runtime (the admin client makes its own).
pub(super) fn fetch(admin: &str, token_env: &str, id: u64) -> Result<(Captured, Recorded), String> {
    let admin_args = AdminArgs::new(admin, token_env);
    let event = Call {
        admin: &admin_args,
        method: reqwest::Method::GET,
        path: format!("/events/{id}"),
        query: Vec::new(),
        body: None,
    }
    .send()?
    .map_err(|refusal| format!("--event {id}: the sidecar at {admin} answered {refusal}"))?;
    let route = event["route"].as_str().unwrap_or("-").to_owned();
    let Some(capture) = event.get("capture").filter(|c| c.is_object()) else {
        return Err(format!(
            "--event {id}: the sidecar kept no request for it (route {route} is not captured). \
             Turn capture on for the route in the config — [admin] events = {{ capture = \
             [\"{route}\"] }} — reload, and explain the next failing delivery."
        ));
    };
    if let Some(problem) = capture["error"].as_str() {
        return Err(format!("--event {id}: {problem}"));
    }
    let mut notes = Vec::new();
    let method = Method::from_bytes(capture["method"].as_str().unwrap_or("POST").as_bytes())
        .map_err(|_| format!("--event {id}: the captured method is not an HTTP method"))?;
    let mut headers = HeaderMap::new();
    let mut masked = Vec::new();
    for pair in capture["headers"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) else {
            continue;
        };
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            notes.push(format!(
                "captured header {name:?} is not a header name; left out"
            ));
            continue;
        };
        if value == MASKED {
            masked.push(name.to_string());
        }
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(name, value);
        }
    }
    let body = capture["body"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let kept = capture["body_bytes"].as_u64().unwrap_or(0);
    if body.len() as u64 != kept {
        notes.push(format!(
            "the captured body ({kept} bytes) is not UTF-8 and is shown altered; checks that \
             hash it cannot match"
        ));
    }
    if event["body_bytes"].as_u64().is_some_and(|full| full > kept) {
        notes.push(format!(
            "the sidecar kept the first {kept} of {} body bytes",
            event["body_bytes"]
        ));
    }
    if !masked.is_empty() {
        notes.push(format!(
            "the sidecar masks {} in captures, so the signature cannot be checked again here: \
             the body-stage decisions below are the ones it recorded. For the likely-mistake \
             search, run `hookguard explain --request FILE` on a raw copy of the request (the \
             sender's delivery log, or `hookguard sandbox`).",
            masked.join(", ")
        ));
    }
    let mut summary = event.clone();
    if let Some(object) = summary.as_object_mut() {
        object.remove("capture");
    }
    let recorded = Recorded {
        id,
        route,
        outcome: event["outcome"].as_str().unwrap_or("unknown").to_owned(),
        reason: event["reason"].as_str().map(str::to_owned),
        client_ip: event["client_ip"].as_str().and_then(|ip| ip.parse().ok()),
        masked,
        summary,
    };
    Ok((
        Captured {
            method,
            target: capture["path"].as_str().unwrap_or("/").to_owned(),
            headers,
            body: Bytes::from(body),
            notes,
        },
        recorded,
    ))
}

impl Recorded {
    /// The recorded refusal reason, in the layers' vocabulary.
    pub(super) fn refusal(&self) -> Option<Reason> {
        let refused = matches!(self.outcome.as_str(), "rejected" | "shadow_rejected");
        let reason = self.reason.as_deref().filter(|_| refused)?;
        Reason::ALL.iter().copied().find(|r| r.as_str() == reason)
    }

    /// The first row of the report: what the sidecar decided.
    pub(super) fn row(&self) -> Value {
        let status = self.summary["status"]
            .as_u64()
            .map_or(String::new(), |s| format!(", answered {s}"));
        json!({
            "check": format!("sidecar (event {})", self.id),
            "decision": self.outcome,
            "detail": format!(
                "{}{status}, at {}",
                self.reason.as_deref().unwrap_or("no refusal"),
                self.summary["ts"].as_str().unwrap_or("?")
            ),
        })
    }

    /// The body-stage rows from the record, for when the signature cannot be re-checked.
    pub(super) fn body_rows(
        &self,
        body_checks: &[&str],
        check_of: fn(Reason) -> &'static str,
    ) -> Vec<Value> {
        let refused_by = self.refusal().map(check_of);
        let admitted = matches!(self.outcome.as_str(), "forwarded" | "queued");
        let mut reached = true;
        body_checks
            .iter()
            .map(|check| {
                let (decision, detail) = if Some(*check) == refused_by {
                    reached = false;
                    (
                        "refused (as recorded)".to_owned(),
                        self.reason.clone().unwrap_or_default(),
                    )
                } else if reached
                    && (admitted || refused_by.is_some_and(|c| body_checks.contains(&c)))
                {
                    let detail = match (*check, self.summary["secret_id"].as_str()) {
                        ("signature", Some(secret)) => format!("secret {secret} matched"),
                        _ => String::new(),
                    };
                    ("passed (as recorded)".to_owned(), detail)
                } else {
                    ("not reached".to_owned(), String::new())
                };
                json!({"check": check, "decision": decision, "detail": detail})
            })
            .collect()
    }
}
