//! [`PayloadRulesLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use super::{PayloadPolicy, PayloadRules};
use crate::clock::{Clock, SystemClock};
use crate::verify::DEFAULT_MAX_BODY;

/// Applies a route's [`PayloadPolicy`]. Place it after
/// [`ReplayGuardLayer`](crate::replay::ReplayGuardLayer) (or after
/// [`VerifySignatureLayer`](crate::verify::VerifySignatureLayer) without a guard): rules
/// judge verified payloads only, and a filtered delivery's 200 lets the guard remember its
/// id, so the provider's resend is a duplicate.
#[derive(Clone)]
pub struct PayloadRulesLayer {
    pub(super) route: Arc<str>,
    pub(super) policy: Arc<PayloadPolicy>,
    pub(super) max_body: usize,
    pub(super) clock: Arc<dyn Clock>,
}

impl PayloadRulesLayer {
    /// The rules of `route` (its id fills `{{ route }}`), reading bodies up to 1 MiB.
    pub fn new(route: impl Into<Arc<str>>, policy: PayloadPolicy) -> Self {
        Self {
            route: route.into(),
            policy: Arc::new(policy),
            max_body: DEFAULT_MAX_BODY,
            clock: Arc::new(SystemClock),
        }
    }

    /// Largest body read, in bytes; larger ones get 413 (as the verification layer).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Replaces the clock that fills `{{ received_at }}` (tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &PayloadPolicy {
        &self.policy
    }
}

impl std::fmt::Debug for PayloadRulesLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadRulesLayer")
            .field("route", &self.route)
            .field("policy", &self.policy)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for PayloadRulesLayer {
    type Service = PayloadRules<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PayloadRules::new(inner, self.clone())
    }
}
