//! Rule evaluation: readings of the metrics go in, with the time they were taken; firing
//! and resolved notifications come out. No clock is read here — the caller passes `now` —
//! so tests drive it with a fake one.
//!
//! Windows work as Prometheus' `increase()` does without extrapolation: the value now
//! minus the value in the newest reading at least `window` old. Until a reading that old
//! exists the baseline is 0, which is exact for counters that start with the process (the
//! evaluator starts with it too). A counter that went down was reset: its whole value is
//! the increase.
//!
//! Per rule and label set (a route, a route's secret, a secret source) an alert is
//! inactive, pending (the condition holds, `for` has not passed), or firing. Firing sends a
//! notification, repeated no more often than `repeat_interval` while it keeps firing; when
//! the condition stops holding a resolved notification follows. A silenced rule still
//! changes state but sends nothing (and no resolved for a firing nobody was told about).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use hookguard_config::{AlertKind, AlertRule, Alerts, Severity};

use super::samples::{Labels, Samples};

/// `hookguard_requests_total` reasons that are the deployment's fault, as in the
/// Prometheus rule `HookguardHighFailureRate` (deploy/prometheus/hookguard-rules.yaml).
pub(crate) const FAILURE_REASONS: &[&str] = &[
    "no_secret",
    "secret_format",
    "url_unknown",
    "peer_unknown",
    "not_verified",
    "replay_store_unavailable",
];

/// Reasons counted as authentication failures, as in `HookguardAuthenticationFailures`.
pub(crate) const AUTH_REASONS: &[&str] = &[
    "signature_mismatch",
    "missing_header",
    "duplicate_header",
    "malformed_header",
    "malformed_body",
    "timestamp_outside_window",
];

/// Whether an alert starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One message to the rule's channels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notification {
    pub(crate) rule: String,
    pub(crate) kind: AlertKind,
    pub(crate) severity: Severity,
    pub(crate) status: Status,
    /// What the alert is about: `route`, `secret_id`, `source`.
    pub(crate) labels: Labels,
    /// The value that crossed (or, resolved, no longer crosses) the threshold.
    pub(crate) value: f64,
    pub(crate) threshold: f64,
    pub(crate) window: Duration,
    /// One line for a person.
    pub(crate) summary: String,
    /// When it started firing (Unix ms).
    pub(crate) started_at_ms: u64,
    /// When this notification was made (Unix ms).
    pub(crate) at_ms: u64,
    /// A repeat of a firing already notified.
    pub(crate) repeat: bool,
    pub(crate) channels: Vec<String>,
}

impl Notification {
    /// The same for every notification of one alert (PagerDuty's `dedup_key`).
    pub(crate) fn alert_key(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("hookguard/{}/{}", self.rule, labels.join(","))
    }

    /// `[FIRING] rule: summary`, for subjects and chat lines.
    pub(crate) fn title(&self) -> String {
        format!(
            "[{}] hookguard {}: {}",
            self.status.as_str().to_uppercase(),
            self.rule,
            self.summary
        )
    }

    /// The JSON the webhook and MQTT channels send.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": format!("alert.{}", self.status.as_str()),
            "rule": self.rule,
            "kind": self.kind.as_str(),
            "severity": self.severity.as_str(),
            "status": self.status.as_str(),
            "labels": self.labels,
            "value": self.value,
            "threshold": self.threshold,
            "window_seconds": self.window.as_secs_f64(),
            "summary": self.summary,
            "started_at": crate::rfc3339::unix_ms(self.started_at_ms),
            "at": crate::rfc3339::unix_ms(self.at_ms),
            "repeat": self.repeat,
        })
    }
}

/// One alert's state.
#[derive(Debug, Clone)]
struct AlertState {
    pending_since: u64,
    firing_since: Option<u64>,
    last_notified: Option<u64>,
}

/// Evaluates the rules of `[alerts]`; lives as long as the process (reloads pass the new
/// rules; alerts of rules that kept their id and kind keep their state).
#[derive(Default)]
pub(crate) struct Evaluator {
    history: VecDeque<(u64, Arc<Samples>)>,
    states: HashMap<(String, Labels), AlertState>,
}

impl Evaluator {
    /// Evaluates every rule on `samples`, taken at `now_ms` (Unix ms).
    pub(crate) fn evaluate(
        &mut self,
        alerts: &Alerts,
        samples: Samples,
        now_ms: u64,
    ) -> Vec<Notification> {
        let samples = Arc::new(samples);
        let mut out = Vec::new();
        for rule in &alerts.rules {
            let window_ms = rule.window().get().as_millis() as u64;
            let baseline = self.baseline(now_ms.saturating_sub(window_ms));
            let values = instances(rule, &samples, baseline.as_deref());
            self.advance(rule, alerts, values, now_ms, &mut out);
        }
        // Alerts of rules that are gone (reload) end without a word.
        self.states
            .retain(|(id, _), _| alerts.rules.iter().any(|r| &r.id == id));
        self.history.push_back((now_ms, samples));
        // Keep the newest reading older than the longest window, and everything after it.
        let longest = alerts
            .rules
            .iter()
            .map(|r| r.window().get().as_millis() as u64)
            .max()
            .unwrap_or(0);
        let horizon = now_ms.saturating_sub(longest);
        while self.history.len() > 1 && self.history[1].0 <= horizon {
            self.history.pop_front();
        }
        out
    }

    /// The newest reading taken at or before `at_ms`.
    fn baseline(&self, at_ms: u64) -> Option<Arc<Samples>> {
        self.history
            .iter()
            .rev()
            .find(|(t, _)| *t <= at_ms)
            .map(|(_, s)| Arc::clone(s))
    }

    fn advance(
        &mut self,
        rule: &AlertRule,
        alerts: &Alerts,
        values: Vec<(Labels, f64, bool)>,
        now: u64,
        out: &mut Vec<Notification>,
    ) {
        let silenced = rule
            .silence_until
            .is_some_and(|until| until.0.unix_timestamp_nanos() / 1_000_000 > i128::from(now));
        let hold = rule.for_.map_or(0, |d| d.get().as_millis() as u64);
        let repeat = rule
            .repeat_interval
            .unwrap_or(alerts.repeat_interval)
            .get()
            .as_millis() as u64;
        let mut holding: Vec<&Labels> = Vec::new();
        for (labels, value, crossed) in &values {
            if !crossed {
                continue;
            }
            holding.push(labels);
            let state = self
                .states
                .entry((rule.id.clone(), labels.clone()))
                .or_insert(AlertState {
                    pending_since: now,
                    firing_since: None,
                    last_notified: None,
                });
            if state.firing_since.is_none() && now.saturating_sub(state.pending_since) >= hold {
                state.firing_since = Some(now);
            }
            let Some(since) = state.firing_since else {
                continue;
            };
            let due = state
                .last_notified
                .is_none_or(|last| now.saturating_sub(last) >= repeat);
            if due && !silenced {
                out.push(notification(
                    rule,
                    Status::Firing,
                    labels,
                    *value,
                    since,
                    now,
                    state.last_notified.is_some(),
                ));
                state.last_notified = Some(now);
            }
        }
        let ended: Vec<(String, Labels)> = self
            .states
            .keys()
            .filter(|(id, labels)| id == &rule.id && !holding.contains(&labels))
            .cloned()
            .collect();
        for key in ended {
            let Some(state) = self.states.remove(&key) else {
                continue;
            };
            if let (Some(since), Some(_)) = (state.firing_since, state.last_notified) {
                if !silenced {
                    let value = values
                        .iter()
                        .find(|(l, _, _)| *l == key.1)
                        .map_or(0.0, |(_, v, _)| *v);
                    out.push(notification(
                        rule,
                        Status::Resolved,
                        &key.1,
                        value,
                        since,
                        now,
                        false,
                    ));
                }
            }
        }
    }

    /// Alerts firing now: (rule id, labels, firing since).
    pub(crate) fn firing(&self) -> Vec<(String, Labels, u64)> {
        let mut out: Vec<_> = self
            .states
            .iter()
            .filter_map(|((id, labels), s)| s.firing_since.map(|t| (id.clone(), labels.clone(), t)))
            .collect();
        out.sort();
        out
    }
}

fn notification(
    rule: &AlertRule,
    status: Status,
    labels: &Labels,
    value: f64,
    since: u64,
    now: u64,
    repeat: bool,
) -> Notification {
    Notification {
        rule: rule.id.clone(),
        kind: rule.kind,
        severity: rule.severity(),
        status,
        labels: labels.clone(),
        value,
        threshold: rule.threshold(),
        window: rule.window().get(),
        summary: summary(rule, status, labels, value),
        started_at_ms: since,
        at_ms: now,
        repeat,
        channels: rule.channels.clone(),
    }
}

fn summary(rule: &AlertRule, status: Status, labels: &Labels, value: f64) -> String {
    let route = labels.get("route").map_or("", String::as_str);
    let window = humantime::format_duration(rule.window().get());
    let threshold = rule.threshold();
    let what = match rule.kind {
        AlertKind::FailureRate => format!(
            "route {route}: {:.1} % of requests failed over {window} (threshold {:.1} %)",
            value * 100.0,
            threshold * 100.0
        ),
        AlertKind::AuthFailures => format!(
            "route {route}: {value} authentication failures in {window} (threshold {threshold})"
        ),
        AlertKind::LatencyP95 => format!(
            "route {route}: p95 latency {value:.2} s over {window} (threshold {threshold} s)"
        ),
        AlertKind::DeadLetters => format!(
            "route {route}: {value} messages dead-lettered in {window} (threshold {threshold})"
        ),
        AlertKind::SecretTooOld => format!(
            "route {route}: secret {} is older than its max_age",
            labels.get("secret_id").map_or("", String::as_str)
        ),
        AlertKind::SecretSourceDown => format!(
            "secret source {}: the last fetch failed",
            labels.get("source").map_or("", String::as_str)
        ),
    };
    match status {
        Status::Firing => what,
        Status::Resolved => format!("resolved: {what}"),
    }
}

/// The rule's value per label set now, and whether it crosses the threshold.
fn instances(
    rule: &AlertRule,
    now: &Samples,
    baseline: Option<&Samples>,
) -> Vec<(Labels, f64, bool)> {
    let threshold = rule.threshold();
    let wanted = |labels: &Labels| {
        rule.routes.is_empty()
            || labels
                .get("route")
                .is_some_and(|r| rule.routes.iter().any(|w| w == r))
    };
    let increase = |name: &str, labels: &Labels, value: f64| {
        let before = baseline.and_then(|b| b.get(name, labels)).unwrap_or(0.0);
        if value < before {
            value
        } else {
            value - before
        }
    };
    // Sum of increases per route of the series of `name` that `keep` selects.
    let per_route = |name: &str, keep: &dyn Fn(&Labels) -> bool| {
        let mut sums: BTreeMap<String, f64> = BTreeMap::new();
        for (labels, value) in now.named(name) {
            let Some(route) = labels.get("route") else {
                continue;
            };
            if !wanted(labels) {
                continue;
            }
            let slot = sums.entry(route.clone()).or_default();
            if keep(labels) {
                *slot += increase(name, labels, value);
            }
        }
        sums
    };
    let route_labels = |route: String| Labels::from([("route".to_owned(), route)]);
    match rule.kind {
        AlertKind::FailureRate => {
            let requests = "hookguard_requests_total";
            let totals = per_route(requests, &|_| true);
            let failures = per_route(requests, &|l| {
                let outcome = l.get("outcome").map_or("", String::as_str);
                let reason = l.get("reason").map_or("", String::as_str);
                outcome == "error" || (outcome == "rejected" && FAILURE_REASONS.contains(&reason))
            });
            totals
                .into_iter()
                .filter(|(_, total)| *total > 0.0)
                .map(|(route, total)| {
                    let rate = failures.get(&route).copied().unwrap_or(0.0) / total;
                    (route_labels(route), rate, rate > threshold)
                })
                .collect()
        }
        AlertKind::AuthFailures => per_route("hookguard_requests_total", &|l| {
            let outcome = l.get("outcome").map_or("", String::as_str);
            let reason = l.get("reason").map_or("", String::as_str);
            matches!(outcome, "rejected" | "shadow_rejected") && AUTH_REASONS.contains(&reason)
        })
        .into_iter()
        .map(|(route, n)| (route_labels(route), n, n > threshold))
        .collect(),
        AlertKind::DeadLetters => per_route("hookguard_delivery_dead_lettered_total", &|_| true)
            .into_iter()
            .map(|(route, n)| (route_labels(route), n, n > threshold))
            .collect(),
        AlertKind::LatencyP95 => {
            let name = "hookguard_request_duration_seconds_bucket";
            let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for (labels, value) in now.named(name) {
                let (Some(route), Some(le)) = (labels.get("route"), labels.get("le")) else {
                    continue;
                };
                if !wanted(labels) {
                    continue;
                }
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::INFINITY)
                };
                buckets
                    .entry(route.clone())
                    .or_default()
                    .push((bound, increase(name, labels, value)));
            }
            buckets
                .into_iter()
                .filter_map(|(route, b)| {
                    let p95 = quantile(0.95, b)?;
                    Some((route_labels(route), p95, p95 > threshold))
                })
                .collect()
        }
        AlertKind::SecretTooOld => now
            .named("hookguard_secret_too_old")
            .filter(|(l, _)| wanted(l))
            .map(|(l, v)| (l.clone(), v, v == 1.0))
            .collect(),
        AlertKind::SecretSourceDown => now
            .named("hookguard_secret_source_up")
            .map(|(l, v)| (l.clone(), v, v == 0.0))
            .collect(),
    }
}

/// `histogram_quantile` as Prometheus computes it: linear interpolation inside the bucket
/// the rank falls in; the highest finite bound when it falls in `+Inf`. `None` without
/// observations.
pub(crate) fn quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> Option<f64> {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().filter(|b| b.0.is_infinite())?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower_bound = 0.0;
    let mut lower_count = 0.0;
    for &(bound, count) in &buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower_bound);
            }
            if count == lower_count {
                return Some(bound);
            }
            return Some(
                lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count),
            );
        }
        lower_bound = bound;
        lower_count = count;
    }
    Some(lower_bound)
}

#[cfg(test)]
mod tests;
