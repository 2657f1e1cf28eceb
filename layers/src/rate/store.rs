//! [`RateStore`]: where buckets live, so a Redis backend can replace the in-memory one.

use std::future::Future;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::{LimitKey, RateQuota};
use crate::reject::{Reason, Rejection};

/// Keeps one GCRA bucket per [`LimitKey`] under one [`RateQuota`] and counts a request
/// against it.
///
/// The in-process default is [`MemoryStore`](super::MemoryStore). A store shared by
/// several replicas (Redis, with the GCRA done in one server-side script) implements the
/// same trait; its future does the round trip, which is why the check is asynchronous.
pub trait RateStore: Send + Sync + 'static {
    /// The pending decision.
    type Future: Future<Output = Result<RateDecision, RateStoreError>> + Send + 'static;

    /// Counts one request against `key`'s bucket, if the bucket has room.
    fn check(&self, key: &LimitKey) -> Self::Future;

    /// The quota every bucket follows.
    fn quota(&self) -> RateQuota;

    /// Drops buckets that have been idle long enough to be full again (indistinguishable
    /// from new ones). Stores that expire keys by themselves need not do anything.
    fn sweep(&self) {}
}

/// One store shared by several limiters (e.g. one per route, with [`RateScope::Route`]
/// keeping their buckets apart).
///
/// [`RateScope::Route`]: super::RateScope::Route
impl<St: RateStore> RateStore for std::sync::Arc<St> {
    type Future = St::Future;

    fn check(&self, key: &LimitKey) -> Self::Future {
        St::check(self, key)
    }

    fn quota(&self) -> RateQuota {
        St::quota(self)
    }

    fn sweep(&self) {
        St::sweep(self)
    }
}

/// A store's answer for one request, with what the `RateLimit-*` headers advertise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request fits in its bucket (and was counted).
    pub allowed: bool,
    /// The bucket's size: requests admitted at once after a quiet spell.
    pub limit: u32,
    /// Requests that would still be admitted right now.
    pub remaining: u32,
    /// Time until the bucket is full again.
    pub reset: Duration,
    /// When refused, time until one request will fit; zero when allowed.
    pub retry_after: Duration,
}

impl RateDecision {
    /// `Ok` when allowed, or the 429 [`Rejection`] carrying `Retry-After` and the
    /// `RateLimit-*` headers.
    pub fn into_result(self) -> Result<RateDecision, Rejection> {
        if self.allowed {
            return Ok(self);
        }
        let retry_after = ceil_secs(self.retry_after).max(1);
        let mut rejection = Rejection::new(
            StatusCode::TOO_MANY_REQUESTS,
            Reason::RateLimited,
            format!(
                "rate limit of {} requests exceeded; retry in {retry_after} s",
                self.limit
            ),
        );
        rejection.headers = self.headers();
        rejection
            .headers
            .insert(http::header::RETRY_AFTER, HeaderValue::from(retry_after));
        Err(rejection)
    }

    /// The `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers
    /// (draft-ietf-httpapi-ratelimit-headers-06: a count, a count, and delta-seconds
    /// until the quota is whole again, rounded up).
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(4);
        let name = HeaderName::from_static;
        headers.insert(name("ratelimit-limit"), HeaderValue::from(self.limit));
        headers.insert(
            name("ratelimit-remaining"),
            HeaderValue::from(self.remaining),
        );
        headers.insert(
            name("ratelimit-reset"),
            HeaderValue::from(ceil_secs(self.reset)),
        );
        headers
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A store that could not decide (e.g. Redis unreachable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate-limit store: {0}")]
pub struct RateStoreError(pub String);

impl From<RateStoreError> for Rejection {
    /// 503 with `Retry-After: 1`: the request is neither counted nor let through
    /// unmetered. The store's own message stays in logs, not in the response.
    fn from(_: RateStoreError) -> Self {
        let mut rejection = Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Reason::RateLimited,
            "the rate-limit store is unavailable; retry later",
        );
        rejection
            .headers
            .insert(http::header::RETRY_AFTER, HeaderValue::from(1u32));
        rejection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_carries_retry_after_rounded_up_and_ratelimit_headers() {
        let decision = RateDecision {
            allowed: false,
            limit: 10,
            remaining: 0,
            reset: Duration::from_millis(9_200),
            retry_after: Duration::from_millis(1_001),
        };
        let rejection = decision.into_result().unwrap_err();
        assert_eq!(rejection.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(rejection.reason, Reason::RateLimited);
        let h = &rejection.headers;
        assert_eq!(h["retry-after"], "2");
        assert_eq!(h["ratelimit-limit"], "10");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reset"], "10");
        assert_eq!(
            rejection.message,
            "rate limit of 10 requests exceeded; retry in 2 s"
        );
    }

    #[test]
    fn a_wait_under_a_second_still_says_one_second() {
        let decision = RateDecision {
            allowed: false,
            limit: 1,
            remaining: 0,
            reset: Duration::from_millis(3),
            retry_after: Duration::from_millis(3),
        };
        let rejection = decision.into_result().unwrap_err();
        assert_eq!(rejection.headers["retry-after"], "1");
        assert_eq!(rejection.headers["ratelimit-reset"], "1");
        let exact = RateDecision {
            retry_after: Duration::from_secs(3),
            ..decision
        };
        assert_eq!(exact.into_result().unwrap_err().headers["retry-after"], "3");
    }

    #[test]
    fn store_failure_is_a_503_without_the_store_detail() {
        let rejection = Rejection::from(RateStoreError("redis://10.0.0.5:6379 refused".into()));
        assert_eq!(rejection.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!rejection.message.contains("10.0.0.5"));
        assert_eq!(rejection.headers["retry-after"], "1");
    }
}
