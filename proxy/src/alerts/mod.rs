//! Built-in alerting, for deployments without Prometheus: the rules of `[alerts]`
//! evaluated every `evaluate_every` on the numbers `/metrics` serves, and notifications to
//! Slack, a signed webhook, email, PagerDuty, MQTT or the log.
//!
//! - [`rules`]: the evaluation (no clock inside; tests pass the time).
//! - [`samples`]: one reading of the metrics, from the Prometheus registry and the
//!   credential cache — the same sources `/metrics` renders.
//! - [`channels`]: one file per channel kind.
//!
//! The task follows the live configuration: a reload with other channels rebuilds them
//! (fetching their secrets again); rules that keep their id keep their alerts' state.
//! Sends run in their own tasks, so a slow channel delays no evaluation; a failed send is
//! tried three times in all, then logged (channel id and error — never a secret or URL).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hookguard_config::{AlertChannel, LiveConfig};

use crate::runtime::Snapshot;

pub(crate) mod channels;
pub(crate) mod rules;
pub(crate) mod samples;

use channels::mqtt::OutcomeSink;
use channels::Channel;
use rules::{Evaluator, Notification};
use samples::Samples;

/// The built channels by id.
type Channels = HashMap<String, Arc<Channel>>;

/// Attempts per notification and channel.
const ATTEMPTS: u32 = 3;

/// The request outcome feed (an MQTT channel's `outcomes_topic`), if one is configured.
static OUTCOMES: ArcSwapOption<OutcomeSink> = ArcSwapOption::const_empty();

/// Publishes one request's outcome to the feed, if there is one; `payload` is only built
/// then.
pub(crate) fn publish_outcome(payload: impl FnOnce() -> Vec<u8>) {
    if let Some(sink) = OUTCOMES.load().as_ref() {
        sink.publish(payload());
    }
}

/// What `GET /api/v1/alerts` shows: each rule with its firing alerts, and each channel,
/// as of the last evaluation.
#[derive(Default)]
pub(crate) struct Board(arc_swap::ArcSwap<serde_json::Value>);

impl Board {
    pub(crate) fn get(&self) -> serde_json::Value {
        let value = self.0.load();
        if value.is_null() {
            return serde_json::json!({ "rules": [], "channels": [] });
        }
        (**value).clone()
    }

    fn update(
        &self,
        alerts: &hookguard_config::Alerts,
        evaluator: &Evaluator,
        channels: &HashMap<String, Arc<Channel>>,
        now: u64,
    ) {
        let firing = evaluator.firing();
        let rules: Vec<serde_json::Value> = alerts
            .rules
            .iter()
            .map(|rule| {
                let alerts: Vec<serde_json::Value> = firing
                    .iter()
                    .filter(|(id, _, _)| id == &rule.id)
                    .map(|(_, labels, since)| {
                        serde_json::json!({ "labels": labels, "since": crate::rfc3339::unix_ms(*since) })
                    })
                    .collect();
                let silenced = rule
                    .silence_until
                    .filter(|until| until.0.unix_timestamp_nanos() / 1_000_000 > i128::from(now));
                serde_json::json!({
                    "id": rule.id,
                    "kind": rule.kind.as_str(),
                    "severity": rule.severity().as_str(),
                    "threshold": rule.threshold(),
                    "window_seconds": rule.window().get().as_secs_f64(),
                    "channels": rule.channels,
                    "silenced_until": silenced,
                    "firing": alerts,
                })
            })
            .collect();
        let channels: Vec<serde_json::Value> = alerts
            .channels
            .iter()
            .map(|spec| {
                let built = channels.get(&spec.id);
                serde_json::json!({
                    "id": spec.id,
                    "kind": spec.kinds().first().copied().unwrap_or_default(),
                    "usable": built.is_some(),
                })
            })
            .collect();
        self.0.store(Arc::new(serde_json::json!({
            "evaluated_at": crate::rfc3339::unix_ms(now),
            "rules": rules,
            "channels": channels,
        })));
    }
}

/// One reading of what `/metrics` serves, for `snapshot`.
pub(crate) fn read_metrics(snapshot: &Snapshot) -> Samples {
    std::sync::LazyLock::force(&crate::metrics::METRICS);
    let mut samples = Samples::from_families(&prometheus::gather());
    samples.add_credentials(&snapshot.credentials.0.stats());
    samples
}

/// Starts evaluating in `runtime`; runs for the life of the process.
pub(crate) fn start(
    live: Arc<LiveConfig<Snapshot>>,
    base_dir: PathBuf,
    board: Arc<Board>,
    runtime: &tokio::runtime::Handle,
) {
    runtime.spawn(run(live, base_dir, board));
}

async fn run(live: Arc<LiveConfig<Snapshot>>, base_dir: PathBuf, board: Arc<Board>) {
    let mut evaluator = Evaluator::default();
    // The channels, and the settings they were built from.
    let mut built: Option<(Vec<AlertChannel>, Arc<Channels>)> = None;
    loop {
        let snapshot = live.current();
        let Some(alerts) = snapshot.config.alerts.clone() else {
            if built.take().is_some() {
                OUTCOMES.store(None);
                board.0.store(Arc::new(serde_json::Value::Null));
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        };
        let stale = built
            .as_ref()
            .is_none_or(|(specs, _)| *specs != alerts.channels);
        if stale {
            let channels = build_channels(&alerts.channels, &base_dir).await;
            OUTCOMES.store(
                channels
                    .values()
                    .find_map(|c| c.outcomes.clone())
                    .map(Arc::new),
            );
            built = Some((alerts.channels.clone(), Arc::new(channels)));
        }
        let channels = built
            .as_ref()
            .map(|(_, c)| Arc::clone(c))
            .unwrap_or_default();
        let samples = read_metrics(&snapshot);
        drop(snapshot);
        let now = now_ms();
        for notification in evaluator.evaluate(&alerts, samples, now) {
            dispatch(&channels, notification);
        }
        board.update(&alerts, &evaluator, &channels, now);
        tokio::time::sleep(alerts.evaluate_every.get()).await;
    }
}

/// Builds every channel; one that cannot be built is logged and left out (the others
/// still work).
async fn build_channels(
    specs: &[AlertChannel],
    base_dir: &std::path::Path,
) -> HashMap<String, Arc<Channel>> {
    let mut out = HashMap::new();
    for spec in specs {
        match Channel::build(spec, base_dir).await {
            Ok(channel) => {
                out.insert(spec.id.clone(), Arc::new(channel));
            }
            Err(e) => {
                tracing::error!(target: "hookguard::alerts", channel = %spec.id, error = %e, "alert channel unusable: its notifications are dropped")
            }
        }
    }
    out
}

/// Sends `notification` to each of its channels, each in its own task.
fn dispatch(channels: &Arc<HashMap<String, Arc<Channel>>>, notification: Notification) {
    let notification = Arc::new(notification);
    for id in &notification.channels {
        let Some(channel) = channels.get(id).cloned() else {
            continue;
        };
        let notification = Arc::clone(&notification);
        tokio::spawn(async move {
            let mut attempt = 1;
            loop {
                match channel.send(&notification).await {
                    Ok(()) => break,
                    Err(e) if attempt >= ATTEMPTS => {
                        tracing::warn!(target: "hookguard::alerts", channel = %channel.id, kind = channel.kind, rule = %notification.rule, status = notification.status.as_str(), error = %e, "alert notification not delivered");
                        break;
                    }
                    Err(_) => {
                        tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                        attempt += 1;
                    }
                }
            }
        });
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The notification `hookguard alerts test` sends.
pub(crate) fn test_notification(channel: &str, status: rules::Status) -> Notification {
    let now = now_ms();
    Notification {
        rule: "test".into(),
        kind: hookguard_config::AlertKind::AuthFailures,
        severity: hookguard_config::Severity::Info,
        status,
        labels: samples::Labels::from([("channel".to_owned(), channel.to_owned())]),
        value: 0.0,
        threshold: 0.0,
        window: Duration::ZERO,
        summary: format!("a test alert from `hookguard alerts test --channel {channel}`"),
        started_at_ms: now,
        at_ms: now,
        repeat: false,
        channels: vec![channel.to_owned()],
    }
}
