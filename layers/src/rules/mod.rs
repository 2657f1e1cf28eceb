//! Payload rules: what the app sees of a verified delivery.
//!
//! Run after signature verification and the replay guard (innermost), in this order:
//!
//! 1. **Event filter** ([`EventFilter`]): the event type, read from a header or a JSONPath
//!    of the body ([`EventSource`], with [`PRESETS`] for providers whose event type is
//!    known), against `events` (allow) and `ignore` (deny) patterns such as `push` and
//!    `pull_request.*`. A filtered delivery is acknowledged with 200 and
//!    `{"error":"event_filtered",…}` and never reaches the app; the response carries a
//!    [`FilteredEvent`] extension naming the configured pattern that decided (or `other`),
//!    never the raw event type.
//! 2. **JSON Schema** ([`PayloadSchema`], draft 2020-12): a payload that does not match is
//!    refused with 422 and its first few violations (JSON pointer and message) under
//!    `"details"`; a body that is not JSON with 415.
//! 3. **Mapping** ([`Template`]): the app receives a body built from the payload with
//!    JSONPaths and the delivery's metadata, with `Content-Type: application/json` and
//!    [`ORIGINAL_SHA256_HEADER`]; a [`Transformed`] request extension says so.
//! 4. **Headers** ([`HeaderRules`]): removed, then added; hookguard's own `x-hookguard-*`
//!    headers and the framing headers are out of reach.
//!
//! The rules live in [`PayloadPolicy`] (no HTTP-framework types), shared with the sidecar;
//! [`PayloadRulesLayer`] is the tower layer. Bounds: the body is parsed at most once, only
//! when a rule reads it, up to the layer's `max_body`; nesting deeper than 128 levels is
//! not parsed (serde_json's limit, answered 415); a mapped body holds at most
//! [`MAX_OUTPUT_VALUES`] JSON values; and the JSONPaths' work is bounded by the payload:
//! [`WORK_PER_VALUE`] units per value of the payload plus [`WORK_FLOOR`], where a path
//! with descendant segments (`..`) is charged its worst case, values × depth per `..`,
//! before it runs, and each value copied into the mapped body one unit. A mapping over
//! budget is refused like any mapping error (422 `transform_failed`, whatever
//! `on_missing` says); an event-type path over budget is not evaluated (the delivery has
//! no event type, as when the body is not JSON). See [`PathCost`].
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use hookguard_layers::rules::{EventFilter, EventSource, PayloadPolicy, PayloadRulesLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let filter = EventFilter::new(EventSource::preset("github").unwrap())
//!     .events(["push", "pull_request.*"])
//!     .unwrap();
//! let app = ServiceBuilder::new()
//!     .layer(PayloadRulesLayer::new("github", PayloadPolicy::new().events(filter)))
//!     .service(service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("handled"))))
//!     }));
//! let delivery = |event: &str| {
//!     Request::post("/hook")
//!         .header("X-GitHub-Event", event)
//!         .body(Full::from(r#"{"zen":"Keep it logically awesome."}"#))
//!         .unwrap()
//! };
//! let push = app.clone().oneshot(delivery("push")).await.unwrap();
//! assert_eq!(push.into_body().collect().await.unwrap().to_bytes(), "handled");
//! let ping = app.oneshot(delivery("ping")).await.unwrap();
//! assert_eq!(ping.status(), 200);
//! let body = ping.into_body().collect().await.unwrap().to_bytes();
//! assert!(body.starts_with(br#"{"error":"event_filtered""#));
//! # });
//! ```

// `Rejection` is the project's one refusal type (see `ip`); its size is accepted here too.
#![allow(clippy::result_large_err)]

mod cost;
mod event;
pub mod fuzzing;
mod headers;
mod layer;
mod policy;
mod schema;
mod service;
mod template;

use std::net::IpAddr;
use std::sync::Arc;

pub use cost::{PathCost, Shape, WORK_FLOOR, WORK_PER_VALUE};
pub use event::{EventDecision, EventFilter, EventPattern, EventSource, OTHER, PRESETS};
pub use headers::{allowed as header_allowed, HeaderRules, PROTECTED_PREFIX};
pub use layer::PayloadRulesLayer;
pub use policy::{Applied, PayloadPolicy, ORIGINAL_SHA256_HEADER};
pub use schema::{PayloadSchema, SchemaViolation, MAX_REPORTED_ERRORS};
pub use service::PayloadRules;
pub use template::{
    OnMissing, RenderError, Template, TemplateError, TemplateKey, MAX_OUTPUT_VALUES,
};

/// A rule that cannot be built: what is wrong and what was expected (the config crate
/// places it at the field's file:line:col).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}; expected {expected}")]
pub struct RuleError {
    /// What is wrong.
    pub problem: String,
    /// What was expected instead.
    pub expected: String,
}

impl RuleError {
    pub(crate) fn new(problem: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

/// The delivery's metadata, for a mapping's `{{ }}` placeholders.
#[derive(Debug, Clone)]
pub struct Metadata<'a> {
    /// The route's id.
    pub route: &'a str,
    /// The verified delivery id, when the scheme carries one.
    pub delivery_id: Option<&'a str>,
    /// When the delivery was received (RFC 3339).
    pub received_at: String,
    /// The client address the IP filter decided on (or the peer).
    pub client_ip: Option<IpAddr>,
}

/// Response extension of a filtered delivery: the configured pattern that decided, or
/// [`OTHER`] (a bounded metric label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilteredEvent {
    /// The configured pattern, or `other`.
    pub pattern: Arc<str>,
}

/// Request extension of a delivery whose body was mapped: whoever forwards it must send
/// the new body (and its length), not the bytes it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformed {
    /// SHA-256 (hex) of the body as the provider sent it.
    pub original_sha256: String,
}

#[cfg(test)]
mod tests;
