//! Rejections: one typed value per refusal, turned into a response in exactly one place.
//!
//! Every layer refuses a request by producing a [`Rejection`]: a status, a [`Reason`] from
//! a fixed list (shared by responses, logs and metrics) and a message that is safe to show
//! to the caller — never a secret or an expected signature. [`FromRejection`] turns it into
//! the inner service's response type: `http::Response<B>` for Rust services, or
//! [`Verdict`] for the hookguard sidecar.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};

/// Declares [`Reason`] from one list, so the enum, [`Reason::ALL`] and the codes cannot
/// drift apart (a variant missing from a hand-kept `ALL` would never be pre-registered).
macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// Why a request was refused. A fixed list: label values for metrics come from here.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
        }

        impl Reason {
            /// Every reason, for pre-registering metric label values.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The stable snake_case code used in responses, logs and metric labels.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $code,)*
                }
            }
        }
    };
}

reasons! {
    /// A required header is absent.
    MissingHeader => "missing_header",
    /// A header that must appear once appears several times.
    DuplicateHeader => "duplicate_header",
    /// A header is present but does not parse.
    MalformedHeader => "malformed_header",
    /// The body lacks the signature fields a scheme carries inside it, or does not parse.
    MalformedBody => "malformed_body",
    /// No secret is configured for the route.
    NoSecret => "no_secret",
    /// A configured secret is not in the format the scheme needs.
    SecretFormat => "secret_format",
    /// No configured secret produces the signature the request carries.
    SignatureMismatch => "signature_mismatch",
    /// The signed timestamp is too far in the past or the future.
    TimestampOutsideWindow => "timestamp_outside_window",
    /// The scheme signs the request URL and the public URL is unknown.
    UrlUnknown => "url_unknown",
    /// The body is larger than the route allows.
    BodyTooLarge => "body_too_large",
    /// The body could not be read.
    BodyReadFailed => "body_read_failed",
    /// The client address is on the deny list, or not on the allow list.
    IpDenied => "ip_denied",
    /// The server did not record the connection's peer address, so the IP filter or the
    /// per-client rate limit cannot run (a deployment error: the filter fails closed).
    PeerUnknown => "peer_unknown",
    /// The client sent more requests than its rate limit allows.
    RateLimited => "rate_limited",
    /// The delivery was already accepted by the app; it is acknowledged, not forwarded again.
    Duplicate => "duplicate",
    /// The same delivery is being handled right now; the provider should retry later.
    DuplicateInFlight => "duplicate_in_flight",
    /// The route requires a delivery id and the request carries none.
    MissingDeliveryId => "missing_delivery_id",
    /// The replay guard found no verification result: it must sit after signature
    /// verification.
    NotVerified => "not_verified",
    /// The replay store could not be reached.
    ReplayStoreUnavailable => "replay_store_unavailable",
    /// The route's delivery queue is at its bound; the provider should retry later.
    QueueFull => "queue_full",
    /// The delivery queue could not store the request; the provider should retry later.
    QueueUnavailable => "queue_unavailable",
    /// The delivery's event type is not one the route takes: acknowledged (200), not
    /// forwarded.
    EventFiltered => "event_filtered",
    /// The payload does not match the route's JSON Schema.
    SchemaInvalid => "schema_invalid",
    /// The route's payload rules need a JSON body and the body is not JSON (or is nested
    /// deeper than the parser allows).
    UnsupportedMediaType => "unsupported_media_type",
    /// The route's mapping could not build the body the app receives.
    TransformFailed => "transform_failed",
    /// No route serves the request's path (the sidecar).
    RouteNotFound => "route_not_found",
    /// The webhook key in the path exists but is disabled (the sidecar).
    KeyDisabled => "key_disabled",
    /// The request's framing is refused: both `Content-Length` and `Transfer-Encoding`, or a
    /// `Content-Length` that is not a number (the sidecar).
    BadFraming => "bad_framing",
    /// The path has dot segments (`..`, `.`, or their percent-encoded forms) (the sidecar).
    BadPath => "bad_path",
    /// The request asks for a protocol upgrade (`Upgrade`, `CONNECT`): webhooks never need one,
    /// and a tunnel would carry unchecked requests to the app (the sidecar).
    UpgradeRefused => "upgrade_refused",
    /// The body was not received within the route's read timeout (the sidecar).
    BodyTimeout => "body_timeout",
    /// The app could not be connected to (the sidecar: 502).
    UpstreamUnreachable => "upstream_unreachable",
    /// The app did not answer within `upstream.read_timeout` (the sidecar: 504).
    UpstreamTimeout => "upstream_timeout",
    /// The app's connection failed or its answer was not valid HTTP (the sidecar: 502).
    UpstreamError => "upstream_error",
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: what to answer and why.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// HTTP status to answer with.
    pub status: StatusCode,
    /// The fixed reason code.
    pub reason: Reason,
    /// A human-readable explanation, safe to send to the caller.
    pub message: String,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: HeaderMap,
    /// Structured details sent in the body as `"details"` (e.g. the first schema errors).
    pub details: Option<serde_json::Value>,
    /// Values the response carries for whoever answers it (e.g. the sidecar's metrics:
    /// which configured event pattern filtered a delivery). Never sent to the caller.
    pub extensions: http::Extensions,
}

impl Rejection {
    /// A rejection with no extra headers.
    pub fn new(status: StatusCode, reason: Reason, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
            headers: HeaderMap::new(),
            details: None,
            extensions: http::Extensions::new(),
        }
    }

    /// Adds structured details to the body.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds a value to the response's extensions.
    pub fn with_extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }

    /// The small JSON body sent with the response: `{"error":"<code>","message":"..."}`,
    /// plus `"details"` when there are some.
    pub fn body_json(&self) -> Bytes {
        let mut body =
            serde_json::json!({ "error": self.reason.as_str(), "message": self.message });
        if let (Some(details), Some(map)) = (&self.details, body.as_object_mut()) {
            map.insert("details".into(), details.clone());
        }
        Bytes::from(body.to_string())
    }

    /// The response, with a JSON body, for any body type that can be built from bytes.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let body = self.body_json();
        let mut response = Response::new(B::from(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.extend(self.headers);
        response.extensions_mut().extend(self.extensions);
        // The reason travels with the response, so the sidecar can log and count it without
        // parsing the body.
        response.extensions_mut().insert(self.reason);
        response
    }
}

/// Builds a service's response type from a [`Rejection`], so layers can refuse requests
/// in front of any inner service.
pub trait FromRejection {
    /// The response that carries this rejection.
    fn from_rejection(rejection: Rejection) -> Self;
}

impl<B: From<Bytes>> FromRejection for Response<B> {
    fn from_rejection(rejection: Rejection) -> Self {
        rejection.into_response()
    }
}

/// A stack's decision on one request, as the sidecar's innermost service returns it: forward
/// the request upstream (it passed every check), or answer the caller directly (a refusal,
/// or an acknowledgement such as a duplicate's).
#[derive(Debug)]
pub enum Verdict {
    /// The request passed every check; forward these exact bytes.
    Forward(Request<Bytes>),
    /// Answer the caller with this response; nothing is forwarded.
    Respond(Response<Bytes>),
}

impl FromRejection for Verdict {
    fn from_rejection(rejection: Rejection) -> Self {
        Verdict::Respond(rejection.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_distinct_snake_case_code() {
        let mut codes: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert!(codes
            .iter()
            .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
    }

    #[test]
    fn duplicate_is_a_success_status_with_the_shared_json_shape() {
        let response: Response<Bytes> =
            Rejection::new(StatusCode::OK, Reason::Duplicate, "not forwarded").into_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.body(),
            r#"{"error":"duplicate","message":"not forwarded"}"#
        );
    }
}
