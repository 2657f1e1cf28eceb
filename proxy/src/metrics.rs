//! The sidecar's Prometheus metrics. Label values come only from configuration identifiers
//! (route ids, secret ids) and fixed enums (outcome, reason) — never from request data.

use std::sync::LazyLock;

mod credentials;

#[cfg(test)]
pub(crate) use credentials::render as render_credentials;
pub(crate) use credentials::{families as credential_families, CredentialCollector};

use prometheus::{
    register_gauge, register_gauge_vec, register_histogram, register_histogram_vec,
    register_int_counter, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
    Encoder, Gauge, GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, TextEncoder,
};

/// Latency buckets (seconds): from 100 µs to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Body size buckets (bytes): 256 B to 16 MiB.
const SIZE_BUCKETS: &[f64] = &[
    256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

pub(crate) struct Metrics {
    pub(crate) requests: IntCounterVec,
    pub(crate) rejections: IntCounterVec,
    pub(crate) request_duration: HistogramVec,
    pub(crate) upstream_duration: HistogramVec,
    pub(crate) body_bytes: HistogramVec,
    pub(crate) secret_matches: IntCounterVec,
    pub(crate) events_filtered: IntCounterVec,
    pub(crate) connections_open: IntGauge,
    pub(crate) connections_refused: IntCounterVec,
    pub(crate) head_timeouts: IntCounter,
    pub(crate) reload_successful: Gauge,
    pub(crate) build_info: GaugeVec,
    pub(crate) delivery: DeliveryMetrics,
}

/// The shared state backend's metrics (`[state] backend = "redis"`).
pub(crate) struct StateMetrics {
    pub(crate) up: IntGauge,
    pub(crate) degraded: IntCounterVec,
    pub(crate) command_duration: HistogramVec,
    pub(crate) command_errors: IntCounterVec,
}

/// Registered only when a configuration uses Redis: a memory deployment exports no
/// `hookguard_state_backend_up` (which would read 0 and fire the "backend down" alert).
pub(crate) static STATE_METRICS: LazyLock<StateMetrics> = LazyLock::new(|| {
    StateMetrics {
        up: register_int_gauge!(
            "hookguard_state_backend_up",
            "1 while the shared state backend (Redis) answers, 0 while it does not (absent with backend = memory)"
        )
        .expect("metric registers once"),
        degraded: register_int_counter_vec!(
            "hookguard_state_degraded_total",
            "Decisions taken on this replica's local state because Redis did not answer (fail_open), by feature (rate, replay)",
            &["feature"]
        )
        .expect("metric registers once"),
        command_duration: register_histogram_vec!(
            "hookguard_state_command_duration_seconds",
            "Time one Redis command (or script) took, by feature (rate, replay, queue, health)",
            &["feature"],
            LATENCY_BUCKETS.to_vec()
        )
        .expect("metric registers once"),
        command_errors: register_int_counter_vec!(
            "hookguard_state_command_errors_total",
            "Redis commands that failed or timed out, by feature",
            &["feature"]
        )
        .expect("metric registers once"),
}
});

/// Redis commands and degraded decisions as metrics.
pub(crate) struct StateObserver;

impl StateObserver {
    /// Registers the state families with a zero child per feature, so that dashboards and
    /// alerts see them before the first failure.
    pub(crate) fn new() -> Self {
        for feature in hookguard_redis::Feature::ALL {
            let label = [feature.as_str()];
            STATE_METRICS.command_errors.with_label_values(&label);
            STATE_METRICS.command_duration.with_label_values(&label);
            if matches!(
                feature,
                hookguard_redis::Feature::Rate | hookguard_redis::Feature::Replay
            ) {
                STATE_METRICS.degraded.with_label_values(&label);
            }
        }
        Self
    }
}

impl hookguard_redis::CommandObserver for StateObserver {
    fn command(&self, feature: hookguard_redis::Feature, elapsed: std::time::Duration, ok: bool) {
        let m = &STATE_METRICS;
        m.command_duration
            .with_label_values(&[feature.as_str()])
            .observe(elapsed.as_secs_f64());
        if !ok {
            m.command_errors
                .with_label_values(&[feature.as_str()])
                .inc();
        }
    }

    fn degraded(&self, feature: hookguard_redis::Feature) {
        STATE_METRICS
            .degraded
            .with_label_values(&[feature.as_str()])
            .inc();
    }

    fn up(&self, up: bool) {
        STATE_METRICS.up.set(i64::from(up));
    }
}

/// The delivery engine's metrics (queue mode, and outbound later: `direction` label).
pub(crate) struct DeliveryMetrics {
    pub(crate) queue_depth: IntGaugeVec,
    pub(crate) oldest_pending: GaugeVec,
    pub(crate) attempts: IntCounterVec,
    pub(crate) attempt_duration: HistogramVec,
    pub(crate) lag: HistogramVec,
    pub(crate) retries: IntCounterVec,
    pub(crate) dead: IntCounterVec,
    pub(crate) breaker: IntGaugeVec,
    pub(crate) commit_duration: Histogram,
    pub(crate) commit_batch: Histogram,
}

/// End-to-end lag buckets (seconds): 1 ms to 1 day (retries wait hours).
const LAG_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 14400.0, 86400.0,
];

/// Records per group commit.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

fn delivery_metrics() -> DeliveryMetrics {
    DeliveryMetrics {
        queue_depth: register_int_gauge_vec!(
            "hookguard_queue_messages",
            "Messages in the delivery queue by route and state (ready, scheduled, in_flight, delivered, dead)",
            &["route", "state"]
        )
        .expect("metric registers once"),
        oldest_pending: register_gauge_vec!(
            "hookguard_queue_oldest_pending_age_seconds",
            "Age of the oldest message still to deliver, by route (0 when none)",
            &["route"]
        )
        .expect("metric registers once"),
        attempts: register_int_counter_vec!(
            "hookguard_delivery_attempts_total",
            "Delivery attempts by route, direction, outcome (success, failure) and status class (2xx..5xx, or the error kind)",
            &["route", "direction", "outcome", "status_class"]
        )
        .expect("metric registers once"),
        attempt_duration: register_histogram_vec!(
            "hookguard_delivery_attempt_duration_seconds",
            "Time one delivery attempt took, by route and direction",
            &["route", "direction"],
            LATENCY_BUCKETS.to_vec()
        )
        .expect("metric registers once"),
        lag: register_histogram_vec!(
            "hookguard_delivery_lag_seconds",
            "Time from accepting a message to its delivery, by route and direction",
            &["route", "direction"],
            LAG_BUCKETS.to_vec()
        )
        .expect("metric registers once"),
        retries: register_int_counter_vec!(
            "hookguard_delivery_retries_scheduled_total",
            "Retries scheduled, by route and direction",
            &["route", "direction"]
        )
        .expect("metric registers once"),
        dead: register_int_counter_vec!(
            "hookguard_delivery_dead_lettered_total",
            "Messages moved to the dead-letter queue, by route, direction and reason",
            &["route", "direction", "reason"]
        )
        .expect("metric registers once"),
        breaker: register_int_gauge_vec!(
            "hookguard_delivery_breaker_state",
            "Circuit breaker per route: 0 closed, 1 half-open, 2 open",
            &["route"]
        )
        .expect("metric registers once"),
        commit_duration: register_histogram!(
            "hookguard_queue_commit_seconds",
            "Time one group commit of the queue store took (write + flush)",
            LATENCY_BUCKETS.to_vec()
        )
        .expect("metric registers once"),
        commit_batch: register_histogram!(
            "hookguard_queue_commit_batch_size",
            "Records written by one group commit of the queue store",
            BATCH_BUCKETS.to_vec()
        )
        .expect("metric registers once"),
    }
}

pub(crate) static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let m = Metrics {
        requests: register_int_counter_vec!(
            "hookguard_requests_total",
            "Requests by route, outcome (forwarded, rejected, shadow_rejected, error) and reason",
            &["route", "outcome", "reason"]
        )
        .expect("metric registers once"),
        rejections: register_int_counter_vec!(
            "hookguard_rejections_total",
            "Requests refused (or, in shadow mode, that would have been), by reason, on every route; every reason is present from the start",
            &["reason"]
        )
        .expect("metric registers once"),
        request_duration: register_histogram_vec!(
            "hookguard_request_duration_seconds",
            "Time from request start to the end of the response, by route",
            &["route"],
            LATENCY_BUCKETS.to_vec()
        )
        .expect("metric registers once"),
        upstream_duration: register_histogram_vec!(
            "hookguard_upstream_duration_seconds",
            "Time spent waiting for the upstream app, by route",
            &["route"],
            LATENCY_BUCKETS.to_vec()
        )
        .expect("metric registers once"),
        body_bytes: register_histogram_vec!(
            "hookguard_request_body_bytes",
            "Request body sizes, by route",
            &["route"],
            SIZE_BUCKETS.to_vec()
        )
        .expect("metric registers once"),
        secret_matches: register_int_counter_vec!(
            "hookguard_secret_matches_total",
            "Verified requests by the configured id of the secret that matched (rotation progress)",
            &["route", "secret_id"]
        )
        .expect("metric registers once"),
        events_filtered: register_int_counter_vec!(
            "hookguard_events_filtered_total",
            "Deliveries acknowledged without forwarding by a route's event filter, by the configured pattern that decided (or `other`)",
            &["route", "pattern"]
        )
        .expect("metric registers once"),
        connections_open: register_int_gauge!(
            "hookguard_connections_open",
            "Connections open on the webhook listener"
        )
        .expect("metric registers once"),
        connections_refused: register_int_counter_vec!(
            "hookguard_connections_refused_total",
            "Connections closed as soon as accepted because a cap was reached (max, max_per_client)",
            &["cap"]
        )
        .expect("metric registers once"),
        head_timeouts: register_int_counter!(
            "hookguard_request_head_timeouts_total",
            "Connections closed because the request head did not arrive within connections.head_timeout"
        )
        .expect("metric registers once"),
        reload_successful: register_gauge!(
            "hookguard_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded, 0 if it failed and the previous config is in use"
        )
        .expect("metric registers once"),
        build_info: register_gauge_vec!("hookguard_build_info", "Build information", &["version"])
            .expect("metric registers once"),
        delivery: delivery_metrics(),
    };
    m.build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1.0);
    m.reload_successful.set(1.0);
    for reason in hookguard_layers::Reason::ALL {
        m.rejections.with_label_values(&[reason.as_str()]);
    }
    for cap in ["max", "max_per_client"] {
        m.connections_refused.with_label_values(&[cap]);
    }
    m
});

/// One route's per-request series, resolved once when the route is built (a label lookup
/// hashes and locks; the hot path should not do it three times per request).
pub(crate) struct RouteMetrics {
    pub(crate) request_duration: Histogram,
    pub(crate) upstream_duration: Histogram,
    pub(crate) body_bytes: Histogram,
    /// `hookguard_requests_total{outcome="forwarded",reason=""}`: the usual outcome, resolved
    /// once instead of a label lookup per request.
    pub(crate) forwarded: IntCounter,
}

impl RouteMetrics {
    pub(crate) fn new(route: &str) -> Self {
        Self {
            request_duration: METRICS.request_duration.with_label_values(&[route]),
            upstream_duration: METRICS.upstream_duration.with_label_values(&[route]),
            body_bytes: METRICS.body_bytes.with_label_values(&[route]),
            forwarded: METRICS
                .requests
                .with_label_values(&[route, "forwarded", ""]),
        }
    }
}

/// The default registry in the Prometheus text format: everything `/metrics` serves,
/// the credential cache's families included (their [`CredentialCollector`] is registered
/// there once, by `hookguard run`).
pub(crate) fn render() -> String {
    LazyLock::force(&METRICS);
    let mut out = Vec::new();
    // Encoding the text format into a Vec cannot fail for well-formed metric families.
    let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The engine's events as metrics. Labels: route ids, directions and fixed enums only.
pub(crate) struct DeliveryObserver;

impl hookguard_delivery::Observer for DeliveryObserver {
    fn attempt(
        &self,
        destination: &str,
        direction: hookguard_delivery::Direction,
        outcome: &hookguard_delivery::AttemptOutcome,
        duration: std::time::Duration,
    ) {
        let m = &METRICS.delivery;
        let class = match outcome {
            hookguard_delivery::AttemptOutcome::Status { code, .. } => match code / 100 {
                1 => "1xx",
                2 => "2xx",
                3 => "3xx",
                4 => "4xx",
                _ => "5xx",
            },
            hookguard_delivery::AttemptOutcome::Error { kind, .. } => kind.as_str(),
        };
        let result = if outcome.is_success() {
            "success"
        } else {
            "failure"
        };
        m.attempts
            .with_label_values(&[destination, direction.as_str(), result, class])
            .inc();
        m.attempt_duration
            .with_label_values(&[destination, direction.as_str()])
            .observe(duration.as_secs_f64());
    }

    fn delivered(
        &self,
        destination: &str,
        direction: hookguard_delivery::Direction,
        lag: std::time::Duration,
    ) {
        METRICS
            .delivery
            .lag
            .with_label_values(&[destination, direction.as_str()])
            .observe(lag.as_secs_f64());
    }

    fn retry_scheduled(
        &self,
        destination: &str,
        direction: hookguard_delivery::Direction,
        _delay: std::time::Duration,
    ) {
        METRICS
            .delivery
            .retries
            .with_label_values(&[destination, direction.as_str()])
            .inc();
    }

    fn dead_lettered(
        &self,
        destination: &str,
        direction: hookguard_delivery::Direction,
        code: hookguard_delivery::DeadCode,
    ) {
        METRICS
            .delivery
            .dead
            .with_label_values(&[destination, direction.as_str(), code.as_str()])
            .inc();
    }

    fn breaker(&self, destination: &str, state: hookguard_delivery::BreakerState) {
        METRICS
            .delivery
            .breaker
            .with_label_values(&[destination])
            .set(state.as_gauge());
    }
}

/// The embedded store's group commits as metrics.
pub(crate) struct CommitMetrics;

impl hookguard_delivery::CommitObserver for CommitMetrics {
    fn on_commit(&self, records: usize, latency: std::time::Duration) {
        METRICS.delivery.commit_batch.observe(records as f64);
        METRICS
            .delivery
            .commit_duration
            .observe(latency.as_secs_f64());
    }
}

/// Refreshes the queue gauges from the store (at scrape time).
pub(crate) async fn update_queue(queue: &crate::queue::Queue) {
    let m = &METRICS.delivery;
    if let Ok(stats) = queue.store.stats().await {
        let now = hookguard_delivery::Timestamp::now();
        for s in &stats {
            for state in hookguard_delivery::State::ALL {
                m.queue_depth
                    .with_label_values(&[s.destination.as_str(), state.as_str()])
                    .set(s.count(state) as i64);
            }
            m.oldest_pending
                .with_label_values(&[s.destination.as_str()])
                .set(s.oldest_pending.map_or(0.0, |t| now.since(t).as_secs_f64()));
        }
    }
    for (destination, state) in queue.engine.breaker_states() {
        m.breaker
            .with_label_values(&[destination.as_str()])
            .set(state.as_gauge());
    }
}
