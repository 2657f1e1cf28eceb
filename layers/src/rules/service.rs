//! [`PayloadRules`], the service built by [`PayloadRulesLayer`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::Body;
use tower_service::Service;

use super::layer::PayloadRulesLayer;
use super::{Metadata, PayloadPolicy};
use crate::ip::{ClientAddr, ClientIp, PeerFromExtensions};
use crate::reject::FromRejection;
use crate::verify::{collect_body, Verified};

/// Applies a route's [`PayloadPolicy`] to each request, then hands the inner service the
/// (possibly mapped) body and changed headers.
#[derive(Clone)]
pub struct PayloadRules<S> {
    inner: S,
    rules: PayloadRulesLayer,
}

impl<S> PayloadRules<S> {
    pub(super) fn new(inner: S, rules: PayloadRulesLayer) -> Self {
        Self { inner, rules }
    }

    /// Shortcut for [`PayloadRulesLayer::new`].
    pub fn layer(route: impl Into<Arc<str>>, policy: PayloadPolicy) -> PayloadRulesLayer {
        PayloadRulesLayer::new(route, policy)
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for PayloadRules<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadRules")
            .field("inner", &self.inner)
            .field("rules", &self.rules)
            .finish()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for PayloadRules<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: FromRejection,
    S::Future: Send,
    B: Body + From<Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = S::Response;
    type Error = S::Error;
    // Boxed: the body is collected asynchronously before the inner call.
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Take the service that was polled ready; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let rules = self.rules.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let body = match collect_body(body, rules.max_body).await {
                Ok(body) => body,
                Err(rejection) => return Ok(S::Response::from_rejection(rejection)),
            };
            let received_at =
                crate::verify::rfc3339::format(rules.clock.now_unix()).unwrap_or_default();
            let meta = Metadata {
                route: &rules.route,
                delivery_id: parts
                    .extensions
                    .get::<Verified>()
                    .and_then(|v| v.delivery_id.as_deref()),
                received_at,
                client_ip: parts
                    .extensions
                    .get::<ClientIp>()
                    .map(|ip| ip.0)
                    .or_else(|| PeerFromExtensions.peer_ip(&parts.extensions)),
            };
            let mut headers = std::mem::take(&mut parts.headers);
            let applied = rules.policy.apply(&mut headers, &body, &meta);
            parts.headers = headers;
            match applied {
                Ok(applied) => {
                    if let Some(transformed) = applied.transformed {
                        parts.extensions.insert(transformed);
                    }
                    inner
                        .call(Request::from_parts(parts, B::from(applied.body)))
                        .await
                }
                Err(rejection) => Ok(S::Response::from_rejection(rejection)),
            }
        })
    }
}
