//! [`SettleDelivery`]: how the guard learns whether the app accepted a delivery, for any
//! inner response type.

use http::Response;

use super::policy::PendingDelivery;
use crate::reject::Verdict;

/// What the inner service's answer means for a reserved delivery id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The app accepted it (2xx): commit.
    Accepted,
    /// The app did not accept it (any other status): release, so the retry passes.
    NotAccepted,
    /// The answer is not known yet: the reservation travels on with the response and
    /// whoever forwards it settles it (the sidecar's [`Verdict::Forward`]).
    HandedOn,
}

/// Implemented by the inner service's response type so the replay guard can settle a
/// reservation. The companion of [`FromRejection`](crate::reject::FromRejection), which
/// builds the duplicate answer.
pub trait SettleDelivery {
    /// Classifies this response; may keep a clone of `pending` to settle it later.
    fn settle(&mut self, pending: &PendingDelivery) -> Settlement;
}

impl<B> SettleDelivery for Response<B> {
    fn settle(&mut self, _: &PendingDelivery) -> Settlement {
        if self.status().is_success() {
            Settlement::Accepted
        } else {
            Settlement::NotAccepted
        }
    }
}

impl SettleDelivery for Verdict {
    fn settle(&mut self, pending: &PendingDelivery) -> Settlement {
        match self {
            Verdict::Respond(response) => response.settle(pending),
            Verdict::Forward(request) => {
                // The upstream has not answered yet: the sidecar takes the reservation
                // from the request and commits or releases it after forwarding.
                request.extensions_mut().insert(pending.clone());
                Settlement::HandedOn
            }
        }
    }
}
