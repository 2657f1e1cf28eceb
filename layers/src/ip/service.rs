//! [`IpFilter`], the service built by [`IpFilterLayer`](super::IpFilterLayer).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

use super::future::ResponseFuture;
use super::peer::peer_unknown;
use super::{ClientAddr, ClientIp, IpFilterLayer, IpPolicy};
use crate::reject::FromRejection;

/// Refuses requests from addresses the [`IpPolicy`] does not admit (403), and hands the
/// admitted ones to the inner service with a [`ClientIp`] extension. It reads headers and
/// extensions only — never the body — so it works for any body type and costs nothing
/// when it refuses.
#[derive(Clone)]
pub struct IpFilter<S> {
    inner: S,
    policy: Arc<IpPolicy>,
    client_addr: Arc<dyn ClientAddr>,
}

impl<S> IpFilter<S> {
    pub(super) fn new(inner: S, policy: Arc<IpPolicy>, client_addr: Arc<dyn ClientAddr>) -> Self {
        Self {
            inner,
            policy,
            client_addr,
        }
    }

    /// Shortcut for [`IpFilterLayer::new`].
    pub fn layer(policy: IpPolicy) -> IpFilterLayer {
        IpFilterLayer::new(policy)
    }

    /// The policy this filter enforces.
    pub fn policy(&self) -> &IpPolicy {
        &self.policy
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for IpFilter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpFilter")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for IpFilter<S>
where
    S: Service<Request<B>>,
    S::Response: FromRejection,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let decision = match self.client_addr.peer_ip(request.extensions()) {
            // No peer address: fail closed (see `ClientAddr`).
            None => Err(peer_unknown()),
            Some(peer) => self.policy.check(peer, request.headers()),
        };
        match decision {
            Ok(client) => {
                request.extensions_mut().insert(ClientIp(client));
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(rejection) => ResponseFuture::reject(S::Response::from_rejection(rejection)),
        }
    }
}
