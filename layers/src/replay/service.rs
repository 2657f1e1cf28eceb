//! [`ReplayGuard`]: the service built by [`ReplayGuardLayer`](super::ReplayGuardLayer).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

use super::layer::ReplayGuardLayer;
use super::policy::{ReplayPolicy, Tracking};
use super::settle::{SettleDelivery, Settlement};
use super::store::ReplayStore;
use crate::reject::FromRejection;
use crate::verify::Verified;

/// Reserves the request's delivery id, calls the inner service, and commits the id when
/// the answer is 2xx or releases it otherwise (error, non-2xx, or the call dropped).
#[derive(Debug, Clone)]
pub struct ReplayGuard<S> {
    inner: S,
    policy: Arc<ReplayPolicy>,
}

impl<S> ReplayGuard<S> {
    pub(super) fn new(inner: S, policy: Arc<ReplayPolicy>) -> Self {
        Self { inner, policy }
    }

    /// Shortcut for `ReplayGuardLayer::new(..)`.
    pub fn layer(route: impl Into<Arc<str>>, store: impl ReplayStore) -> ReplayGuardLayer {
        ReplayGuardLayer::new(route, store)
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for ReplayGuard<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: FromRejection + SettleDelivery + Send,
    S::Error: Send,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    // Boxed: the reservation is awaited before the inner call and settled after it.
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Take the service that was polled ready; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let tracking = match policy.check_id_headers(request.headers()) {
                Ok(()) => policy.check(request.extensions().get::<Verified>()).await,
                Err(rejection) => Err(rejection),
            };
            let pending = match tracking {
                Err(rejection) => return Ok(S::Response::from_rejection(rejection)),
                Ok(Tracking::Untracked) => return inner.call(request).await,
                Ok(Tracking::Pending(pending)) => pending,
            };
            // If this future is dropped here (a timeout around the stack), `pending` is
            // dropped unsettled and releases the id.
            match inner.call(request).await {
                Ok(mut response) => {
                    match response.settle(&pending) {
                        Settlement::Accepted => {
                            let _ = pending.commit().await;
                        }
                        Settlement::NotAccepted => {
                            let _ = pending.release().await;
                        }
                        Settlement::HandedOn => {}
                    }
                    Ok(response)
                }
                Err(error) => {
                    let _ = pending.release().await;
                    Err(error)
                }
            }
        })
    }
}
