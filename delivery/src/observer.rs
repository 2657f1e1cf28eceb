//! Hooks for metrics: the engine tells an [`Observer`] what happened, the sidecar turns it
//! into Prometheus series. Labels are per destination, never per message.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//! use hookguard_delivery::{Direction, Observer};
//!
//! #[derive(Default)]
//! struct Delivered(AtomicU64);
//!
//! impl Observer for Delivered {
//!     fn delivered(&self, _destination: &str, _direction: Direction, _lag: Duration) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//! ```

use std::time::Duration;

use crate::breaker::BreakerState;
use crate::message::{AttemptOutcome, DeadCode, Direction};

/// What the engine reports; every method defaults to doing nothing.
pub trait Observer: Send + Sync + 'static {
    /// An attempt ended with `outcome` after `duration`.
    fn attempt(
        &self,
        destination: &str,
        direction: Direction,
        outcome: &AttemptOutcome,
        duration: Duration,
    ) {
        let _ = (destination, direction, outcome, duration);
    }

    /// A message was delivered, `lag` after hookguard accepted it. Called only once the
    /// store has acknowledged the settlement, so a crash of the process after this call
    /// does not send the message again (a crash before it may: at least once).
    fn delivered(&self, destination: &str, direction: Direction, lag: Duration) {
        let _ = (destination, direction, lag);
    }

    /// A retry was scheduled `delay` from now.
    fn retry_scheduled(&self, destination: &str, direction: Direction, delay: Duration) {
        let _ = (destination, direction, delay);
    }

    /// A message went to the dead-letter queue.
    fn dead_lettered(&self, destination: &str, direction: Direction, code: DeadCode) {
        let _ = (destination, direction, code);
    }

    /// A destination's breaker changed state.
    fn breaker(&self, destination: &str, state: BreakerState) {
        let _ = (destination, state);
    }
}

/// Observes nothing (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {}
