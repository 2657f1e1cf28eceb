//! `shopify`: `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the raw body keyed with the
//! app's client secret; delivery id from `X-Shopify-Webhook-Id`. No signed timestamp.

use http::HeaderName;

use super::hmac::{DeliveryId, HmacScheme};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `shopify` scheme.
pub fn shopify() -> HmacScheme {
    HmacScheme::new(
        "shopify",
        HeaderName::from_static("x-shopify-hmac-sha256"),
        MacAlgorithm::Sha256,
        Encoding::Base64,
    )
    .delivery_id(DeliveryId::Header(HeaderName::from_static(
        "x-shopify-webhook-id",
    )))
}
