//! Each rule fires and resolves, driven by a fake clock: readings come from a private
//! Prometheus registry holding metrics of the sidecar's names and labels (checked against
//! the real ones below), gathered as `/metrics` gathers them.

use std::sync::Arc;

use hookguard_config::{AlertKind, Alerts};
use hookguard_layers::credentials::{
    CredentialStats, RouteStats, SecretStats, SourceState, SourceStats,
};
use prometheus::core::Collector as _;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::{quantile, Evaluator, Notification, Status, AUTH_REASONS, FAILURE_REASONS};
use crate::alerts::samples::Samples;

const SEC: u64 = 1000;
/// An arbitrary start (2026-11-30T00:00:00Z), so times print as real dates.
const T0: u64 = 1_796_083_200 * SEC;

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    dead: IntCounterVec,
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("hookguard_requests_total", "requests"),
            &["route", "outcome", "reason"],
        )
        .unwrap();
        let duration = HistogramVec::new(
            HistogramOpts::new("hookguard_request_duration_seconds", "duration")
                .buckets(vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["route"],
        )
        .unwrap();
        let dead = IntCounterVec::new(
            Opts::new("hookguard_delivery_dead_lettered_total", "dead"),
            &["route", "direction", "reason"],
        )
        .unwrap();
        registry.register(Box::new(requests.clone())).unwrap();
        registry.register(Box::new(duration.clone())).unwrap();
        registry.register(Box::new(dead.clone())).unwrap();
        Self {
            registry,
            requests,
            duration,
            dead,
        }
    }

    fn count(&self, route: &str, outcome: &str, reason: &str, n: u64) {
        self.requests
            .with_label_values(&[route, outcome, reason])
            .inc_by(n);
    }

    fn samples(&self) -> Samples {
        Samples::from_families(&self.registry.gather())
    }
}

fn alerts(rules: serde_json::Value) -> Alerts {
    serde_json::from_value(serde_json::json!({
        "repeat_interval": "1h",
        "rules": rules,
        "channels": [{ "id": "ops", "log": {} }],
    }))
    .unwrap()
}

fn statuses(out: &[Notification]) -> Vec<(Status, String)> {
    out.iter()
        .map(|n| {
            let what: Vec<String> = n.labels.values().cloned().collect();
            (n.status, what.join("/"))
        })
        .collect()
}

#[test]
fn failure_rate_fires_above_the_threshold_and_resolves_when_failures_leave_the_window() {
    let config = alerts(serde_json::json!([
        { "id": "failing", "kind": "failure_rate", "channels": ["ops"] }
    ]));
    let m = Metrics::new();
    let mut e = Evaluator::default();
    // 100 forwarded, 5 upstream errors: 4.8 %, under 10 %.
    m.count("github", "forwarded", "", 100);
    m.count("github", "error", "upstream_error", 5);
    // Refusals of bad senders are not failures.
    m.count("github", "rejected", "signature_mismatch", 50);
    assert!(e.evaluate(&config, m.samples(), T0).is_empty());
    // Within the next minute: 10 forwarded, 10 errors, 5 missing secrets → total increase
    // over 5m (baseline 0) = 170 requests, 20 failures = 11.8 %.
    m.count("github", "forwarded", "", 10);
    m.count("github", "error", "upstream_error", 10);
    m.count("github", "rejected", "no_secret", 5);
    let out = e.evaluate(&config, m.samples(), T0 + 60 * SEC);
    assert_eq!(statuses(&out), [(Status::Firing, "github".into())]);
    let n = &out[0];
    assert_eq!(n.kind, AlertKind::FailureRate);
    assert!((n.value - 20.0 / 180.0).abs() < 1e-9, "{}", n.value);
    assert!(
        n.summary
            .contains("route github: 11.1 % of requests failed over 5m"),
        "{}",
        n.summary
    );
    assert_eq!(n.channels, ["ops"]);
    // 20 failures of 190 requests: still firing, already notified.
    m.count("github", "forwarded", "", 10);
    assert!(e.evaluate(&config, m.samples(), T0 + 120 * SEC).is_empty());
    // Five minutes on, only successes since the reading at T0 + 120 s: resolved.
    m.count("github", "forwarded", "", 100);
    let out = e.evaluate(&config, m.samples(), T0 + 420 * SEC);
    assert_eq!(statuses(&out), [(Status::Resolved, "github".into())]);
    assert_eq!(out[0].started_at_ms, T0 + 60 * SEC);
    assert!(out[0].summary.starts_with("resolved: "));
}

#[test]
fn authentication_failures_fire_per_route_over_one_minute() {
    let config = alerts(serde_json::json!([
        { "id": "auth", "kind": "auth_failures", "channels": ["ops"] }
    ]));
    let m = Metrics::new();
    let mut e = Evaluator::default();
    assert!(e.evaluate(&config, m.samples(), T0).is_empty());
    m.count("stripe", "rejected", "signature_mismatch", 4);
    m.count("stripe", "shadow_rejected", "timestamp_outside_window", 2);
    m.count("github", "rejected", "signature_mismatch", 5); // 5 is not more than 5
    m.count("github", "rejected", "rate_limited", 100); // not an authentication failure
    let out = e.evaluate(&config, m.samples(), T0 + 30 * SEC);
    assert_eq!(statuses(&out), [(Status::Firing, "stripe".into())]);
    assert_eq!(out[0].value, 6.0);
    // 61 s after the failures the window (1m) no longer holds them.
    assert!(e.evaluate(&config, m.samples(), T0 + 60 * SEC).is_empty());
    let out = e.evaluate(&config, m.samples(), T0 + 91 * SEC);
    assert_eq!(statuses(&out), [(Status::Resolved, "stripe".into())]);
}

#[test]
fn p95_latency_fires_over_five_seconds_and_resolves() {
    let config = alerts(serde_json::json!([
        { "id": "slow", "kind": "latency_p95", "channels": ["ops"] }
    ]));
    let m = Metrics::new();
    let mut e = Evaluator::default();
    let h = m.duration.with_label_values(&["github"]);
    for _ in 0..90 {
        h.observe(0.05);
    }
    for _ in 0..10 {
        h.observe(8.0);
    }
    // p95: rank 95 of 100, in the (5, 10] bucket holding 10: 5 + 5 * 5/10 = 7.5 s.
    let out = e.evaluate(&config, m.samples(), T0);
    assert_eq!(statuses(&out), [(Status::Firing, "github".into())]);
    assert!((out[0].value - 7.5).abs() < 1e-9, "{}", out[0].value);
    for _ in 0..1000 {
        h.observe(0.05);
    }
    let out = e.evaluate(&config, m.samples(), T0 + 301 * SEC);
    assert_eq!(statuses(&out), [(Status::Resolved, "github".into())]);
    assert!(out[0].value <= 0.1, "{}", out[0].value);
}

#[test]
fn a_growing_dead_letter_queue_fires_and_resolves_when_it_stops_growing() {
    let config = alerts(serde_json::json!([
        { "id": "dlq", "kind": "dead_letters", "window": "10m", "channels": ["ops"] }
    ]));
    let m = Metrics::new();
    let mut e = Evaluator::default();
    m.dead
        .with_label_values(&["shopify", "inbound", "rejected"])
        .inc();
    let out = e.evaluate(&config, m.samples(), T0);
    assert_eq!(statuses(&out), [(Status::Firing, "shopify".into())]);
    // The same count ten minutes later: nothing new in the window.
    let out = e.evaluate(&config, m.samples(), T0 + 600 * SEC);
    assert_eq!(statuses(&out), [(Status::Resolved, "shopify".into())]);
    m.dead
        .with_label_values(&["shopify", "inbound", "attempts_exhausted"])
        .inc_by(3);
    let out = e.evaluate(&config, m.samples(), T0 + 660 * SEC);
    assert_eq!(statuses(&out), [(Status::Firing, "shopify".into())]);
    assert_eq!(out[0].value, 3.0);
}

fn credential_stats(too_old: bool, source: SourceState) -> CredentialStats {
    CredentialStats {
        sources: vec![SourceStats {
            name: "vault secret/hookguard#github".into(),
            state: source,
            fetches_ok: 1,
            fetches_failed: 0,
            last_success: None,
            last_failure: None,
            last_error: None,
        }],
        routes: vec![RouteStats {
            route: Arc::from("github"),
            scheme: "github",
            source: "vault".into(),
            requests: Default::default(),
            fetched_at: None,
            expires_at: None,
            secrets: vec![SecretStats {
                id: Arc::from("primary"),
                position: 0,
                matches: 0,
                last_match: None,
                rotated_at: None,
                too_old,
            }],
        }],
        ..Default::default()
    }
}

#[test]
fn an_old_secret_and_a_source_down_fire_and_resolve() {
    let config = alerts(serde_json::json!([
        { "id": "old", "kind": "secret_too_old", "channels": ["ops"] },
        { "id": "down", "kind": "secret_source_down", "channels": ["ops"] }
    ]));
    let mut e = Evaluator::default();
    let reading = |too_old, state| {
        let mut s = Samples::default();
        s.add_credentials(&credential_stats(too_old, state));
        s
    };
    assert!(e
        .evaluate(&config, reading(false, SourceState::Up), T0)
        .is_empty());
    let out = e.evaluate(&config, reading(true, SourceState::Down), T0 + 15 * SEC);
    assert_eq!(
        statuses(&out),
        [
            (Status::Firing, "github/primary".into()),
            (Status::Firing, "vault secret/hookguard#github".into())
        ]
    );
    assert_eq!(
        out[0].summary,
        "route github: secret primary is older than its max_age"
    );
    assert_eq!(
        out[1].summary,
        "secret source vault secret/hookguard#github: the last fetch failed"
    );
    let out = e.evaluate(&config, reading(false, SourceState::Up), T0 + 30 * SEC);
    assert_eq!(
        statuses(&out),
        [
            (Status::Resolved, "github/primary".into()),
            (Status::Resolved, "vault secret/hookguard#github".into())
        ]
    );
}

#[test]
fn a_firing_alert_repeats_no_more_often_than_the_repeat_interval() {
    let config = alerts(serde_json::json!([
        { "id": "auth", "kind": "auth_failures", "window": "1h", "repeat_interval": "10m", "channels": ["ops"] }
    ]));
    let m = Metrics::new();
    let mut e = Evaluator::default();
    m.count("github", "rejected", "signature_mismatch", 10);
    let mut sent = Vec::new();
    for minute in 0..=25 {
        for n in e.evaluate(&config, m.samples(), T0 + minute * 60 * SEC) {
            sent.push((minute, n.repeat));
        }
    }
    assert_eq!(sent, [(0, false), (10, true), (20, true)]);
}

#[test]
fn a_silenced_rule_tells_nobody_until_the_silence_ends() {
    // Silenced until T0 + 10 minutes.
    let until = crate::rfc3339::unix_ms(T0 + 600 * SEC);
    let config = alerts(serde_json::json!([
        { "id": "auth", "kind": "auth_failures", "window": "1h", "silence_until": until, "channels": ["ops"] }
    ]));
    let m = Metrics::new();
    let mut e = Evaluator::default();
    m.count("github", "rejected", "signature_mismatch", 10);
    assert!(e.evaluate(&config, m.samples(), T0).is_empty());
    assert!(e.evaluate(&config, m.samples(), T0 + 300 * SEC).is_empty());
    assert_eq!(e.firing().len(), 1, "the state moves on while silenced");
    let out = e.evaluate(&config, m.samples(), T0 + 600 * SEC);
    assert_eq!(statuses(&out), [(Status::Firing, "github".into())]);
    assert_eq!(
        out[0].started_at_ms, T0,
        "it has been firing since the start"
    );
}

#[test]
fn for_holds_an_alert_pending_until_the_condition_lasted_that_long() {
    let config = alerts(serde_json::json!([
        { "id": "auth", "kind": "auth_failures", "window": "1h", "for": "2m", "channels": ["ops"] }
    ]));
    let m = Metrics::new();
    let mut e = Evaluator::default();
    m.count("github", "rejected", "signature_mismatch", 10);
    assert!(e.evaluate(&config, m.samples(), T0).is_empty());
    assert!(e.evaluate(&config, m.samples(), T0 + 60 * SEC).is_empty());
    assert!(e.firing().is_empty());
    let out = e.evaluate(&config, m.samples(), T0 + 120 * SEC);
    assert_eq!(statuses(&out), [(Status::Firing, "github".into())]);
}

#[test]
fn a_pending_alert_that_ends_sends_no_resolved() {
    let config = alerts(serde_json::json!([
        { "id": "auth", "kind": "auth_failures", "for": "5m", "channels": ["ops"] }
    ]));
    let m = Metrics::new();
    let mut e = Evaluator::default();
    m.count("github", "rejected", "signature_mismatch", 10);
    assert!(e.evaluate(&config, m.samples(), T0).is_empty());
    assert!(e.evaluate(&config, m.samples(), T0 + 61 * SEC).is_empty());
}

#[test]
fn routes_limit_a_rule_to_those_routes() {
    let config = alerts(serde_json::json!([
        { "id": "auth", "kind": "auth_failures", "routes": ["stripe"], "channels": ["ops"] }
    ]));
    let m = Metrics::new();
    let mut e = Evaluator::default();
    m.count("github", "rejected", "signature_mismatch", 10);
    m.count("stripe", "rejected", "signature_mismatch", 10);
    let out = e.evaluate(&config, m.samples(), T0);
    assert_eq!(statuses(&out), [(Status::Firing, "stripe".into())]);
}

#[test]
fn a_counter_that_went_down_was_reset_and_counts_whole() {
    let config = alerts(serde_json::json!([
        { "id": "auth", "kind": "auth_failures", "repeat_interval": "1s", "channels": ["ops"] }
    ]));
    let mut e = Evaluator::default();
    let first = Metrics::new();
    first.count("github", "rejected", "signature_mismatch", 100);
    assert_eq!(e.evaluate(&config, first.samples(), T0).len(), 1);
    // A new process (counters from 0) 70 s later: 7 since, not 7 - 100.
    let restarted = Metrics::new();
    restarted.count("github", "rejected", "signature_mismatch", 7);
    let out = e.evaluate(&config, restarted.samples(), T0 + 70 * SEC);
    assert_eq!(statuses(&out), [(Status::Firing, "github".into())]);
    assert_eq!(out[0].value, 7.0);
}

#[test]
fn quantiles_interpolate_as_prometheus_does() {
    // histogram_quantile over buckets le=1:10, le=2:20, le=+Inf:20: 0.75 → rank 15, in
    // (1, 2] → 1.5; 0.5 → rank 10, the top of the first bucket → 1; a rank in +Inf gives
    // the highest finite bound.
    let b = vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
    assert_eq!(quantile(0.75, b.clone()), Some(1.5));
    assert_eq!(quantile(0.5, b.clone()), Some(1.0));
    assert_eq!(
        quantile(0.95, vec![(1.0, 0.0), (f64::INFINITY, 10.0)]),
        Some(1.0)
    );
    assert_eq!(quantile(0.95, vec![(1.0, 0.0), (f64::INFINITY, 0.0)]), None);
    assert_eq!(quantile(0.25, b), Some(0.5));
}

#[test]
fn the_rules_read_the_metrics_the_sidecar_exports() {
    let m = &crate::metrics::METRICS;
    let name = |c: &dyn prometheus::core::Collector| c.desc()[0].fq_name.clone();
    assert_eq!(name(&m.requests), "hookguard_requests_total");
    assert_eq!(
        name(&m.request_duration),
        "hookguard_request_duration_seconds"
    );
    assert_eq!(
        name(&m.delivery.dead),
        "hookguard_delivery_dead_lettered_total"
    );
    assert_eq!(
        m.requests.desc()[0].variable_labels,
        ["route", "outcome", "reason"]
    );
    assert_eq!(m.delivery.dead.desc()[0].variable_labels[0], "route");
    let rendered = crate::metrics::render_credentials(&credential_stats(true, SourceState::Down));
    assert!(
        rendered.contains("hookguard_secret_source_up{source=\"vault secret/hookguard#github\"} 0")
    );
    assert!(rendered.contains("hookguard_secret_too_old{route=\"github\",secret_id=\"primary\"} 1"));
    let mut samples = Samples::default();
    samples.add_credentials(&credential_stats(true, SourceState::Down));
    assert_eq!(samples.named("hookguard_secret_source_up").count(), 1);
    assert_eq!(samples.named("hookguard_secret_too_old").count(), 1);
}

#[test]
fn the_reason_lists_name_real_reasons() {
    let known: Vec<&str> = hookguard_layers::Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    for reason in FAILURE_REASONS.iter().chain(AUTH_REASONS) {
        assert!(known.contains(reason), "{reason} is not a Reason");
    }
    // The Prometheus rules use the same lists.
    let rules = include_str!("../../../../deploy/prometheus/hookguard-rules.yaml");
    assert!(rules.contains(&FAILURE_REASONS.join("|")));
    assert!(rules.contains(&AUTH_REASONS.join("|")));
}
