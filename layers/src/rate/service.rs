//! [`RateLimit`], the service built by [`RateLimitLayer`](super::RateLimitLayer).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

use super::future::ResponseFuture;
use super::{MemoryStore, RateLimitLayer, RateLimiter, RateStore};
use crate::reject::FromRejection;

/// Answers 429 (with `Retry-After` and `RateLimit-*` headers) once a request's bucket is
/// empty; otherwise calls the inner service. It reads the request head only — never the
/// body — so it works for any body type.
#[derive(Debug)]
pub struct RateLimit<S, St = MemoryStore> {
    inner: S,
    limiter: Arc<RateLimiter<St>>,
}

impl<S, St> RateLimit<S, St> {
    pub(super) fn new(inner: S, limiter: Arc<RateLimiter<St>>) -> Self {
        Self { inner, limiter }
    }

    /// Shortcut for [`RateLimitLayer::new`].
    pub fn layer(limiter: RateLimiter<St>) -> RateLimitLayer<St> {
        RateLimitLayer::new(limiter)
    }
}

impl<S: Clone, St> Clone for RateLimit<S, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
        }
    }
}

impl<S, B, St> Service<Request<B>> for RateLimit<S, St>
where
    S: Service<Request<B>> + Clone,
    S::Response: FromRejection,
    St: RateStore,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, St>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        match self.limiter.key_for(&parts) {
            Err(rejection) => ResponseFuture::reject(S::Response::from_rejection(rejection)),
            Ok(key) => {
                let check = self.limiter.check(&key);
                // The decision may come later (a remote store): take the service that was
                // polled ready along, and leave a fresh clone in its place.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::check(check, inner, Request::from_parts(parts, body))
            }
        }
    }
}
