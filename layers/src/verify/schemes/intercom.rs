//! `intercom`: Intercom's `X-Hub-Signature: sha1=<hex>`, HMAC-SHA1 of the raw body keyed
//! with the app's client secret; delivery id from the notification's `id` in the body.
//! No signed timestamp.

use http::HeaderName;

use super::hmac::{DeliveryId, HmacScheme};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `intercom` scheme.
pub fn intercom() -> HmacScheme {
    HmacScheme::new(
        "intercom",
        HeaderName::from_static("x-hub-signature"),
        MacAlgorithm::Sha1,
        Encoding::Hex,
    )
    .prefix("sha1=")
    .delivery_id(DeliveryId::BodyField("id"))
}
