//! Built-in alerting (`[alerts]`): rules evaluated inside the sidecar from the same counters
//! `/metrics` serves, and the channels their notifications go to. For deployments without
//! Prometheus; with Prometheus, use `deploy/prometheus/` and `deploy/alertmanager/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::route::HmacSpec;
use super::secret::SecretSpec;
use crate::units::{HumanDuration, Timestamp};

/// Alert rules and notification channels.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// How often the rules are evaluated.
    #[serde(default = "default_evaluate_every")]
    pub evaluate_every: HumanDuration,
    /// Shortest time between two notifications of an alert that keeps firing (a rule may
    /// set its own).
    #[serde(default = "default_repeat_interval")]
    pub repeat_interval: HumanDuration,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<AlertRule>,
    /// Where notifications go; rules name them by id.
    #[serde(default)]
    pub channels: Vec<AlertChannel>,
}

fn default_evaluate_every() -> HumanDuration {
    HumanDuration::secs(15)
}

fn default_repeat_interval() -> HumanDuration {
    HumanDuration::secs(3600)
}

/// One rule: a condition on the sidecar's counters, checked per route (or per secret
/// source), that fires while it holds and resolves when it stops holding.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// The rule's name (letters, digits, `-`, `_`), unique; notifications carry it.
    pub id: String,
    /// What is watched; each kind has a default `threshold` and `window`.
    pub kind: AlertKind,
    /// The limit the value must exceed to fire. Defaults: `failure_rate` 0.10 (a
    /// fraction), `auth_failures` 5 (requests in the window), `latency_p95` 5 (seconds),
    /// `dead_letters` 0 (messages dead-lettered in the window); not used by
    /// `secret_too_old` and `secret_source_down`.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// The window the value is computed over. Defaults: 5m, except `auth_failures` 1m.
    #[serde(default)]
    pub window: Option<HumanDuration>,
    /// How long the condition must hold before the alert fires (default 0: at once).
    #[serde(default, rename = "for")]
    pub for_: Option<HumanDuration>,
    /// Only these route ids (empty: every route). Not used by `secret_source_down`.
    #[serde(default)]
    pub routes: Vec<String>,
    /// The channel ids notified when the alert fires and when it resolves.
    pub channels: Vec<String>,
    /// `critical`, `error`, `warning` or `info` (PagerDuty's severities). Default:
    /// `critical` for `failure_rate`, `info` for `secret_too_old`, `warning` otherwise.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Shortest time between two notifications of this rule's alert while it keeps
    /// firing (default: `alerts.repeat_interval`).
    #[serde(default)]
    pub repeat_interval: Option<HumanDuration>,
    /// Silence: until this time (RFC 3339) the rule is evaluated but notifies nobody.
    #[serde(default)]
    pub silence_until: Option<Timestamp>,
}

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Failed requests / all requests of a route over the window: upstream errors and
    /// refusals caused by the deployment (the same as the Prometheus rule
    /// `HookguardHighFailureRate`), not refusals of bad senders.
    FailureRate,
    /// Requests of a route refused for a missing, malformed or wrong signature or an
    /// expired timestamp, in the window.
    AuthFailures,
    /// The 95th percentile of request duration of a route over the window, in seconds.
    LatencyP95,
    /// Messages of a route (or subscription) moved to the dead-letter queue in the window.
    DeadLetters,
    /// A secret older than its `max_age`.
    SecretTooOld,
    /// A secret source whose last fetch failed.
    SecretSourceDown,
}

impl AlertKind {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::FailureRate => "failure_rate",
            AlertKind::AuthFailures => "auth_failures",
            AlertKind::LatencyP95 => "latency_p95",
            AlertKind::DeadLetters => "dead_letters",
            AlertKind::SecretTooOld => "secret_too_old",
            AlertKind::SecretSourceDown => "secret_source_down",
        }
    }

    /// The threshold used when the rule sets none.
    pub fn default_threshold(self) -> f64 {
        match self {
            AlertKind::FailureRate => 0.10,
            AlertKind::AuthFailures | AlertKind::LatencyP95 => 5.0,
            AlertKind::DeadLetters | AlertKind::SecretTooOld | AlertKind::SecretSourceDown => 0.0,
        }
    }

    /// The window used when the rule sets none.
    pub fn default_window(self) -> HumanDuration {
        match self {
            AlertKind::AuthFailures => HumanDuration::secs(60),
            _ => HumanDuration::secs(300),
        }
    }

    /// The severity used when the rule sets none.
    pub fn default_severity(self) -> Severity {
        match self {
            AlertKind::FailureRate => Severity::Critical,
            AlertKind::SecretTooOld => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

/// How urgent an alert is (PagerDuty Events API v2's severities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Wake someone up.
    Critical,
    /// Needs attention soon.
    Error,
    /// Look at it today.
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// The name used in the file and by PagerDuty.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl AlertRule {
    /// The threshold, or the kind's default.
    pub fn threshold(&self) -> f64 {
        self.threshold.unwrap_or(self.kind.default_threshold())
    }

    /// The window, or the kind's default.
    pub fn window(&self) -> HumanDuration {
        self.window.unwrap_or(self.kind.default_window())
    }

    /// The severity, or the kind's default.
    pub fn severity(&self) -> Severity {
        self.severity.unwrap_or(self.kind.default_severity())
    }
}

/// A notification channel: an id and exactly one of `slack`, `webhook`, `email`,
/// `pagerduty`, `mqtt` or `log`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertChannel {
    /// The channel's name, which rules and `hookguard alerts test --channel` use.
    pub id: String,
    /// A Slack incoming webhook.
    #[serde(default)]
    pub slack: Option<SlackChannel>,
    /// A JSON POST to any URL, signed like outbound webhooks.
    #[serde(default)]
    pub webhook: Option<WebhookChannel>,
    /// Email over SMTP with TLS.
    #[serde(default)]
    pub email: Option<EmailChannel>,
    /// PagerDuty Events API v2 (trigger and resolve).
    #[serde(default)]
    pub pagerduty: Option<PagerDutyChannel>,
    /// An MQTT broker (and, optionally, a stream of request outcomes).
    #[serde(default)]
    pub mqtt: Option<MqttChannel>,
    /// hookguard's own log (stderr, target `hookguard::alerts`).
    #[serde(default)]
    pub log: Option<LogChannel>,
}

impl AlertChannel {
    /// The kinds this channel sets (validation requires exactly one).
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            self.slack.as_ref().map(|_| "slack"),
            self.webhook.as_ref().map(|_| "webhook"),
            self.email.as_ref().map(|_| "email"),
            self.pagerduty.as_ref().map(|_| "pagerduty"),
            self.mqtt.as_ref().map(|_| "mqtt"),
            self.log.as_ref().map(|_| "log"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A Slack incoming webhook.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackChannel {
    /// The webhook's URL (`https://hooks.slack.com/services/…`): it is a credential, so
    /// it comes from a secret source, e.g. `{ id = "slack", env = "SLACK_WEBHOOK_URL" }`.
    pub webhook_url: SecretSpec,
}

/// A JSON POST to any URL, signed at each send like outbound webhooks.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    /// The endpoint (`https://…`; `http://` is allowed, e.g. for a service in the pod).
    pub url: String,
    /// How it is signed: `standard-webhooks` (default), `hmac`, or any scheme that can
    /// sign (`github`, `stripe`, …), as for subscriptions.
    #[serde(default = "default_webhook_scheme")]
    pub scheme: String,
    /// Options of the generic `hmac` scheme.
    #[serde(default)]
    pub hmac: Option<HmacSpec>,
    /// The signing secret(s); the first signs.
    pub secrets: Vec<SecretSpec>,
    /// Extra headers sent with every notification.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_webhook_scheme() -> String {
    "standard-webhooks".into()
}

/// Email over SMTP.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// The SMTP server's `host:port`, e.g. `smtp.example.com:587`.
    pub server: String,
    /// `starttls` (default: plain connection upgraded with STARTTLS, refused if the server
    /// does not offer it) or `tls` (TLS from the first byte, usually port 465).
    #[serde(default)]
    pub tls: EmailTls,
    /// A PEM file of CA certificates to trust besides the usual public ones (a private
    /// mail relay).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The SMTP user name (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// The SMTP password, from a secret source.
    #[serde(default)]
    pub password: Option<SecretSpec>,
    /// The sender, e.g. `hookguard <alerts@example.com>`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

/// How the SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmailTls {
    /// STARTTLS, required.
    #[default]
    Starttls,
    /// Implicit TLS.
    Tls,
}

/// PagerDuty Events API v2.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyChannel {
    /// The integration's routing key, from a secret source.
    pub routing_key: SecretSpec,
    /// The Events API endpoint (change it only for a proxy or a test double).
    #[serde(default = "default_pagerduty_url")]
    pub url: String,
}

fn default_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}

/// An MQTT broker.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttChannel {
    /// The broker's `host:port` (plain MQTT 3.1.1 over TCP).
    pub broker: String,
    /// The topic alerts are published to (JSON, QoS 1).
    #[serde(default = "default_mqtt_topic")]
    pub topic: String,
    /// The client id hookguard connects with.
    #[serde(default = "default_mqtt_client_id")]
    pub client_id: String,
    /// The user name (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// The password, from a secret source.
    #[serde(default)]
    pub password: Option<SecretSpec>,
    /// If set, each request's access log line (JSON: route, outcome, reason, status,
    /// durations, …; never header values, bodies or secrets) is published to this topic,
    /// QoS 0: a live feed for dashboards. Messages are dropped, never queued without bound, when the broker is
    /// slower than the traffic.
    #[serde(default)]
    pub outcomes_topic: Option<String>,
}

fn default_mqtt_topic() -> String {
    "hookguard/alerts".into()
}

fn default_mqtt_client_id() -> String {
    "hookguard".into()
}

/// hookguard's own log: nothing to set (`log = {}`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogChannel {}

impl WebhookChannel {
    /// The signing scheme with its options.
    pub fn build_scheme(
        &self,
    ) -> Result<std::sync::Arc<dyn hookguard_layers::verify::Scheme>, super::SchemeError> {
        super::route::build_scheme(&self.scheme, self.hmac.as_ref())
    }
}
