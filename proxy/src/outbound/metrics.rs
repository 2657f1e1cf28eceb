//! The outbound side's own metrics; deliveries are the engine's (`hookguard_delivery_*`
//! with `direction="outbound"` and the subscription id as `route`).

use std::sync::LazyLock;

use prometheus::{register_int_counter_vec, IntCounterVec};

struct Metrics {
    events: IntCounterVec,
    auth: IntCounterVec,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    Metrics {
    events: register_int_counter_vec!(
        "hookguard_outbound_events_total",
        "Events posted by the app, by result (accepted, duplicate, bad_request, unauthorized, too_large, no_subscription, in_flight, queue_full, unavailable, not_found)",
        &["result"]
    )
    .expect("metric registers once"),
    auth: register_int_counter_vec!(
        "hookguard_outbound_endpoint_auth_total",
        "Answers of endpoints with credentials, by subscription, the credential sent (primary, next) and whether it was accepted (not 401)",
        &["route", "credential", "result"]
    )
    .expect("metric registers once"),
}
});

/// Registers the series (so they are exported before the first event).
pub(super) fn init() {
    LazyLock::force(&METRICS);
}

/// One posted event's result (a fixed word, never request data).
pub(super) fn event(result: &str) {
    METRICS.events.with_label_values(&[result]).inc();
}

/// An endpoint's answer to credential `credential` of subscription `route`.
pub(super) fn auth(route: &str, credential: &str, status: u16) {
    let result = if status == 401 { "refused" } else { "accepted" };
    METRICS
        .auth
        .with_label_values(&[route, credential, result])
        .inc();
}
