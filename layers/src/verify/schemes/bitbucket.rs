//! `bitbucket`: Bitbucket Cloud's `X-Hub-Signature: sha256=<hex>`, HMAC-SHA256 over the raw
//! body; delivery id from `X-Request-UUID`. No signed timestamp.

use http::HeaderName;

use super::hmac::{DeliveryId, HmacScheme};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `bitbucket` scheme.
pub fn bitbucket() -> HmacScheme {
    HmacScheme::new(
        "bitbucket",
        HeaderName::from_static("x-hub-signature"),
        MacAlgorithm::Sha256,
        Encoding::Hex,
    )
    .prefix("sha256=")
    .delivery_id(DeliveryId::Header(HeaderName::from_static(
        "x-request-uuid",
    )))
}
