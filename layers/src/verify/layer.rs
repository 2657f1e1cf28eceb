//! `VerifySignatureLayer`: the tower layer around [`Verifier`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, Request, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_layer::Layer;
use tower_service::Service;

use super::{KeySource, Scheme, Verifier};
use crate::clock::Clock;
use crate::reject::{FromRejection, Reason, Rejection};

/// Default body limit: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// Verifies webhook signatures before the inner service sees the request.
#[derive(Debug, Clone)]
pub struct VerifySignatureLayer {
    verifier: Arc<Verifier>,
    max_body: usize,
}

impl VerifySignatureLayer {
    /// A layer for `scheme` with `keys`, the scheme's tolerance and a 1 MiB body limit.
    pub fn new(scheme: Arc<dyn Scheme>, keys: impl KeySource) -> Self {
        Self::from_verifier(Verifier::new(scheme, keys))
    }

    /// A layer around a configured [`Verifier`].
    pub fn from_verifier(verifier: Verifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Largest body accepted, in bytes; larger ones get 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Overrides the tolerance in seconds (`None` disables the timestamp check).
    pub fn tolerance(self, tolerance: Option<u64>) -> Self {
        self.map_verifier(|v| v.tolerance(tolerance))
    }

    /// Replaces the clock (tests).
    pub fn clock(self, clock: impl Clock) -> Self {
        self.map_verifier(|v| v.clock(clock))
    }

    fn map_verifier(self, f: impl FnOnce(Verifier) -> Verifier) -> Self {
        let verifier = Arc::try_unwrap(self.verifier).unwrap_or_else(|_| {
            panic!("VerifySignatureLayer options must be set before the layer is cloned")
        });
        Self {
            verifier: Arc::new(f(verifier)),
            max_body: self.max_body,
        }
    }
}

impl<S> Layer<S> for VerifySignatureLayer {
    type Service = VerifySignature<S>;
    fn layer(&self, inner: S) -> Self::Service {
        VerifySignature {
            inner,
            verifier: Arc::clone(&self.verifier),
            max_body: self.max_body,
        }
    }
}

/// The service built by [`VerifySignatureLayer`].
#[derive(Debug, Clone)]
pub struct VerifySignature<S> {
    inner: S,
    verifier: Arc<Verifier>,
    max_body: usize,
}

impl<S> VerifySignature<S> {
    /// Shortcut for `VerifySignatureLayer::new(..)`.
    pub fn layer(scheme: Arc<dyn Scheme>, keys: impl KeySource) -> VerifySignatureLayer {
        VerifySignatureLayer::new(scheme, keys)
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for VerifySignature<S>
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
        let verifier = Arc::clone(&self.verifier);
        let max_body = self.max_body;
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let reject = |r: Rejection| Ok(S::Response::from_rejection(r));
            // Checked before the body is read: refusing here costs nothing.
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max_body as u64) {
                return reject(too_large(max_body));
            }
            let bytes = match collect_body(body, max_body).await {
                Ok(bytes) => bytes,
                Err(rejection) => return reject(rejection),
            };
            match verifier.verify(&parts.method, &parts.uri, &parts.headers, &bytes) {
                Ok(verified) => {
                    parts.extensions.insert(verified);
                }
                Err(e) => return reject(e.into()),
            }
            inner.call(Request::from_parts(parts, B::from(bytes))).await
        })
    }
}

/// Reads a whole body of at most `max_body` bytes: 413 beyond it, 400 when it fails. Shared
/// by every layer that reads the body.
pub(crate) async fn collect_body<B>(body: B, max_body: usize) -> Result<Bytes, Rejection>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, max_body).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large(max_body)),
        Err(_) => Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            Reason::BodyReadFailed,
            "could not read the request body",
        )),
    }
}

fn too_large(max_body: usize) -> Rejection {
    Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Reason::BodyTooLarge,
        format!("body larger than the route's limit of {max_body} bytes"),
    )
}

#[cfg(test)]
mod tests;
