//! Shadow mode: every check runs and reports, nothing is refused.
//!
//! [`Shadow`] wraps a stack whose innermost service answers with a [`Verdict`] (as the
//! hookguard sidecar's stages do). When the stack refuses a request, it forwards the
//! request as it came in instead — head, extensions and body — with a [`ShadowRefusal`]
//! in its extensions: the answer enforce mode would have sent, so whoever forwards it can
//! log and count the refusal under its [`Reason`]. A request the stack passes goes on
//! exactly as the stack left it.
//!
//! Only a route in shadow mode is wrapped: the layer copies each request's head and keeps
//! its body (a cheap clone of a buffered body) until the stack has answered, and a route
//! that enforces pays none of that.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use hookguard_layers::shadow::{ShadowLayer, ShadowRefusal};
//! use hookguard_layers::{FromRejection, Reason, Rejection, Verdict};
//! use http::{Request, StatusCode};
//! use http_body_util::Full;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! // A stack that refuses everything.
//! let refuse = service_fn(|_: Request<Full<Bytes>>| async {
//!     let rejection = Rejection::new(StatusCode::FORBIDDEN, Reason::IpDenied, "denied");
//!     Ok::<_, Infallible>(Verdict::from_rejection(rejection))
//! });
//! let stack = ShadowLayer::new().layer(refuse);
//! let request = Request::post("/webhooks/github").body(Full::new(Bytes::from("{}"))).unwrap();
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let Ok(Verdict::Forward(forwarded)) = runtime.block_on(stack.oneshot(request)) else {
//!     panic!("shadow mode forwards what the stack refuses");
//! };
//! assert_eq!(forwarded.body(), "{}");
//! let refusal = forwarded.extensions().get::<ShadowRefusal>().unwrap();
//! assert_eq!(refusal.reason(), Some(Reason::IpDenied));
//! assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt as _;
use tower_layer::Layer;
use tower_service::Service;

use crate::reject::{Reason, Verdict};

/// A refusal that shadow mode let through, in the forwarded request's extensions: the
/// response enforce mode would have answered with.
#[derive(Debug, Clone)]
pub struct ShadowRefusal(Arc<Response<Bytes>>);

impl ShadowRefusal {
    /// Records `response`, the stack's refusal.
    pub fn new(response: Response<Bytes>) -> Self {
        Self(Arc::new(response))
    }

    /// The status enforce mode would have answered with.
    pub fn status(&self) -> StatusCode {
        self.0.status()
    }

    /// Why the stack refused the request (`None` if the response carries no [`Reason`],
    /// i.e. it was not built from a [`Rejection`](crate::Rejection)).
    pub fn reason(&self) -> Option<Reason> {
        self.0.extensions().get::<Reason>().copied()
    }

    /// The whole response enforce mode would have sent (its body is the caller-safe JSON).
    pub fn response(&self) -> &Response<Bytes> {
        &self.0
    }
}

/// Wraps a stack in [`Shadow`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ShadowLayer {
    _private: (),
}

impl ShadowLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for ShadowLayer {
    type Service = Shadow<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shadow { inner }
    }
}

/// Forwards the requests its inner stack refuses, each with a [`ShadowRefusal`]; see the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct Shadow<S> {
    inner: S,
}

impl<S> Shadow<S> {
    /// A [`ShadowLayer`], for `ServiceBuilder::layer`.
    pub fn layer() -> ShadowLayer {
        ShadowLayer::new()
    }
}

// Boxed: the refusal is known only after the inner future, and the kept body is collected
// then (a buffered body yields its one chunk at once). Only shadow-mode routes pay it.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for Shadow<S>
where
    S: Service<Request<B>, Response = Verdict>,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Clone + Send + 'static,
{
    type Response = Verdict;
    type Error = S::Error;
    type Future = BoxFuture<Result<Verdict, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The request as it came in: the stack may change its own copy (a mapped body,
        // added headers) before refusing it.
        let mut head = Request::new(());
        *head.method_mut() = request.method().clone();
        *head.uri_mut() = request.uri().clone();
        *head.version_mut() = request.version();
        *head.headers_mut() = request.headers().clone();
        *head.extensions_mut() = request.extensions().clone();
        let body = request.body().clone();
        let verdict = self.inner.call(request);
        Box::pin(async move {
            let refusal = match verdict.await? {
                Verdict::Respond(refusal) => refusal,
                forward => return Ok(forward),
            };
            // A body that cannot be read again cannot be forwarded: the refusal stands.
            let Ok(collected) = body.collect().await else {
                return Ok(Verdict::Respond(refusal));
            };
            let (parts, ()) = head.into_parts();
            let mut forwarded = Request::from_parts(parts, collected.to_bytes());
            forwarded
                .extensions_mut()
                .insert(ShadowRefusal::new(refusal));
            Ok(Verdict::Forward(forwarded))
        })
    }
}

#[cfg(test)]
mod tests;
