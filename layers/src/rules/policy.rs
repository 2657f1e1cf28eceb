//! [`PayloadPolicy`]: the rules of one route, applied in order, without HTTP-framework types.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::event::{EventDecision, EventFilter};
use super::headers::HeaderRules;
use super::schema::PayloadSchema;
use super::template::{OnMissing, RenderError, Template};
use super::{FilteredEvent, Metadata, Transformed};
use crate::reject::{Reason, Rejection};

/// The header carrying the SHA-256 (hex) of the body as the provider sent it, when the app
/// receives a mapped body.
pub const ORIGINAL_SHA256_HEADER: &str = "x-hookguard-original-sha256";

/// The payload rules of a route, applied in this order: event filter, JSON Schema, mapping,
/// headers. Each is optional.
#[derive(Debug, Clone, Default)]
pub struct PayloadPolicy {
    events: Option<EventFilter>,
    schema: Option<Arc<PayloadSchema>>,
    transform: Option<Template>,
    on_missing: OnMissing,
    headers: HeaderRules,
}

/// What the app receives once the rules passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The body to forward: the original bytes, or the mapped body.
    pub body: Bytes,
    /// Set when the body was mapped.
    pub transformed: Option<Transformed>,
}

impl PayloadPolicy {
    /// No rules: every delivery passes unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Filters deliveries by event type.
    pub fn events(mut self, filter: EventFilter) -> Self {
        self.events = Some(filter);
        self
    }

    /// Validates payloads against a schema.
    pub fn schema(mut self, schema: PayloadSchema) -> Self {
        self.schema = Some(Arc::new(schema));
        self
    }

    /// Maps payloads with a template.
    pub fn transform(mut self, template: Template, on_missing: OnMissing) -> Self {
        self.transform = Some(template);
        self.on_missing = on_missing;
        self
    }

    /// Adds and removes headers.
    pub fn headers(mut self, rules: HeaderRules) -> Self {
        self.headers = rules;
        self
    }

    /// The event filter, if any (its labels are the sidecar's metric labels).
    pub fn event_filter(&self) -> Option<&EventFilter> {
        self.events.as_ref()
    }

    /// Whether the body must be parsed as JSON.
    fn needs_json(&self) -> bool {
        self.schema.is_some()
            || self.transform.is_some()
            || self
                .events
                .as_ref()
                .is_some_and(|f| f.source().needs_body())
    }

    /// Applies the rules to a verified delivery: `headers` are changed in place; the body to
    /// forward is returned. A refusal is a [`Rejection`]: 200 `event_filtered` (acknowledged,
    /// not forwarded), 415 `unsupported_media_type`, 422 `schema_invalid` or
    /// `transform_failed`.
    pub fn apply(
        &self,
        headers: &mut HeaderMap,
        body: &Bytes,
        meta: &Metadata<'_>,
    ) -> Result<Applied, Rejection> {
        // Parsed once, and only when a rule reads the body. serde_json refuses nesting
        // deeper than 128 levels, which bounds the parse's stack and every walk below.
        let parsed = if self.needs_json() {
            Some(serde_json::from_slice::<Value>(body))
        } else {
            None
        };
        let payload = parsed.as_ref().and_then(|p| p.as_ref().ok());

        if let Some(filter) = &self.events {
            let event = filter.source().event_type(headers, payload);
            if let EventDecision::Filter { label } = filter.decide(event.as_deref()) {
                return Err(Rejection::new(
                    StatusCode::OK,
                    Reason::EventFiltered,
                    format!("filtered: this route does not take the event (pattern {label})"),
                )
                .with_extension(FilteredEvent { pattern: label }));
            }
        }
        let mut applied = Applied {
            body: body.clone(),
            transformed: None,
        };
        let payload = match parsed {
            // Only the event filter read the body (or nothing did): a body that is not JSON
            // merely has no event type.
            _ if self.schema.is_none() && self.transform.is_none() => {
                self.headers.apply(headers);
                return Ok(applied);
            }
            Some(Ok(payload)) => payload,
            Some(Err(e)) => return Err(not_json(headers, &e)),
            None => Value::Null,
        };
        if let Some(schema) = &self.schema {
            if let Err(violations) = schema.check(&payload) {
                let details: Vec<Value> = violations
                    .iter()
                    .map(|v| serde_json::json!({ "pointer": v.pointer, "message": v.message }))
                    .collect();
                return Err(Rejection::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Reason::SchemaInvalid,
                    "the payload does not match the route's JSON Schema",
                )
                .with_details(Value::Array(details)));
            }
        }
        if let Some(template) = &self.transform {
            // Only hookguard vouches for the hash: a caller's own header never passes.
            headers.remove(ORIGINAL_SHA256_HEADER);
            match template.render(&payload, meta, self.on_missing) {
                Ok(mapped) => {
                    let original_sha256 = hex::encode(Sha256::digest(body));
                    // Serialising a `Value` cannot fail (its keys are strings).
                    applied.body = Bytes::from(serde_json::to_vec(&mapped).unwrap_or_default());
                    headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    headers.insert(
                        header::CONTENT_LENGTH,
                        HeaderValue::from(applied.body.len()),
                    );
                    if let Ok(value) = HeaderValue::from_str(&original_sha256) {
                        headers.insert(ORIGINAL_SHA256_HEADER, value);
                    }
                    applied.transformed = Some(Transformed { original_sha256 });
                }
                Err(RenderError::SendOriginal(_)) => {}
                Err(e) => {
                    return Err(Rejection::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Reason::TransformFailed,
                        format!("the route's mapping failed: {e}"),
                    ))
                }
            }
        }
        self.headers.apply(headers);
        Ok(applied)
    }
}

fn not_json(headers: &HeaderMap, error: &serde_json::Error) -> Rejection {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    Rejection::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Reason::UnsupportedMediaType,
        format!(
            "this route's payload rules need a JSON body (content type {content_type}): {error}"
        ),
    )
}
