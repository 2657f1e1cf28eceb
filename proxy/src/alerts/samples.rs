//! One reading of the sidecar's metrics, in Prometheus' own shape: a value per metric name
//! and label set. Read from the registry `/metrics` encodes ([`prometheus::gather`]) and
//! from the credential cache's statistics (which `/metrics` renders at scrape time), so a
//! rule sees exactly the numbers a scrape would — there is no second set of counters.

use std::collections::BTreeMap;

use hookguard_layers::credentials::{CredentialStats, SourceState};
use prometheus::proto::{MetricFamily, MetricType};

/// Label name → value, sorted by name.
pub(crate) type Labels = BTreeMap<String, String>;

/// Every series of one reading.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    series: BTreeMap<(String, Labels), f64>,
}

impl Samples {
    /// The series of gathered metric families: counters and gauges as they are, histograms
    /// as `<name>_bucket{le=…}` (cumulative) and `<name>_count`, as in the text format.
    pub(crate) fn from_families(families: &[MetricFamily]) -> Self {
        let mut samples = Samples::default();
        for family in families {
            let name = family.name();
            for metric in family.get_metric() {
                let labels: Labels = metric
                    .get_label()
                    .iter()
                    .map(|l| (l.name().to_owned(), l.value().to_owned()))
                    .collect();
                match family.get_field_type() {
                    MetricType::COUNTER => {
                        samples.insert(name, labels, metric.get_counter().value());
                    }
                    MetricType::GAUGE => {
                        samples.insert(name, labels, metric.get_gauge().value());
                    }
                    MetricType::HISTOGRAM => {
                        let histogram = metric.get_histogram();
                        for bucket in histogram.get_bucket() {
                            let mut with_le = labels.clone();
                            with_le.insert("le".into(), bucket.upper_bound().to_string());
                            samples.insert(
                                &format!("{name}_bucket"),
                                with_le,
                                bucket.cumulative_count() as f64,
                            );
                        }
                        let mut with_le = labels.clone();
                        with_le.insert("le".into(), "+Inf".into());
                        let count = histogram.get_sample_count() as f64;
                        samples.insert(&format!("{name}_bucket"), with_le, count);
                        samples.insert(&format!("{name}_count"), labels, count);
                    }
                    _ => {}
                }
            }
        }
        samples
    }

    /// Adds the credential cache's gauges, with the names and labels `/metrics` gives them
    /// (`hookguard_secret_source_up{source}`, `hookguard_secret_too_old{route,secret_id}`).
    pub(crate) fn add_credentials(&mut self, stats: &CredentialStats) {
        for source in &stats.sources {
            let up = match source.state {
                SourceState::Up => 1.0,
                SourceState::Down => 0.0,
                SourceState::Unknown => continue,
            };
            let labels = Labels::from([("source".to_owned(), source.name.clone())]);
            self.insert("hookguard_secret_source_up", labels, up);
        }
        for route in &stats.routes {
            for secret in &route.secrets {
                let labels = Labels::from([
                    ("route".to_owned(), route.route.to_string()),
                    ("secret_id".to_owned(), secret.id.to_string()),
                ]);
                let too_old = if secret.too_old { 1.0 } else { 0.0 };
                self.insert("hookguard_secret_too_old", labels, too_old);
            }
        }
    }

    pub(crate) fn insert(&mut self, name: &str, labels: Labels, value: f64) {
        self.series.insert((name.to_owned(), labels), value);
    }

    /// The value of one series.
    pub(crate) fn get(&self, name: &str, labels: &Labels) -> Option<f64> {
        // BTreeMap lookups need the owned key; readings are small (routes × reasons).
        self.series.get(&(name.to_owned(), labels.clone())).copied()
    }

    /// Every series of `name`.
    pub(crate) fn named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a Labels, f64)> + 'a {
        self.series
            .iter()
            .filter(move |((n, _), _)| n == name)
            .map(|((_, labels), v)| (labels, *v))
    }
}
