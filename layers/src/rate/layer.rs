//! [`RateLimitLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use super::{MemoryStore, RateLimit, RateLimiter};

/// Counts requests against a [`RateLimiter`] before the inner service sees them.
#[derive(Debug)]
pub struct RateLimitLayer<St = MemoryStore> {
    limiter: Arc<RateLimiter<St>>,
}

impl<St> RateLimitLayer<St> {
    /// A layer around `limiter`.
    pub fn new(limiter: RateLimiter<St>) -> Self {
        Self::from_arc(Arc::new(limiter))
    }

    /// A layer around a shared limiter (e.g. one also swept by
    /// [`RateLimiter::spawn_sweeper`]).
    pub fn from_arc(limiter: Arc<RateLimiter<St>>) -> Self {
        Self { limiter }
    }

    /// The limiter.
    pub fn limiter(&self) -> &Arc<RateLimiter<St>> {
        &self.limiter
    }
}

impl<St> Clone for RateLimitLayer<St> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
        }
    }
}

impl<S, St> Layer<S> for RateLimitLayer<St> {
    type Service = RateLimit<S, St>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, self.limiter.clone())
    }
}
