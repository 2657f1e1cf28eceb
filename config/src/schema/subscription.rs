//! Outbound webhooks: the app's listener (`[outbound]`) and the endpoints events are sent
//! to (`[[subscriptions]]`; more can be added through the admin API).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use hookguard_layers::verify::Scheme;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::route::{build_scheme, HmacSpec, Rate, SchemeError};
use super::secret::SecretSpec;
use crate::units::{ByteSize, HumanDuration, Timestamp};

/// The outbound side: where the app posts events (`POST /v1/events`) and what the
/// endpoints hookguard delivers them to may be.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outbound {
    /// Address the app posts events to (`IP:port`). Keep it on loopback (the app is in
    /// the same pod); any other address needs `tokens`. Read at start-up only.
    #[serde(default = "default_outbound_listen")]
    pub listen: SocketAddr,
    /// Bearer tokens the app must present (`Authorization: Bearer …`), from any secret
    /// source. Empty: no authentication, allowed only on a loopback `listen`.
    #[serde(default)]
    pub tokens: Vec<SecretSpec>,
    /// Networks endpoints may resolve to although they are loopback, private, link-local,
    /// CGNAT, multicast or cloud metadata addresses (refused otherwise, to stop the
    /// sidecar being used to reach internal services), e.g. `["10.20.0.0/16"]`.
    #[serde(default)]
    pub allow_networks: Vec<String>,
    /// Whether endpoints may be plain `http://` URLs (default: `https://` only).
    #[serde(default)]
    pub allow_http: bool,
    /// How long an event id is remembered: an event posted again with the same `id`
    /// within it is acknowledged without a second delivery.
    #[serde(default = "default_dedup_window")]
    pub dedup_window: HumanDuration,
    /// Largest event accepted (the whole JSON the app posts); larger ones get 413.
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: ByteSize,
}

impl Default for Outbound {
    fn default() -> Self {
        Self {
            listen: default_outbound_listen(),
            tokens: Vec::new(),
            allow_networks: Vec::new(),
            allow_http: false,
            dedup_window: default_dedup_window(),
            max_event_bytes: default_max_event_bytes(),
        }
    }
}

fn default_outbound_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}

fn default_dedup_window() -> HumanDuration {
    HumanDuration::secs(24 * 3600)
}

fn default_max_event_bytes() -> ByteSize {
    ByteSize(256 << 10)
}

/// One endpoint events are delivered to. The same fields are accepted as JSON by the
/// admin API (`POST /api/v1/subscriptions`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// The subscription's name: letters, digits, `-` and `_`, unique, and not the id of a
    /// route. Metrics (`route` label), logs and the dead-letter queue use it.
    pub id: String,
    /// The endpoint, e.g. `https://customer.example.com/webhooks`. Redirects are not
    /// followed.
    pub url: String,
    /// Event types delivered: exact (`job.completed`), a prefix (`job.*` matches
    /// `job.completed` and `job.step.failed`), or `*` for every type.
    pub events: Vec<String>,
    /// Whether events are delivered to it. Events posted while it is disabled are not
    /// kept for it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How each attempt is signed: `standard-webhooks` (default), `hmac` (generic,
    /// `X-Webhook-Signature: sha256=<hex>` over `{timestamp}.{body}` unless the `hmac`
    /// table says otherwise), or any scheme name that can sign (`github`, `stripe`, …).
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Options of the generic `hmac` scheme (only with `scheme = "hmac"`).
    #[serde(default)]
    pub hmac: Option<HmacSpec>,
    /// The signing secrets; the first signs (list the next one second during a rotation,
    /// then move it first). `standard-webhooks` secrets look like `whsec_<base64>`.
    pub secrets: Vec<SecretSpec>,
    /// Retries after the first attempt before an event goes to the dead-letter queue
    /// (1–10).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// How long one attempt may take (5s–300s); slower counts as a timeout, retried.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Attempts in flight at once to this endpoint.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Requests to this endpoint at most (token bucket); events wait their turn.
    #[serde(default)]
    pub rate_limit: Option<Rate>,
    /// Extra headers sent with every attempt, e.g. `{ "X-Tenant" = "acme" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Credentials the endpoint wants besides the signature.
    #[serde(default)]
    pub auth: Option<EndpointAuth>,
    /// When the subscription stops matching new events (RFC 3339), e.g. a webhook
    /// registered for one job. Unset: never.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

fn yes() -> bool {
    true
}

fn default_scheme() -> String {
    "standard-webhooks".to_owned()
}

fn default_max_retries() -> u32 {
    5
}

fn default_timeout() -> HumanDuration {
    HumanDuration::secs(30)
}

fn default_concurrency() -> u32 {
    8
}

impl Subscription {
    /// The signing scheme with its options. Fails only on a subscription that did not
    /// pass validation.
    pub fn build_scheme(&self) -> Result<Arc<dyn Scheme>, SchemeError> {
        build_scheme(&self.scheme, self.hmac.as_ref())
    }

    /// Whether `event_type` passes the subscription's event filter.
    pub fn matches(&self, event_type: &str) -> bool {
        self.events
            .iter()
            .any(|filter| event_matches(filter, event_type))
    }
}

/// Whether `event_type` passes one filter: `*`, `prefix.*` or an exact type.
pub fn event_matches(filter: &str, event_type: &str) -> bool {
    if filter == "*" {
        return true;
    }
    match filter.strip_suffix('*') {
        Some(prefix) => event_type.len() > prefix.len() && event_type.starts_with(prefix),
        None => filter == event_type,
    }
}

/// Credentials sent to an endpoint: a bearer token, basic auth, or an API key header.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointAuth {
    /// `bearer` (`Authorization: Bearer …`), `basic` (`Authorization: Basic …` with
    /// `username` and the secret as password) or `header` (the secret in `header`).
    pub kind: AuthKind,
    /// The header of `kind = "header"`, e.g. `X-API-Key`.
    #[serde(default)]
    pub header: Option<String>,
    /// The user name of `kind = "basic"`.
    #[serde(default)]
    pub username: Option<String>,
    /// The credential sent first.
    pub primary: SecretSpec,
    /// A second credential for a rotation: when the endpoint answers 401 to `primary`,
    /// the attempt is repeated at once with this one (metrics say which worked).
    #[serde(default)]
    pub next: Option<SecretSpec>,
}

/// How an endpoint credential is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Authorization: Basic base64(username:secret)`.
    Basic,
    /// `<header>: <secret>`.
    Header,
}

#[cfg(test)]
mod tests {
    use super::event_matches;

    #[test]
    fn filters_match_exact_types_prefixes_and_everything() {
        assert!(event_matches("job.completed", "job.completed"));
        assert!(!event_matches("job.completed", "job.completed.v2"));
        assert!(event_matches("job.*", "job.completed"));
        assert!(event_matches("job.*", "job.step.failed"));
        assert!(!event_matches("job.*", "job."));
        assert!(!event_matches("job.*", "jobs.completed"));
        assert!(!event_matches("job.*", "job"));
        assert!(event_matches("*", "anything"));
    }
}
