//! Connection caps and the request-head deadline: they hold before any route runs, so a
//! client that opens many connections, or sends its head a byte at a time, cannot exhaust
//! memory or file descriptors (`[connections]` in the config).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use hookguard_config::Connections;
use pingora_core::protocols::http::ServerSession;
use pingora_error::ErrorSource;

use crate::metrics::METRICS;

/// Open connections, overall and per client address.
#[derive(Default)]
pub(super) struct Gate {
    open: AtomicUsize,
    per_client: DashMap<IpAddr, usize>,
}

/// One admitted connection; leaving it frees its place.
pub(super) struct Slot<'a> {
    gate: &'a Gate,
    client: Option<IpAddr>,
}

impl Gate {
    /// A place for a new connection from `client`, or `None` when a cap is reached.
    pub(super) fn enter(&self, client: Option<IpAddr>, limits: &Connections) -> Option<Slot<'_>> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= limits.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            METRICS
                .connections_refused
                .with_label_values(&["max"])
                .inc();
            return None;
        }
        if let Some(ip) = client {
            let mut count = self.per_client.entry(ip).or_insert(0);
            if *count >= limits.max_per_client {
                drop(count);
                self.open.fetch_sub(1, Ordering::AcqRel);
                METRICS
                    .connections_refused
                    .with_label_values(&["max_per_client"])
                    .inc();
                return None;
            }
            *count += 1;
        }
        METRICS.connections_open.inc();
        Some(Slot { gate: self, client })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(ip) = self.client {
            // The entry goes when its last connection does, so the map holds only open ones.
            self.gate.per_client.remove_if_mut(&ip, |_, count| {
                *count -= 1;
                *count == 0
            });
        }
        self.gate.open.fetch_sub(1, Ordering::AcqRel);
        METRICS.connections_open.dec();
    }
}

/// Reads the next request head within `deadline`. The deadline is pingora's coarse timer
/// (10 ms resolution, one shared clock thread): tokio's timer wakes its driver through an
/// eventfd each time a keep-alive connection waits for its next head — a write and a
/// wake-up per request, measured in bench/README.md ("The hot path"). `false`: the connection is done — closed
/// by the client, too slow (counted), or a head that does not parse (answered 400).
pub(super) async fn read_head(session: &mut ServerSession, deadline: Duration) -> bool {
    match pingora_timeout::timeout(deadline, session.read_request()).await {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => {
            if e.esource() == &ErrorSource::Downstream && session.response_written().is_none() {
                // Not valid HTTP/1: say so before closing (the peer may be gone already).
                let _ = session.respond_error(400).await;
            }
            false
        }
        Err(_) => {
            METRICS.head_timeouts.inc();
            false
        }
    }
}
