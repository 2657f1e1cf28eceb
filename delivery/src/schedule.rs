//! The retry policy core: which outcomes are retried, when, and when a message is dead.
//!
//! - **Delivered**: any 2xx.
//! - **Retried**: no HTTP answer at all (connection refused or reset, DNS, timeout, TLS,
//!   not HTTP), 5xx, 408, 429 — and 3xx, because redirects are not followed and a
//!   redirect is as often a maintenance page as a moved endpoint.
//! - **Dead at once** ([`DeadCode::Rejected`]): every other status (in practice a 4xx); the
//!   detail names it.
//! - A message gets one first attempt and up to `max_retries` retries, then it is dead
//!   with [`DeadCode::RetriesExhausted`] and the last outcome in the detail.
//!
//! The delay before retry `n` is the schedule's `n`-th delay (the last one repeats) with
//! **full jitter**: uniform in `[0, delay]`, so a crowd of messages that failed together
//! does not come back together. No floor is added: the first delays are short enough that
//! an early retry costs one cheap attempt, and a floor would bring back the herd. A
//! `Retry-After` from the destination replaces the jittered delay, clamped to
//! `[un-jittered delay, 24 h]`: never sooner than the schedule, never a day later.
//!
//! ```
//! use std::time::Duration;
//! use hookguard_delivery::{AttemptOutcome, Decision, Schedule, Timestamp};
//!
//! // No jitter: exact delays (tests, or a schedule that wants them).
//! let schedule = Schedule::default().with_jitter(|max: Duration| max);
//! let busy = AttemptOutcome::Status { code: 503, retry_after: None, body: None };
//! let now = Timestamp(1_000_000);
//! assert_eq!(
//!     schedule.decide(&busy, 1, 5, now),
//!     Decision::Retry { at: now.add(Duration::from_secs(5)), delay: Duration::from_secs(5) },
//! );
//! assert!(matches!(schedule.decide(&busy, 6, 5, now), Decision::Dead(_)));
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::message::{AttemptOutcome, DeadCode, DeadReason, ErrorKind, Timestamp};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;

/// The default delays before retries 1, 2, … 10.
pub const DEFAULT_DELAYS: [Duration; 10] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * MINUTE),
    Duration::from_secs(10 * MINUTE),
    Duration::from_secs(30 * MINUTE),
    Duration::from_secs(HOUR),
    Duration::from_secs(2 * HOUR),
    Duration::from_secs(4 * HOUR),
    Duration::from_secs(8 * HOUR),
    Duration::from_secs(10 * HOUR),
];

/// The longest a `Retry-After` may postpone a retry.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * HOUR);

/// Picks the actual delay for a scheduled one: a duration in `[0, max]`.
pub trait Jitter: Send + Sync + 'static {
    /// A delay in `[0, max]`.
    fn pick(&self, max: Duration) -> Duration;
}

/// Any `Fn(Duration) -> Duration` jitters (`|max| max` is no jitter at all).
impl<F> Jitter for F
where
    F: Fn(Duration) -> Duration + Send + Sync + 'static,
{
    fn pick(&self, max: Duration) -> Duration {
        self(max)
    }
}

/// Full jitter: uniform in `[0, max]`, to the millisecond.
pub struct FullJitter {
    rng: Mutex<StdRng>,
}

impl FullJitter {
    /// Seeded from the operating system.
    pub fn new() -> Self {
        Self {
            rng: Mutex::new(StdRng::from_entropy()),
        }
    }

    /// Seeded with `seed`: the same seed picks the same delays (tests).
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }
}

impl Default for FullJitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Jitter for FullJitter {
    fn pick(&self, max: Duration) -> Duration {
        let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        Duration::from_millis(rng.gen_range(0..=max_ms))
    }
}

/// The delays between attempts, and how they are jittered.
#[derive(Clone)]
pub struct Schedule {
    delays: Arc<[Duration]>,
    jitter: Arc<dyn Jitter>,
}

/// A schedule needs at least one delay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("retry schedule is empty: expected at least one delay (e.g. [\"5s\", \"30s\"])")]
pub struct EmptySchedule;

impl Schedule {
    /// Retries after `delays` (the last repeats when `max_retries` is longer), with
    /// full jitter.
    pub fn new(delays: impl Into<Vec<Duration>>) -> Result<Self, EmptySchedule> {
        let delays: Vec<Duration> = delays.into();
        if delays.is_empty() {
            return Err(EmptySchedule);
        }
        Ok(Self {
            delays: delays.into(),
            jitter: Arc::new(FullJitter::new()),
        })
    }

    /// The same delays, jittered by `jitter`.
    pub fn with_jitter(mut self, jitter: impl Jitter) -> Self {
        self.jitter = Arc::new(jitter);
        self
    }

    /// The configured delays.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// The un-jittered delay before retry `retry` (1 = the first retry).
    pub fn base_delay(&self, retry: u32) -> Duration {
        let index = (retry.max(1) - 1) as usize;
        self.delays
            .get(index)
            .or(self.delays.last())
            .copied()
            .unwrap_or_default()
    }

    /// The delay before retry `retry`: jittered, or `retry_after` clamped to
    /// `[base delay, 24 h]` when the destination asked for one.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let base = self.base_delay(retry);
        match retry_after {
            // `max` last: a schedule longer than a day still wins over the clamp.
            Some(asked) => asked.min(MAX_RETRY_AFTER).max(base),
            None => self.jitter.pick(base).min(base),
        }
    }

    /// What to do after attempt number `attempt` (1 = the first) ended with `outcome`,
    /// given `max_retries` retries after the first attempt.
    pub fn decide(
        &self,
        outcome: &AttemptOutcome,
        attempt: u32,
        max_retries: u32,
        now: Timestamp,
    ) -> Decision {
        match verdict(outcome) {
            Verdict::Delivered => Decision::Delivered,
            Verdict::Rejected => Decision::Dead(DeadReason {
                code: DeadCode::Rejected,
                detail: match outcome {
                    AttemptOutcome::Error { .. } => format!("not sent: {}", describe(outcome)),
                    AttemptOutcome::Status { .. } => {
                        format!("the destination answered {}", describe(outcome))
                    }
                },
            }),
            Verdict::Retryable if attempt > max_retries => Decision::Dead(DeadReason {
                code: DeadCode::RetriesExhausted,
                detail: format!("{attempt} attempts, last: {}", describe(outcome)),
            }),
            Verdict::Retryable => {
                let retry_after = match outcome {
                    AttemptOutcome::Status {
                        retry_after: Some(value),
                        ..
                    } => parse_retry_after(value, now),
                    _ => None,
                };
                let delay = self.delay(attempt, retry_after);
                Decision::Retry {
                    at: now.add(delay),
                    delay,
                }
            }
        }
    }
}

impl Default for Schedule {
    /// [`DEFAULT_DELAYS`] with full jitter.
    fn default() -> Self {
        Self {
            delays: DEFAULT_DELAYS.into(),
            jitter: Arc::new(FullJitter::new()),
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("delays", &self.delays)
            .finish_non_exhaustive()
    }
}

/// Schedules are equal when their delays are (jitter is not compared).
impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.delays == other.delays
    }
}

/// How an outcome is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Delivered,
    /// Worth another attempt (and a failure for the circuit breaker).
    Retryable,
    /// Refused for good: no retry.
    Rejected,
}

/// Judges one outcome; see the module docs.
pub fn verdict(outcome: &AttemptOutcome) -> Verdict {
    match outcome {
        // A policy refusal (the SSRF guard) gives the same answer on every attempt.
        AttemptOutcome::Error {
            kind: ErrorKind::Refused,
            ..
        } => Verdict::Rejected,
        AttemptOutcome::Error { .. } => Verdict::Retryable,
        AttemptOutcome::Status { code, .. } => match code {
            200..=299 => Verdict::Delivered,
            300..=399 | 408 | 429 | 500..=599 => Verdict::Retryable,
            _ => Verdict::Rejected,
        },
    }
}

/// What the engine does with a message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Delivered.
    Delivered,
    /// Try again at `at` (`delay` after now).
    Retry {
        /// When.
        at: Timestamp,
        /// How long from now.
        delay: Duration,
    },
    /// To the dead-letter queue.
    Dead(DeadReason),
}

/// An outcome in a few words: `503 Service Unavailable`, `timeout: …`.
pub fn describe(outcome: &AttemptOutcome) -> String {
    match outcome {
        AttemptOutcome::Status { code, .. } => {
            match reqwest::StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason())
            {
                Some(reason) => format!("{code} {reason}"),
                None => code.to_string(),
            }
        }
        AttemptOutcome::Error { kind, detail } => format!("{}: {detail}", kind.as_str()),
    }
}

/// A `Retry-After` value (delta-seconds or an HTTP date) as a delay from `now`; `None`
/// when it is neither. A date in the past is a zero delay.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to fit is "a very long time": the clamp takes it to 24 h.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(Timestamp(at_ms).since(now))
}

#[cfg(test)]
mod tests;
