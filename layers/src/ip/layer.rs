//! [`IpFilterLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use super::{ClientAddr, IpFilter, IpPolicy, PeerFromExtensions};

/// Applies an [`IpPolicy`] before the inner service sees the request.
#[derive(Clone)]
pub struct IpFilterLayer {
    policy: Arc<IpPolicy>,
    client_addr: Arc<dyn ClientAddr>,
}

impl IpFilterLayer {
    /// A layer enforcing `policy`, reading the peer with [`PeerFromExtensions`].
    pub fn new(policy: IpPolicy) -> Self {
        Self::from_arc(Arc::new(policy))
    }

    /// A layer enforcing a shared policy.
    pub fn from_arc(policy: Arc<IpPolicy>) -> Self {
        Self {
            policy,
            client_addr: Arc::new(PeerFromExtensions),
        }
    }

    /// Reads the peer address with `client_addr` (e.g. from axum's `ConnectInfo`).
    pub fn client_addr(mut self, client_addr: impl ClientAddr) -> Self {
        self.client_addr = Arc::new(client_addr);
        self
    }
}

impl std::fmt::Debug for IpFilterLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpFilterLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for IpFilterLayer {
    type Service = IpFilter<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IpFilter::new(inner, self.policy.clone(), self.client_addr.clone())
    }
}
