//! `POST /api/v1/routes/{id}/test`: signs a sample delivery with the route's current
//! (primary) secret — the same signing code as `hookguard sign` — sends it through the
//! sidecar's own listener, and answers with what each stage decided, read back from the
//! event log entry the request produced.

// Helpers return the refusal `Response` itself as the error, as axum handlers answer.
#![allow(clippy::result_large_err)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hookguard_config::MatchKind;
use hookguard_delivery::Timestamp;
use hookguard_layers::credentials::CredentialSource as _;
use hookguard_layers::verify::{SignOptions, WebhookRequest};
use hookguard_layers::Reason;
use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{audit, bad_request, error, not_found, ApiError, TokenId};
use super::AdminState;
use crate::stack::ConfigSource;
use crate::state::{Event, EventFilter};

/// The stages of a request, in the order the sidecar runs them.
const STAGES: [&str; 8] = [
    "route",
    "ip_filter",
    "rate_limit",
    "body",
    "signature",
    "replay_guard",
    "payload_rules",
    "delivery",
];

/// The stage a refusal reason belongs to (the sidecar's own reasons, then the layers').
fn stage_of(reason: &str) -> &'static str {
    let Some(reason) = Reason::ALL.iter().find(|r| r.as_str() == reason) else {
        return "delivery";
    };
    // `Reason` is non-exhaustive: a new one lands in "unknown" until it is listed here, and
    // the test below fails until then.
    match reason {
        Reason::IpDenied | Reason::PeerUnknown => "ip_filter",
        Reason::RateLimited => "rate_limit",
        Reason::BodyTooLarge | Reason::BodyReadFailed => "body",
        Reason::MissingHeader
        | Reason::DuplicateHeader
        | Reason::MalformedHeader
        | Reason::MalformedBody
        | Reason::NoSecret
        | Reason::SecretFormat
        | Reason::SignatureMismatch
        | Reason::TimestampOutsideWindow
        | Reason::UrlUnknown
        | Reason::NotVerified => "signature",
        Reason::Duplicate
        | Reason::DuplicateInFlight
        | Reason::MissingDeliveryId
        | Reason::ReplayStoreUnavailable => "replay_guard",
        Reason::EventFiltered
        | Reason::SchemaInvalid
        | Reason::UnsupportedMediaType
        | Reason::TransformFailed => "payload_rules",
        Reason::QueueFull
        | Reason::QueueUnavailable
        | Reason::UpstreamUnreachable
        | Reason::UpstreamTimeout
        | Reason::UpstreamError => "delivery",
        Reason::RouteNotFound | Reason::KeyDisabled | Reason::BadPath => "route",
        Reason::BadFraming | Reason::UpgradeRefused | Reason::BodyTimeout => "body",
        _ => "unknown",
    }
}

/// Each stage's decision for an event.
fn stages(event: &Event) -> Vec<Value> {
    let stopped_at = event.reason.as_deref().map(stage_of);
    let mut reached = true;
    STAGES
        .iter()
        .map(|&stage| {
            let decision = if !reached {
                "not reached".to_owned()
            } else if stopped_at == Some(stage) {
                reached = event.outcome == "shadow_rejected";
                let reason = event.reason.as_deref().unwrap_or_default();
                if reached {
                    format!("refused ({reason}), forwarded anyway: shadow mode")
                } else {
                    format!("refused: {reason}")
                }
            } else if stage == "delivery" {
                match (event.outcome.as_str(), event.status) {
                    ("queued", _) => "stored for delivery (202)".to_owned(),
                    (_, Some(status)) => format!("the app answered {status}"),
                    _ => "no answer from the app".to_owned(),
                }
            } else {
                "passed".to_owned()
            };
            json!({ "stage": stage, "decision": decision })
        })
        .collect()
}

/// `POST /routes/{id}/test`.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TestDelivery {
    /// The body to sign and send (default: a small JSON object).
    #[serde(default)]
    body: Option<String>,
}

/// Where the sidecar's listener is reached from this process.
fn listener(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Sends a signed sample delivery through the sidecar and reports each stage's decision.
#[utoipa::path(post, path = "/routes/{id}/test", tag = "routes",
    params(("id" = String, Path, description = "the route's id")),
    request_body(content = TestDelivery, description = "Optional"),
    responses(
        (status = 200, description = "`request` (headers, signature masked), `response` (status, body), `stages`: each stage's decision, `event`", body = Value),
        (status = 400, description = "The body is wrong", body = ApiError),
        (status = 404, description = "No such route", body = ApiError),
        (status = 409, description = "A key route without an enabled key", body = ApiError),
        (status = 502, description = "The sidecar's listener did not answer", body = ApiError),
    ))]
pub(super) async fn test(
    State(state): State<AdminState>,
    Extension(token): Extension<TokenId>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let options: TestDelivery = if body.iter().all(u8::is_ascii_whitespace) {
        TestDelivery::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(o) => o,
            Err(e) => {
                return bad_request(format!(
                    "body: {e}; expected {{\"body\": \"…\"}} or no body"
                ))
            }
        }
    };
    let snapshot = state.live.current();
    let Some(route) = snapshot.routes.iter().find(|r| *r.id == *id) else {
        return not_found(format!("no route {id}"));
    };
    let config = &route.config;
    // The path to call, and as shown in the answer (a key is a credential).
    let (path, shown_path) = match config.matches.kind() {
        Some(MatchKind::Exact(path)) => (path.to_owned(), path.to_owned()),
        Some(MatchKind::Prefix(prefix)) => (prefix.to_owned(), prefix.to_owned()),
        Some(MatchKind::Keys { prefix, .. }) => {
            let table = state.process.operator().map(|o| o.keys.load_full());
            let key = table.as_ref().and_then(|t| {
                t.records
                    .iter()
                    .find(|r| r.route == id && r.enabled)
                    .map(|r| r.key.clone())
            });
            // Without the admin state (no API keys), the file's keys are all there is.
            let from_file = || {
                let mut keys = config.matches.keys.iter();
                keys.find(|k| k.enabled).map(|k| k.key.clone())
            };
            match if table.is_some() { key } else { from_file() } {
                Some(key) => (format!("{prefix}{key}"), format!("{prefix}{{key}}")),
                None => {
                    return error(
                        StatusCode::CONFLICT,
                        "conflict",
                        format!("route {id} has no enabled key to send the test with"),
                    )
                }
            }
        }
        None => return not_found(format!("no route {id}")),
    };
    // The route's current secrets, fetched as the route fetches them.
    let secret = match ConfigSource::new(&config.secrets, state.process.base_dir().to_path_buf()) {
        Ok(source) => match source.fetch(&id).await {
            Ok(set) => set.entries().first().map(|e| e.value.clone()),
            Err(e) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "secret_unavailable",
                    e.to_string(),
                )
            }
        },
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, "secret_unavailable", e),
    };
    let scheme = match config.build_scheme() {
        Ok(s) => s,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    let Some(key) = secret.and_then(|s| {
        use secrecy::ExposeSecret as _;
        scheme.parse_signing_key(s.expose_secret()).ok()
    }) else {
        return error(
            StatusCode::CONFLICT,
            "conflict",
            format!("route {id}: its primary secret cannot sign (a verify-only key, or none)"),
        );
    };
    let delivery_id = format!("hookguard-test-{}", uuid::Uuid::now_v7());
    let sample = options.body.unwrap_or_else(|| {
        json!({ "hookguard": "test delivery", "route": id, "id": delivery_id }).to_string()
    });
    let target = listener(snapshot.config.listen);
    let url = format!("http://{target}{path}");
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url: config.public_url.as_deref().or(Some(url.as_str())),
        headers: &empty,
        body: sample.as_bytes(),
    };
    let sign_options = SignOptions {
        timestamp: i64::try_from(Timestamp::now().0 / 1000).unwrap_or_default(),
        id: Some(delivery_id.clone()),
    };
    let signed = match scheme.sign(&request, &key, &sign_options) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::CONFLICT, "conflict", format!("route {id}: {e}")),
    };
    let body = signed
        .body
        .clone()
        .unwrap_or_else(|| sample.clone().into_bytes());
    let before = state
        .process
        .operator()
        .and_then(|o| {
            o.events
                .list(
                    &EventFilter {
                        limit: 1,
                        ..EventFilter::default()
                    },
                    Timestamp::now().0,
                )
                .first()
                .map(|e| e.id)
        })
        .unwrap_or(0);
    let client = reqwest::Client::new();
    let mut call = client
        .post(&url)
        .timeout(Duration::from_secs(30))
        .header("content-type", "application/json")
        .body(body.clone());
    for (name, value) in &signed.headers {
        call = call.header(name, value);
    }
    let answer = match call.send().await {
        Ok(a) => a,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "listener_unreachable",
                format!("{url}: {e}"),
            )
        }
    };
    let status = answer.status().as_u16();
    let answer_body = answer.text().await.unwrap_or_default();
    // The access log (and so the event) is written just after the answer.
    let mut event = None;
    if let Some(operator) = state.process.operator() {
        for _ in 0..100 {
            let found = operator
                .events
                .list(
                    &EventFilter {
                        after: Some(before),
                        limit: 50,
                        ..EventFilter::default()
                    },
                    Timestamp::now().0,
                )
                .into_iter()
                .find(|e| {
                    e.delivery_id.as_deref() == Some(delivery_id.as_str())
                        || (e.delivery_id.is_none() && e.route == id)
                });
            if found.is_some() {
                event = found;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    audit(
        &state,
        &token,
        "route.test",
        json!({ "route": id, "status": status }),
    )
    .await;
    let headers: Vec<Value> = signed
        .headers
        .iter()
        .map(|(name, value)| {
            json!([
                name.as_str(),
                if super::dead_letters::is_sensitive(name.as_str()) {
                    "<masked>"
                } else {
                    value.as_str()
                }
            ])
        })
        .collect();
    Json(json!({
        "request": {
            "method": "POST",
            "url": format!("http://{target}{shown_path}"),
            "headers": headers,
            "delivery_id": delivery_id,
            "body_bytes": body.len(),
        },
        "response": { "status": status, "body": answer_body.chars().take(2048).collect::<String>() },
        "stages": event.as_ref().map(stages),
        "event": event,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_belongs_to_a_stage_before_delivery_or_to_delivery() {
        for reason in Reason::ALL {
            assert!(STAGES.contains(&stage_of(reason.as_str())), "{reason:?}");
        }
        assert_eq!(stage_of("key_disabled"), "route");
        assert_eq!(stage_of("signature_mismatch"), "signature");
        assert_eq!(stage_of("duplicate"), "replay_guard");
    }
}
