//! The circuit breaker policy core: one [`Breaker`] per destination, told the time by
//! its caller (so tests move a fake clock, never sleep).
//!
//! - **Closed**: everything is sent. It opens after `consecutive_failures` failures in a
//!   row, or when at least `min_requests` attempts in the last `window` failed at a rate
//!   of `failure_rate` or more.
//! - **Open**: nothing is sent; messages wait in the store, no attempt is burned. After
//!   `cool_down` it is half-open.
//! - **Half-open**: one probe is admitted. Its success closes the breaker; its failure
//!   opens it again for another cool-down.
//!
//! A failure is an outcome worth retrying (see [`crate::schedule::verdict`]): no answer,
//! 5xx, 408, 429. A 4xx rejection means the destination is up and answering, so it counts
//! as a success here.
//!
//! Each admission hands out a [`Permit`] stamped with the breaker's current period; a
//! result reported with the permit of an earlier period (an attempt that was already
//! under way when the breaker opened) is ignored, so it can neither re-open a breaker nor
//! pass for the probe.
//!
//! ```
//! use std::time::Duration;
//! use hookguard_delivery::{Breaker, BreakerConfig, BreakerState, Timestamp};
//!
//! let mut breaker = Breaker::new(BreakerConfig { consecutive_failures: 2, ..Default::default() });
//! let t = Timestamp(0);
//! for _ in 0..2 {
//!     let permit = breaker.admit(t).unwrap();
//!     breaker.record(permit, t, true);
//! }
//! assert_eq!(breaker.state(t), BreakerState::Open);
//! assert!(breaker.admit(t).is_none());
//! let later = t.add(Duration::from_secs(30));
//! assert_eq!(breaker.state(later), BreakerState::HalfOpen);
//! let probe = breaker.admit(later).unwrap();
//! assert!(probe.is_probe());
//! breaker.record(probe, later, false);
//! assert_eq!(breaker.state(later), BreakerState::Closed);
//! ```

use std::time::Duration;

use crate::message::Timestamp;

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Opens after this many failures in a row (0: never on this rule).
    pub consecutive_failures: u32,
    /// Opens when the share of failures in `window` reaches this (0.0–1.0; 0: never on
    /// this rule)…
    pub failure_rate: f64,
    /// …over this sliding window…
    pub window: Duration,
    /// …counting only once the window holds at least this many attempts.
    pub min_requests: u32,
    /// How long it stays open before admitting a probe.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    /// 5 in a row, or half of at least 20 in a minute; 30 s cool-down.
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: 0.5,
            window: Duration::from_secs(60),
            min_requests: 20,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// A breaker's state, as exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Delivering.
    Closed,
    /// Waiting out the cool-down: nothing is sent.
    Open,
    /// One probe may go.
    HalfOpen,
}

impl BreakerState {
    /// Every state.
    pub const ALL: [BreakerState; 3] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];

    /// `closed`, `open`, `half_open` (log field, API).
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// The gauge value: 0 closed, 1 half-open, 2 open (higher is worse, so `max` over
    /// destinations reads naturally on a dashboard).
    pub fn as_gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
}

/// Leave to send: report its result with [`Breaker::record`] (or give it back with
/// [`Breaker::cancel`] when nothing was sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    period: u64,
    probe: bool,
}

impl Permit {
    /// Whether this is the half-open probe (send exactly one message with it).
    pub fn is_probe(self) -> bool {
        self.probe
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open { until: Timestamp },
    HalfOpen { probe_out: bool },
}

const BUCKETS: u64 = 10;

/// Attempts and failures in one tenth of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    slot: u64,
    total: u32,
    failed: u32,
}

/// One destination's breaker; see the module docs.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    phase: Phase,
    /// Bumped on every change of phase; permits of older periods are stale.
    period: u64,
    consecutive: u32,
    buckets: [Bucket; BUCKETS as usize],
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            phase: Phase::Closed,
            period: 0,
            consecutive: 0,
            buckets: Default::default(),
        }
    }

    /// Replaces the config (a reload), keeping the state.
    pub fn set_config(&mut self, config: BreakerConfig) {
        self.config = config;
    }

    /// The config in force.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The state at `now` (an open breaker whose cool-down is over reads half-open).
    pub fn state(&self, now: Timestamp) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if until <= now => BreakerState::HalfOpen,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// When an open breaker admits its probe; `None` unless open.
    pub fn open_until(&self) -> Option<Timestamp> {
        match self.phase {
            Phase::Open { until } => Some(until),
            _ => None,
        }
    }

    /// Leave to send at `now`: any number of messages when closed, one probe when
    /// half-open and no probe is out, `None` otherwise.
    pub fn admit(&mut self, now: Timestamp) -> Option<Permit> {
        self.wake(now);
        match self.phase {
            Phase::Closed => Some(self.permit(false)),
            Phase::HalfOpen { probe_out: false } => {
                self.phase = Phase::HalfOpen { probe_out: true };
                Some(self.permit(true))
            }
            Phase::HalfOpen { probe_out: true } | Phase::Open { .. } => None,
        }
    }

    /// Whether `permit` is still good: the breaker has not changed phase since.
    pub fn still_admits(&self, permit: Permit) -> bool {
        permit.period == self.period
    }

    /// Gives back a permit that sent nothing (no message was due, or it could not be
    /// decoded): a probe may go again.
    pub fn cancel(&mut self, permit: Permit) {
        if permit.probe && permit.period == self.period {
            self.phase = Phase::HalfOpen { probe_out: false };
        }
    }

    /// Reports the result of an attempt made with `permit`: `failed` as judged by the
    /// retry policy. Stale permits are ignored.
    pub fn record(&mut self, permit: Permit, now: Timestamp, failed: bool) {
        if permit.period != self.period {
            return;
        }
        match self.phase {
            Phase::Closed => {
                self.count(now, failed);
                if self.tripped(now) {
                    self.open(now);
                }
            }
            Phase::HalfOpen { .. } if failed => self.open(now),
            Phase::HalfOpen { .. } => self.enter(Phase::Closed),
            // Opening starts a new period: no permit of this one exists.
            Phase::Open { .. } => {}
        }
    }

    fn permit(&self, probe: bool) -> Permit {
        Permit {
            period: self.period,
            probe,
        }
    }

    fn wake(&mut self, now: Timestamp) {
        if let Phase::Open { until } = self.phase {
            if until <= now {
                self.enter(Phase::HalfOpen { probe_out: false });
            }
        }
    }

    fn open(&mut self, now: Timestamp) {
        self.enter(Phase::Open {
            until: now.add(self.config.cool_down),
        });
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.period += 1;
        // Every closed period starts with a clean slate.
        self.consecutive = 0;
        self.buckets = Default::default();
    }

    fn bucket_ms(&self) -> u64 {
        (self.config.window.as_millis() as u64 / BUCKETS).max(1)
    }

    fn count(&mut self, now: Timestamp, failed: bool) {
        self.consecutive = if failed { self.consecutive + 1 } else { 0 };
        let slot = now.0 / self.bucket_ms();
        let bucket = &mut self.buckets[(slot % BUCKETS) as usize];
        if bucket.slot != slot {
            *bucket = Bucket {
                slot,
                ..Bucket::default()
            };
        }
        bucket.total += 1;
        bucket.failed += u32::from(failed);
    }

    fn tripped(&self, now: Timestamp) -> bool {
        let consecutive = self.config.consecutive_failures;
        if consecutive > 0 && self.consecutive >= consecutive {
            return true;
        }
        if self.config.failure_rate <= 0.0 {
            return false;
        }
        let current = now.0 / self.bucket_ms();
        let (total, failed) = self
            .buckets
            .iter()
            .filter(|b| b.total > 0 && b.slot + BUCKETS > current)
            .fold((0u32, 0u32), |(t, f), b| (t + b.total, f + b.failed));
        total > 0
            && total >= self.config.min_requests
            && f64::from(failed) / f64::from(total) >= self.config.failure_rate
    }
}

#[cfg(test)]
mod tests;
