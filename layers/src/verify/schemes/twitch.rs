//! `twitch`: EventSub's `Twitch-Eventsub-Message-Signature: sha256=<hex>`, HMAC-SHA256 over
//! message id + timestamp (RFC 3339, signed as sent) + raw body. Twitch asks to refuse
//! messages older than 10 minutes (600 s). Delivery id: `Twitch-Eventsub-Message-Id`.

use http::HeaderName;

use super::hmac::{HmacScheme, TimestampFormat};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `twitch` scheme.
pub fn twitch() -> HmacScheme {
    HmacScheme::new(
        "twitch",
        HeaderName::from_static("twitch-eventsub-message-signature"),
        MacAlgorithm::Sha256,
        Encoding::Hex,
    )
    .prefix("sha256=")
    .timestamp_header(
        HeaderName::from_static("twitch-eventsub-message-timestamp"),
        TimestampFormat::Rfc3339,
    )
    .id_header(HeaderName::from_static("twitch-eventsub-message-id"))
    .template("{id}{timestamp}{body}")
    .expect("static template is valid")
    .tolerance(Some(600))
}
