//! [`ReplayGuardLayer`]: applies a [`ReplayPolicy`] to a service.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::policy::{OnDuplicate, OnMissingId, OnStoreError, ReplayPolicy};
use super::service::ReplayGuard;
use super::store::ReplayStore;
use crate::clock::Clock;
use crate::verify::Scheme;

/// Refuses deliveries the app already accepted. Place it after
/// [`VerifySignatureLayer`](crate::verify::VerifySignatureLayer): it reads the
/// [`Verified`](crate::verify::Verified) extension that layer leaves.
#[derive(Debug, Clone)]
pub struct ReplayGuardLayer {
    policy: Arc<ReplayPolicy>,
}

impl ReplayGuardLayer {
    /// A guard for `route` keeping its records in `store`, with the defaults of
    /// [`ReplayPolicy`].
    pub fn new(route: impl Into<Arc<str>>, store: impl ReplayStore) -> Self {
        Self::from_policy(ReplayPolicy::new(route, store))
    }

    /// A layer around a configured [`ReplayPolicy`].
    pub fn from_policy(policy: ReplayPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }

    /// See [`ReplayPolicy::window`].
    pub fn window(self, window: Duration) -> Self {
        self.map(|p| p.window(window))
    }

    /// See [`ReplayPolicy::tolerance`].
    pub fn tolerance(self, tolerance: Option<u64>) -> Self {
        self.map(|p| p.tolerance(tolerance))
    }

    /// See [`ReplayPolicy::for_scheme`].
    pub fn for_scheme(self, scheme: &dyn Scheme) -> Self {
        self.map(|p| p.for_scheme(scheme))
    }

    /// See [`ReplayPolicy::lease`].
    pub fn lease(self, lease: Duration) -> Self {
        self.map(|p| p.lease(lease))
    }

    /// See [`ReplayPolicy::on_duplicate`].
    pub fn on_duplicate(self, answer: OnDuplicate) -> Self {
        self.map(|p| p.on_duplicate(answer))
    }

    /// See [`ReplayPolicy::on_missing_id`].
    pub fn on_missing_id(self, action: OnMissingId) -> Self {
        self.map(|p| p.on_missing_id(action))
    }

    /// See [`ReplayPolicy::on_store_error`].
    pub fn on_store_error(self, action: OnStoreError) -> Self {
        self.map(|p| p.on_store_error(action))
    }

    /// Replaces the clock (tests).
    pub fn clock(self, clock: impl Clock) -> Self {
        self.map(|p| p.clock(clock))
    }

    /// The policy.
    pub fn policy(&self) -> &ReplayPolicy {
        &self.policy
    }

    fn map(self, f: impl FnOnce(ReplayPolicy) -> ReplayPolicy) -> Self {
        let policy = Arc::try_unwrap(self.policy).unwrap_or_else(|_| {
            panic!("ReplayGuardLayer options must be set before the layer is cloned")
        });
        Self::from_policy(f(policy))
    }
}

impl<S> Layer<S> for ReplayGuardLayer {
    type Service = ReplayGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReplayGuard::new(inner, Arc::clone(&self.policy))
    }
}
