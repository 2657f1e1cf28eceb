use std::sync::{Arc, Mutex};

use hookguard_layers::credentials::{
    CachedCredentials, CredentialStats, InlineSource, RouteStats, SecretEntry, SecretSet,
    SecretStats, SourceState, SourceStats,
};
use hookguard_layers::verify::{schemes, KeySource as _};
use prometheus::{Encoder as _, Registry, TextEncoder};

use super::{render, CredentialCollector};

const SECRET: &str = "whsec-never-in-a-label-4b1d";

/// A registry holding only a collector over `stats`, as `/metrics` registers it.
fn registry(stats: impl Fn() -> CredentialStats + Send + Sync + 'static) -> Registry {
    let registry = Registry::new();
    registry
        .register(Box::new(CredentialCollector::new(stats)))
        .expect("the collector registers");
    registry
}

fn scrape(registry: &Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// The value of the series `name{labels}` in a scrape, read by a Prometheus parser (which
/// also proves the text well formed).
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the scrape parses");
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a counter or gauge"),
        })
}

fn source(name: &str, state: SourceState, ok: u64, failed: u64) -> SourceStats {
    SourceStats {
        name: name.into(),
        state,
        fetches_ok: ok,
        fetches_failed: failed,
        last_success: None,
        last_failure: None,
        last_error: None,
    }
}

fn route(too_old: bool, last_match: Option<i64>) -> RouteStats {
    RouteStats {
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
            last_match,
            rotated_at: None,
            too_old,
        }],
    }
}

#[tokio::test]
async fn each_scrape_reads_the_cache_as_it_is_at_that_moment() {
    let cache = CachedCredentials::new();
    let inline = InlineSource::new().route(
        "github",
        SecretSet::new().with(SecretEntry::new("primary", SECRET)),
    );
    let keys = cache
        .load(
            "github",
            schemes::by_name("github").unwrap(),
            Arc::new(inline),
        )
        .await
        .unwrap();
    let reader = cache.clone();
    let registry = registry(move || reader.stats());

    let before = scrape(&registry);
    let github = [("route", "github")];
    let primary = [("route", "github"), ("secret_id", "primary")];
    assert_eq!(
        value(
            &before,
            "hookguard_secret_source_up",
            &[("source", "inline")]
        ),
        Some(1.0),
        "{before}"
    );
    assert_eq!(
        value(
            &before,
            "hookguard_secret_fetches_total",
            &[("source", "inline"), ("result", "ok")]
        ),
        Some(1.0)
    );
    let fresh = [github[0], ("result", "fresh")];
    assert_eq!(
        value(&before, "hookguard_secret_lookups_total", &fresh),
        Some(0.0)
    );
    assert_eq!(
        value(&before, "hookguard_secret_too_old", &primary),
        Some(0.0)
    );
    assert_eq!(
        value(
            &before,
            "hookguard_secret_last_match_timestamp_seconds",
            &primary
        ),
        None,
        "nothing has matched yet"
    );

    // Two lookups and a match, as two verified requests make.
    keys.keyring().unwrap();
    keys.keyring().unwrap();
    assert!(keys.record_match("primary"));
    let after = scrape(&registry);
    assert_eq!(
        value(&after, "hookguard_secret_lookups_total", &fresh),
        Some(2.0),
        "{after}"
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let matched = value(
        &after,
        "hookguard_secret_last_match_timestamp_seconds",
        &primary,
    )
    .expect("the match shows at the next scrape");
    assert!((now - matched).abs() < 60.0, "{matched} is not now ({now})");
    assert!(!before.contains(SECRET) && !after.contains(SECRET));
}

#[test]
fn a_source_going_down_and_a_secret_growing_old_show_at_the_next_scrape() {
    let stats = Arc::new(Mutex::new(CredentialStats {
        sources: vec![
            source("vault", SourceState::Up, 3, 0),
            source("file", SourceState::Unknown, 0, 0),
        ],
        routes: vec![route(false, None)],
        ..Default::default()
    }));
    let reader = Arc::clone(&stats);
    let registry = registry(move || reader.lock().unwrap().clone());
    let vault = [("source", "vault")];
    let failed = [("source", "vault"), ("result", "failed")];
    let primary = [("route", "github"), ("secret_id", "primary")];

    let before = scrape(&registry);
    assert_eq!(
        value(&before, "hookguard_secret_source_up", &vault),
        Some(1.0)
    );
    assert_eq!(
        value(&before, "hookguard_secret_fetches_total", &failed),
        Some(0.0)
    );
    assert_eq!(
        value(&before, "hookguard_secret_too_old", &primary),
        Some(0.0)
    );
    // A source never fetched is neither up nor down, but its fetches are counted (0).
    let file = [("source", "file")];
    assert_eq!(value(&before, "hookguard_secret_source_up", &file), None);
    assert_eq!(
        value(
            &before,
            "hookguard_secret_fetches_total",
            &[file[0], ("result", "ok")]
        ),
        Some(0.0)
    );

    {
        let mut stats = stats.lock().unwrap();
        stats.sources[0] = source("vault", SourceState::Down, 3, 1);
        stats.routes = vec![route(true, Some(1_764_554_224))];
    }
    let after = scrape(&registry);
    assert_eq!(
        value(&after, "hookguard_secret_source_up", &vault),
        Some(0.0),
        "{after}"
    );
    assert_eq!(
        value(&after, "hookguard_secret_fetches_total", &failed),
        Some(1.0)
    );
    assert_eq!(
        value(&after, "hookguard_secret_too_old", &primary),
        Some(1.0)
    );
    assert!(after.contains(
        "hookguard_secret_last_match_timestamp_seconds{route=\"github\",secret_id=\"primary\"} 1764554224\n"
    ));
}

#[test]
fn the_families_keep_their_names_types_help_and_label_order() {
    let stats = CredentialStats {
        sources: vec![source("vault", SourceState::Up, 1, 0)],
        routes: vec![route(false, Some(1))],
        ..Default::default()
    };
    let text = render(&stats);
    for line in [
        "# HELP hookguard_secret_source_up 1 if the secret source's last fetch succeeded, 0 if it failed",
        "# TYPE hookguard_secret_source_up gauge",
        "# HELP hookguard_secret_fetches_total Fetches from secret sources by result",
        "# TYPE hookguard_secret_fetches_total counter",
        "# HELP hookguard_secret_lookups_total Key lookups by route and result (stale: served past expiry because the source failed)",
        "# TYPE hookguard_secret_lookups_total counter",
        "# HELP hookguard_secret_too_old 1 if the secret is older than its configured maximum age",
        "# TYPE hookguard_secret_too_old gauge",
        "# HELP hookguard_secret_last_match_timestamp_seconds When the secret last verified a request (rotation: the old one stops moving)",
        "# TYPE hookguard_secret_last_match_timestamp_seconds gauge",
        // The label order dashboards and tests were written against (not sorted by name).
        "hookguard_secret_fetches_total{source=\"vault\",result=\"ok\"} 1",
        "hookguard_secret_lookups_total{route=\"github\",result=\"missing\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
    }
}
