//! One reading of the sidecar's metrics, in Prometheus' own shape: a value per metric name
//! and label set. Read from the registry `/metrics` encodes ([`prometheus::gather`]) and
//! from a snapshot's credential cache through the families its collector gives a scrape
//! ([`crate::metrics::credential_families`]), so a rule sees exactly the numbers a scrape
//! would — there is no second set of counters, and no second mapping of them.

use std::collections::BTreeMap;

use hookguard_layers::credentials::CredentialStats;
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

    /// Adds the credential cache's families, as `/metrics` shows them
    /// (`hookguard_secret_source_up{source}`, `hookguard_secret_too_old{route,secret_id}`…):
    /// read through the same mapping as the scrape, [`crate::metrics::credential_families`].
    pub(crate) fn add_credentials(&mut self, stats: &CredentialStats) {
        let credentials = Samples::from_families(&crate::metrics::credential_families(stats));
        self.series.extend(credentials.series);
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
