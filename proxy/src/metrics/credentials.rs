//! The credential cache's metrics as a Prometheus [`Collector`]: secret-store health and
//! rotation progress, read from the cache's statistics at scrape time.
//!
//! The cache keeps its own counters (and is rebuilt on reload, so they restart then, as
//! counters may); copying them into registered metrics would be a second set of numbers.
//! The collector turns one reading of [`CredentialStats`] into metric families, so
//! `/metrics` is the registry's encoder output only. Label values are configuration
//! identifiers (source names, route ids, secret ids) and fixed words — never a secret.

use std::collections::HashMap;

use hookguard_layers::credentials::{CredentialStats, SourceState};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};

/// One family's name, help, type and label names, written once for its [`Desc`] and for
/// every [`MetricFamily`] collected.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
}

const SOURCE_UP: Family = Family {
    name: "hookguard_secret_source_up",
    help: "1 if the secret source's last fetch succeeded, 0 if it failed",
    kind: MetricType::GAUGE,
    labels: &["source"],
};

const FETCHES: Family = Family {
    name: "hookguard_secret_fetches_total",
    help: "Fetches from secret sources by result",
    kind: MetricType::COUNTER,
    labels: &["source", "result"],
};

const LOOKUPS: Family = Family {
    name: "hookguard_secret_lookups_total",
    help: "Key lookups by route and result (stale: served past expiry because the source failed)",
    kind: MetricType::COUNTER,
    labels: &["route", "result"],
};

const TOO_OLD: Family = Family {
    name: "hookguard_secret_too_old",
    help: "1 if the secret is older than its configured maximum age",
    kind: MetricType::GAUGE,
    labels: &["route", "secret_id"],
};

const LAST_MATCH: Family = Family {
    name: "hookguard_secret_last_match_timestamp_seconds",
    help: "When the secret last verified a request (rotation: the old one stops moving)",
    kind: MetricType::GAUGE,
    labels: &["route", "secret_id"],
};

const FAMILIES: [&Family; 5] = [&SOURCE_UP, &FETCHES, &LOOKUPS, &TOO_OLD, &LAST_MATCH];

impl Family {
    fn desc(&self) -> Desc {
        Desc::new(
            self.name.to_owned(),
            self.help.to_owned(),
            self.labels.iter().map(|l| (*l).to_owned()).collect(),
            HashMap::new(),
        )
        .expect("the credential families' names and labels are valid")
    }

    fn empty(&self) -> MetricFamily {
        let mut family = MetricFamily::default();
        family.set_name(self.name.to_owned());
        family.set_help(self.help.to_owned());
        family.set_field_type(self.kind);
        family
    }

    /// Adds one sample; `values` in the order of `self.labels` (which is the order the
    /// text format shows them in: the registry's own vectors would sort them by name).
    fn push(&self, family: &mut MetricFamily, values: &[&str], value: f64) {
        debug_assert_eq!(values.len(), self.labels.len());
        let labels = self
            .labels
            .iter()
            .zip(values)
            .map(|(name, value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name((*name).to_owned());
                pair.set_value((*value).to_owned());
                pair
            })
            .collect();
        let mut metric = proto::Metric::default();
        metric.set_label(labels);
        if self.kind == MetricType::COUNTER {
            let mut counter = proto::Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        } else {
            let mut gauge = proto::Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
        family.mut_metric().push(metric);
    }
}

/// The `hookguard_secret_*` families of one reading of the cache's statistics. A family
/// without samples is returned empty (the registry leaves it out of `/metrics`).
pub(crate) fn families(stats: &CredentialStats) -> Vec<MetricFamily> {
    let mut up = SOURCE_UP.empty();
    let mut fetches = FETCHES.empty();
    for source in &stats.sources {
        let name = source.name.as_str();
        match source.state {
            SourceState::Up => SOURCE_UP.push(&mut up, &[name], 1.0),
            SourceState::Down => SOURCE_UP.push(&mut up, &[name], 0.0),
            // Never fetched yet: neither up nor down.
            SourceState::Unknown => {}
        }
        FETCHES.push(&mut fetches, &[name, "ok"], source.fetches_ok as f64);
        FETCHES.push(
            &mut fetches,
            &[name, "failed"],
            source.fetches_failed as f64,
        );
    }
    let mut lookups = LOOKUPS.empty();
    let mut too_old = TOO_OLD.empty();
    let mut last_match = LAST_MATCH.empty();
    for route in &stats.routes {
        let id = &*route.route;
        for (result, n) in [
            ("fresh", route.requests.fresh),
            ("stale", route.requests.stale),
            ("missing", route.requests.missing),
        ] {
            LOOKUPS.push(&mut lookups, &[id, result], n as f64);
        }
        for secret in &route.secrets {
            let labels = [id, &*secret.id];
            TOO_OLD.push(&mut too_old, &labels, f64::from(u8::from(secret.too_old)));
            if let Some(at) = secret.last_match {
                LAST_MATCH.push(&mut last_match, &labels, at as f64);
            }
        }
    }
    vec![up, fetches, lookups, too_old, last_match]
}

/// Collects the `hookguard_secret_*` families from whatever cache `stats` reads at the
/// moment of the scrape (the sidecar: the snapshot in service, which a reload replaces).
pub(crate) struct CredentialCollector {
    stats: Box<dyn Fn() -> CredentialStats + Send + Sync>,
    descs: Vec<Desc>,
}

impl CredentialCollector {
    pub(crate) fn new(stats: impl Fn() -> CredentialStats + Send + Sync + 'static) -> Self {
        Self {
            stats: Box::new(stats),
            descs: FAMILIES.iter().map(|f| f.desc()).collect(),
        }
    }
}

impl Collector for CredentialCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        families(&(self.stats)())
    }
}

/// The families for `stats` in the Prometheus text format, through a registry of their own
/// (what `/metrics` shows of them).
#[cfg(test)]
pub(crate) fn render(stats: &CredentialStats) -> String {
    use prometheus::Encoder as _;
    let registry = prometheus::Registry::new();
    let stats = stats.clone();
    registry
        .register(Box::new(CredentialCollector::new(move || stats.clone())))
        .expect("a fresh registry takes the collector");
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("gathered families encode");
    String::from_utf8(out).expect("the text format is UTF-8")
}

#[cfg(test)]
mod tests;
