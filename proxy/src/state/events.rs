//! The event log: one event per request the sidecar served — the fields of its access log
//! line, an id, and the webhook key's id on key routes — kept within a count and an age
//! (`admin.events`), filtered by the API.
//!
//! Events are kept in memory (the API filters there) and copied to the embedded store by
//! one background thread, so the request path only takes a lock and sends on a channel.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};

use serde::{Deserialize, Serialize};

use super::embedded::EmbeddedStore;
use super::store::lock;

/// One request as the event log keeps it (the access log line's fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Event {
    /// Increasing: `after=` on the list call tails the log.
    #[serde(default)]
    pub(crate) id: u64,
    /// Unix milliseconds.
    #[serde(default)]
    pub(crate) at_ms: u64,
    /// RFC 3339.
    pub(crate) ts: String,
    pub(crate) route: String,
    pub(crate) method: String,
    /// The path, webhook keys masked (`wh_…` + 4 characters).
    pub(crate) path: String,
    /// `forwarded`, `queued`, `rejected`, `shadow_rejected` or `error`.
    pub(crate) outcome: String,
    pub(crate) reason: Option<String>,
    pub(crate) status: Option<u16>,
    pub(crate) client_ip: Option<String>,
    pub(crate) delivery_id: Option<String>,
    pub(crate) secret_id: Option<String>,
    /// The webhook key's id on key routes.
    #[serde(default)]
    pub(crate) key_id: Option<String>,
    pub(crate) body_bytes: usize,
    pub(crate) duration_ms: f64,
    pub(crate) upstream_ms: Option<f64>,
    pub(crate) error: Option<String>,
    /// On routes in `admin.events.capture`: the request's headers (credentials masked) and
    /// body, sealed as queued messages are (base64); opened by `GET /events/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) capture: Option<String>,
}

/// Which events a list call wants.
#[derive(Debug, Default, Clone)]
pub(crate) struct EventFilter {
    pub(crate) route: Option<String>,
    pub(crate) outcome: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) delivery_id: Option<String>,
    pub(crate) key_id: Option<String>,
    pub(crate) since_ms: Option<u64>,
    pub(crate) until_ms: Option<u64>,
    /// Only events with a greater id (live tail).
    pub(crate) after: Option<u64>,
    pub(crate) limit: usize,
}

impl EventFilter {
    fn matches(&self, e: &Event) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&self.route, Some(&e.route))
            && eq(&self.outcome, Some(&e.outcome))
            && eq(&self.reason, e.reason.as_deref())
            && eq(&self.delivery_id, e.delivery_id.as_deref())
            && eq(&self.key_id, e.key_id.as_deref())
            && self.since_ms.is_none_or(|t| e.at_ms >= t)
            && self.until_ms.is_none_or(|t| e.at_ms <= t)
            && self.after.is_none_or(|a| e.id > a)
    }
}

/// What the writer thread is asked to do.
struct Write {
    event: Event,
    dropped: Vec<u64>,
}

/// The bounded log.
pub(crate) struct EventLog {
    events: Mutex<VecDeque<Event>>,
    next_id: AtomicU64,
    max_events: AtomicU64,
    max_age_ms: AtomicU64,
    writer: Option<Mutex<mpsc::Sender<Write>>>,
}

impl EventLog {
    /// A log in memory only.
    pub(crate) fn in_memory(max_events: u64, max_age_ms: u64) -> Self {
        Self {
            events: Mutex::default(),
            next_id: AtomicU64::new(1),
            max_events: AtomicU64::new(max_events),
            max_age_ms: AtomicU64::new(max_age_ms),
            writer: None,
        }
    }

    /// A log kept in `store`: loads what it holds, and starts the writer thread.
    pub(crate) fn persistent(
        store: EmbeddedStore,
        max_events: u64,
        max_age_ms: u64,
    ) -> Result<Self, String> {
        let mut log = Self::in_memory(max_events, max_age_ms);
        let loaded = store.load_events().map_err(|e| e.to_string())?;
        let next = loaded.last().map_or(1, |e| e.id + 1);
        log.next_id.store(next, Ordering::Relaxed);
        *lock(&log.events) = loaded.into();
        let (tx, rx) = mpsc::channel::<Write>();
        std::thread::Builder::new()
            .name("hookguard-events".into())
            .spawn(move || write_loop(&store, &rx))
            .map_err(|e| format!("starting the event log writer: {e}"))?;
        log.writer = Some(Mutex::new(tx));
        // Limits may have shrunk since the last run.
        log.prune(hookguard_delivery::Timestamp::now().0);
        Ok(log)
    }

    /// New limits (a reload).
    pub(crate) fn set_limits(&self, max_events: u64, max_age_ms: u64) {
        self.max_events.store(max_events, Ordering::Relaxed);
        self.max_age_ms.store(max_age_ms, Ordering::Relaxed);
    }

    /// Appends `event` (its id is set here), dropping what is past the limits.
    pub(crate) fn push(&self, mut event: Event) {
        let mut events = lock(&self.events);
        event.id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let now = event.at_ms;
        events.push_back(event.clone());
        let dropped = self.prune_locked(&mut events, now);
        drop(events);
        if let Some(writer) = &self.writer {
            let _ = lock(writer).send(Write { event, dropped });
        }
    }

    fn prune(&self, now_ms: u64) {
        let mut events = lock(&self.events);
        let dropped = self.prune_locked(&mut events, now_ms);
        drop(events);
        if let (Some(writer), false) = (&self.writer, dropped.is_empty()) {
            // Rides on the next write: an empty event with id 0 is never stored.
            let _ = lock(writer).send(Write {
                event: Event::placeholder(),
                dropped,
            });
        }
    }

    fn prune_locked(&self, events: &mut VecDeque<Event>, now_ms: u64) -> Vec<u64> {
        let max = usize::try_from(self.max_events.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let oldest = now_ms.saturating_sub(self.max_age_ms.load(Ordering::Relaxed));
        let mut dropped = Vec::new();
        while let Some(front) = events.front() {
            if events.len() > max || front.at_ms < oldest {
                dropped.push(front.id);
                events.pop_front();
            } else {
                break;
            }
        }
        dropped
    }

    /// The events `filter` selects, newest first, at most `filter.limit`.
    pub(crate) fn list(&self, filter: &EventFilter, now_ms: u64) -> Vec<Event> {
        self.prune(now_ms);
        lock(&self.events)
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(filter.limit)
            .cloned()
            .collect()
    }

    /// The event with `id`.
    pub(crate) fn get(&self, id: u64) -> Option<Event> {
        lock(&self.events).iter().find(|e| e.id == id).cloned()
    }

    /// How many events are kept.
    pub(crate) fn len(&self) -> usize {
        lock(&self.events).len()
    }
}

impl Event {
    fn placeholder() -> Self {
        serde_json::from_str(
            r#"{"ts":"","route":"","method":"","path":"","outcome":"","reason":null,"status":null,
            "client_ip":null,"delivery_id":null,"secret_id":null,"body_bytes":0,"duration_ms":0,
            "upstream_ms":null,"error":null}"#,
        )
        .unwrap_or_else(|_| unreachable!("a constant"))
    }
}

/// Writes what arrives, in batches, until the log is dropped.
fn write_loop(store: &EmbeddedStore, rx: &mpsc::Receiver<Write>) {
    const BATCH: usize = 512;
    while let Ok(first) = rx.recv() {
        let mut events = Vec::new();
        let mut dropped = Vec::new();
        let mut next = Some(first);
        while let Some(w) = next.take() {
            if w.event.id != 0 {
                events.push(w.event);
            }
            dropped.extend(w.dropped);
            if events.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        // An event written and dropped in the same batch is simply not kept.
        events.retain(|e| !dropped.contains(&e.id));
        if let Err(e) = store.write_events(&events, &dropped) {
            tracing::warn!(error = %e, "event log: cannot write to the admin store");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn event(route: &str, outcome: &str, reason: Option<&str>, at_ms: u64) -> Event {
        Event {
            at_ms,
            route: route.into(),
            outcome: outcome.into(),
            reason: reason.map(str::to_owned),
            ..Event::placeholder()
        }
    }

    fn all() -> EventFilter {
        EventFilter {
            limit: 100,
            ..EventFilter::default()
        }
    }

    #[test]
    fn the_oldest_events_go_first_past_the_count_limit() {
        let log = EventLog::in_memory(3, 1_000_000);
        for at in 1..=5 {
            log.push(event("a", "forwarded", None, at));
        }
        let ids: Vec<u64> = log.list(&all(), 5).iter().map(|e| e.id).collect();
        assert_eq!(ids, [5, 4, 3]);
    }

    #[test]
    fn events_older_than_the_age_limit_are_dropped() {
        let log = EventLog::in_memory(100, 1000);
        log.push(event("a", "forwarded", None, 0));
        log.push(event("a", "forwarded", None, 1500));
        assert_eq!(log.list(&all(), 1600).len(), 1);
        assert_eq!(log.list(&all(), 2600).len(), 0);
    }

    #[test]
    fn filters_select_by_route_outcome_reason_time_and_tail() {
        let log = EventLog::in_memory(100, 1_000_000);
        log.push(event("a", "forwarded", None, 10));
        log.push(event("a", "rejected", Some("signature_mismatch"), 20));
        log.push(event("b", "rejected", Some("rate_limited"), 30));
        let by = |f: EventFilter| -> Vec<u64> { log.list(&f, 40).iter().map(|e| e.id).collect() };
        assert_eq!(
            by(EventFilter {
                route: Some("a".into()),
                ..all()
            }),
            [2, 1]
        );
        assert_eq!(
            by(EventFilter {
                outcome: Some("rejected".into()),
                ..all()
            }),
            [3, 2]
        );
        assert_eq!(
            by(EventFilter {
                reason: Some("rate_limited".into()),
                ..all()
            }),
            [3]
        );
        assert_eq!(
            by(EventFilter {
                since_ms: Some(15),
                until_ms: Some(25),
                ..all()
            }),
            [2]
        );
        assert_eq!(
            by(EventFilter {
                after: Some(1),
                ..all()
            }),
            [3, 2]
        );
        assert_eq!(by(EventFilter { limit: 1, ..all() }), [3]);
    }

    #[test]
    fn events_survive_a_restart_of_the_embedded_store() {
        let dir = tempfile::tempdir().unwrap();
        let routes = |store: &EmbeddedStore| -> Vec<String> {
            store
                .load_events()
                .unwrap()
                .into_iter()
                .map(|e| e.route)
                .collect()
        };
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let log = EventLog::persistent(store.clone(), 2, 1 << 60).unwrap();
        let now = hookguard_delivery::Timestamp::now().0;
        for route in ["a", "b", "c"] {
            log.push(event(route, "forwarded", None, now));
        }
        // The writer is a background thread: wait for it, within 5 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while routes(&store) != ["b", "c"] && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(routes(&store), ["b", "c"]);
        drop((log, store));
        // The writer thread lets go of the database once the log is gone.
        let reopened = loop {
            match EmbeddedStore::open(dir.path()) {
                Ok(store) => break store,
                Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        };
        let log = EventLog::persistent(reopened, 2, 1 << 60).unwrap();
        let ids: Vec<u64> = log.list(&all(), now).iter().map(|e| e.id).collect();
        assert_eq!(ids, [3, 2]);
        log.push(event("d", "forwarded", None, now));
        assert_eq!(log.list(&all(), now)[0].id, 4, "ids go on after a restart");
    }
}
