//! [`DestinationPolicy`]: how the engine delivers to one destination.
//!
//! ```
//! use std::time::Duration;
//! use hookguard_delivery::DestinationPolicy;
//!
//! let policy = DestinationPolicy { max_retries: 3, concurrency: 4, ..DestinationPolicy::default() };
//! policy.validate().unwrap();
//! let bad = DestinationPolicy { timeout: Duration::from_secs(1), ..DestinationPolicy::default() };
//! assert!(bad.validate().unwrap_err().to_string().contains("timeout"));
//! ```

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::breaker::BreakerConfig;
use crate::schedule::Schedule;

/// The allowed `max_retries`.
pub const MAX_RETRIES: RangeInclusive<u32> = 1..=10;

/// The allowed `timeout`.
pub const TIMEOUT: RangeInclusive<Duration> = Duration::from_secs(5)..=Duration::from_secs(300);

/// How one destination is delivered to.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationPolicy {
    /// Retries after the first attempt before a message is dead (1–10; default 5).
    pub max_retries: u32,
    /// How long one attempt may take, answer included (5–300 s; default 30 s).
    pub timeout: Duration,
    /// Attempts under way at once, at most (default 8).
    pub concurrency: usize,
    /// Delays between attempts.
    pub schedule: Schedule,
    /// When to stop sending for a while.
    pub breaker: BreakerConfig,
    /// How long a claimed message is reserved for this worker before another may take it
    /// (a crashed worker's messages come back after it). Longer than `timeout`; default
    /// `timeout` + 30 s.
    pub lease: Duration,
}

impl Default for DestinationPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            timeout: Duration::from_secs(30),
            concurrency: 8,
            schedule: Schedule::default(),
            breaker: BreakerConfig::default(),
            lease: Duration::from_secs(60),
        }
    }
}

/// A policy value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct PolicyError {
    /// The field.
    pub field: &'static str,
    /// What is wrong and what was expected.
    pub problem: String,
}

impl DestinationPolicy {
    /// Checks every field; the engine itself runs any policy it is given (0 retries is
    /// one attempt, a short lease risks a second concurrent attempt), so config checks
    /// this before.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let fail = |field, problem: String| Err(PolicyError { field, problem });
        if !MAX_RETRIES.contains(&self.max_retries) {
            return fail(
                "max_retries",
                format!("{} is not between 1 and 10", self.max_retries),
            );
        }
        if !TIMEOUT.contains(&self.timeout) {
            return fail(
                "timeout",
                format!("{:?} is not between 5 s and 300 s", self.timeout),
            );
        }
        if self.concurrency == 0 {
            return fail("concurrency", "must be at least 1".into());
        }
        if self.lease <= self.timeout {
            return fail(
                "lease",
                format!(
                    "{:?} must be longer than the timeout ({:?}), or a slow attempt's message is handed out twice",
                    self.lease, self.timeout
                ),
            );
        }
        let breaker = &self.breaker;
        if !(0.0..=1.0).contains(&breaker.failure_rate) {
            return fail(
                "breaker.failure_rate",
                format!("{} is not between 0 and 1", breaker.failure_rate),
            );
        }
        if breaker.failure_rate > 0.0 && breaker.window.is_zero() {
            return fail("breaker.window", "must be longer than zero".into());
        }
        Ok(())
    }
}
