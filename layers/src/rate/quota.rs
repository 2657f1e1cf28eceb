//! [`RateQuota`]: how many requests per period, and how many at once.

use std::num::NonZeroU32;
use std::time::Duration;

/// The longest time a full burst may take to refill. Beyond it the arithmetic of the
/// limiter (nanoseconds in 64 bits) would come too close to overflowing.
const MAX_REFILL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A rate and a burst, applied to each key: `requests` per `per` on average, and up to
/// `burst` at once after a quiet spell (GCRA, the leaky bucket as a meter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    interval: Duration,
    burst: NonZeroU32,
}

impl RateQuota {
    /// `requests` per `per`, with a burst of `requests`.
    pub fn new(requests: u32, per: Duration) -> Result<Self, RateConfigError> {
        if requests == 0 {
            return Err(RateConfigError::ZeroRate { per });
        }
        if per.is_zero() {
            return Err(RateConfigError::ZeroPeriod);
        }
        let interval = per / requests;
        if interval.is_zero() {
            return Err(RateConfigError::TooFast { requests, per });
        }
        Self::checked(interval, requests)
    }

    /// `requests` per second, with a burst of `requests`.
    pub fn per_second(requests: u32) -> Result<Self, RateConfigError> {
        Self::new(requests, Duration::from_secs(1))
    }

    /// `requests` per minute, with a burst of `requests`.
    pub fn per_minute(requests: u32) -> Result<Self, RateConfigError> {
        Self::new(requests, Duration::from_secs(60))
    }

    /// The same rate with another burst: how many requests a key may send at once.
    pub fn burst(self, burst: u32) -> Result<Self, RateConfigError> {
        Self::checked(self.interval, burst)
    }

    fn checked(interval: Duration, burst: u32) -> Result<Self, RateConfigError> {
        let burst = NonZeroU32::new(burst).ok_or(RateConfigError::ZeroBurst)?;
        if interval.as_nanos() * u128::from(burst.get()) > MAX_REFILL.as_nanos() {
            return Err(RateConfigError::TooSlow {
                burst: burst.get(),
                interval,
            });
        }
        Ok(Self { interval, burst })
    }

    /// The burst: requests admitted at once, advertised as `RateLimit-Limit`.
    pub fn limit(&self) -> u32 {
        self.burst.get()
    }

    /// Time for one request's worth of capacity to come back.
    pub fn replenish_interval(&self) -> Duration {
        self.interval
    }

    /// The same quota for governor.
    pub(crate) fn governor(&self) -> governor::Quota {
        // `interval` is non-zero by construction, so `with_period` always succeeds; the
        // fallback keeps this total without a panic path.
        governor::Quota::with_period(self.interval)
            .unwrap_or_else(|| governor::Quota::per_second(self.burst))
            .allow_burst(self.burst)
    }
}

/// A rate-limit setting that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateConfigError {
    /// No request would ever pass.
    #[error("rate limit: rate is 0 requests per {per:?}; expected at least 1 (to refuse a route entirely, disable it or use the IP filter)")]
    ZeroRate {
        /// The period given.
        per: Duration,
    },
    /// A rate over no time.
    #[error("rate limit: period is 0; expected a period such as 1s or 1m")]
    ZeroPeriod,
    /// No request would ever pass.
    #[error("rate limit: burst is 0; expected at least 1 (requests admitted at once)")]
    ZeroBurst,
    /// Faster than the limiter's nanosecond resolution.
    #[error("rate limit: {requests} requests per {per:?} is more than one per nanosecond")]
    TooFast {
        /// Requests per period given.
        requests: u32,
        /// The period given.
        per: Duration,
    },
    /// A full burst would take more than ten years to refill.
    #[error("rate limit: a burst of {burst} refilling one request per {interval:?} takes more than ten years")]
    TooSlow {
        /// The burst given.
        burst: u32,
        /// Time for one request's capacity to come back.
        interval: Duration,
    },
    /// A key store that can hold nothing.
    #[error("rate limit: max_keys is 0; expected at least 1")]
    ZeroKeys,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_settings_are_construction_errors() {
        let err = RateQuota::new(0, Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            err,
            RateConfigError::ZeroRate {
                per: Duration::from_secs(1)
            }
        );
        assert!(
            err.to_string().contains("rate is 0 requests per 1s"),
            "{err}"
        );
        assert_eq!(
            RateQuota::new(5, Duration::ZERO),
            Err(RateConfigError::ZeroPeriod)
        );
        let zero_burst = RateQuota::per_second(5).unwrap().burst(0).unwrap_err();
        assert_eq!(zero_burst, RateConfigError::ZeroBurst);
        assert!(zero_burst.to_string().contains("burst is 0"));
        assert!(matches!(
            RateQuota::new(u32::MAX, Duration::from_nanos(1)),
            Err(RateConfigError::TooFast { .. })
        ));
        let slow = RateQuota::new(1, Duration::from_secs(365 * 24 * 3600))
            .unwrap()
            .burst(11)
            .unwrap_err();
        assert!(
            matches!(slow, RateConfigError::TooSlow { burst: 11, .. }),
            "{slow}"
        );
        // The extremes that are still sensible build.
        assert!(RateQuota::new(1, Duration::from_secs(365 * 24 * 3600)).is_ok());
        assert!(RateQuota::new(1_000_000_000, Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn rate_and_burst_are_kept() {
        let quota = RateQuota::per_minute(120).unwrap().burst(10).unwrap();
        assert_eq!(quota.limit(), 10);
        assert_eq!(quota.replenish_interval(), Duration::from_millis(500));
        let g = quota.governor();
        assert_eq!(g.burst_size().get(), 10);
        assert_eq!(g.replenish_interval(), Duration::from_millis(500));
    }
}
