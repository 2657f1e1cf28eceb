//! `square`: `x-square-hmacsha256-signature: <base64>`, HMAC-SHA256 over the notification
//! URL (exactly as configured in Square) followed by the raw body, keyed with the
//! subscription's signature key. Delivery id: the body's `event_id`. No signed timestamp.

use http::HeaderName;

use super::hmac::{DeliveryId, HmacScheme};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `square` scheme.
pub fn square() -> HmacScheme {
    HmacScheme::new(
        "square",
        HeaderName::from_static("x-square-hmacsha256-signature"),
        MacAlgorithm::Sha256,
        Encoding::Base64,
    )
    .template("{url}{body}")
    .expect("static template is valid")
    .delivery_id(DeliveryId::BodyField("event_id"))
}
