//! The sidecar's Prometheus metrics. Label values come only from configuration identifiers
//! (route ids, secret ids) and fixed enums (outcome, reason) — never from request data.

use std::sync::LazyLock;

use prometheus::{
    register_gauge, register_gauge_vec, register_histogram_vec, register_int_counter_vec, Encoder,
    Gauge, GaugeVec, HistogramVec, IntCounterVec, TextEncoder,
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
    pub(crate) request_duration: HistogramVec,
    pub(crate) upstream_duration: HistogramVec,
    pub(crate) body_bytes: HistogramVec,
    pub(crate) secret_matches: IntCounterVec,
    pub(crate) events_filtered: IntCounterVec,
    pub(crate) reload_successful: Gauge,
    pub(crate) build_info: GaugeVec,
}

pub(crate) static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let m = Metrics {
        requests: register_int_counter_vec!(
            "hookguard_requests_total",
            "Requests by route, outcome (forwarded, rejected, shadow_rejected, error) and reason",
            &["route", "outcome", "reason"]
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
        reload_successful: register_gauge!(
            "hookguard_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded, 0 if it failed and the previous config is in use"
        )
        .expect("metric registers once"),
        build_info: register_gauge_vec!("hookguard_build_info", "Build information", &["version"])
            .expect("metric registers once"),
    };
    m.build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1.0);
    m.reload_successful.set(1.0);
    m
});

/// The default registry in the Prometheus text format.
pub(crate) fn render() -> String {
    LazyLock::force(&METRICS);
    let mut out = Vec::new();
    // Encoding the text format into a Vec cannot fail for well-formed metric families.
    let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The credential cache's state in the Prometheus text format: secret-store health and
/// rotation progress. Read from the current snapshot's cache at scrape time (the cache is
/// rebuilt on reload, so its counters restart then, as counters may).
pub(crate) fn render_credentials(stats: &hookguard_layers::credentials::CredentialStats) -> String {
    use hookguard_layers::credentials::SourceState;
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "# HELP hookguard_secret_source_up 1 if the secret source's last fetch succeeded, 0 if it failed");
    let _ = writeln!(out, "# TYPE hookguard_secret_source_up gauge");
    for s in &stats.sources {
        let up = match s.state {
            SourceState::Up => 1,
            SourceState::Down => 0,
            SourceState::Unknown => continue,
        };
        let _ = writeln!(
            out,
            "hookguard_secret_source_up{{source=\"{}\"}} {up}",
            s.name
        );
    }
    let _ = writeln!(
        out,
        "# HELP hookguard_secret_fetches_total Fetches from secret sources by result"
    );
    let _ = writeln!(out, "# TYPE hookguard_secret_fetches_total counter");
    for s in &stats.sources {
        let _ = writeln!(
            out,
            "hookguard_secret_fetches_total{{source=\"{}\",result=\"ok\"}} {}",
            s.name, s.fetches_ok
        );
        let _ = writeln!(
            out,
            "hookguard_secret_fetches_total{{source=\"{}\",result=\"failed\"}} {}",
            s.name, s.fetches_failed
        );
    }
    let _ = writeln!(out, "# HELP hookguard_secret_lookups_total Key lookups by route and result (stale: served past expiry because the source failed)");
    let _ = writeln!(out, "# TYPE hookguard_secret_lookups_total counter");
    for r in &stats.routes {
        for (result, n) in [
            ("fresh", r.requests.fresh),
            ("stale", r.requests.stale),
            ("missing", r.requests.missing),
        ] {
            let _ = writeln!(
                out,
                "hookguard_secret_lookups_total{{route=\"{}\",result=\"{result}\"}} {n}",
                r.route
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP hookguard_secret_too_old 1 if the secret is older than its configured maximum age"
    );
    let _ = writeln!(out, "# TYPE hookguard_secret_too_old gauge");
    for r in &stats.routes {
        for s in &r.secrets {
            let _ = writeln!(
                out,
                "hookguard_secret_too_old{{route=\"{}\",secret_id=\"{}\"}} {}",
                r.route,
                s.id,
                u8::from(s.too_old)
            );
        }
    }
    let _ = writeln!(out, "# HELP hookguard_secret_last_match_timestamp_seconds When the secret last verified a request (rotation: the old one stops moving)");
    let _ = writeln!(
        out,
        "# TYPE hookguard_secret_last_match_timestamp_seconds gauge"
    );
    for r in &stats.routes {
        for s in &r.secrets {
            if let Some(at) = s.last_match {
                let _ = writeln!(out, "hookguard_secret_last_match_timestamp_seconds{{route=\"{}\",secret_id=\"{}\"}} {at}", r.route, s.id);
            }
        }
    }
    out
}
