//! `zoom`: `x-zm-signature: v0=<hex>`, HMAC-SHA256 over `v0:{timestamp}:{body}` with
//! `x-zm-request-timestamp` (Unix seconds), keyed with the app's secret token. Zoom
//! publishes no window; hookguard uses 300 s (configurable per route).

use http::HeaderName;

use super::hmac::{HmacScheme, TimestampFormat};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `zoom` scheme.
pub fn zoom() -> HmacScheme {
    HmacScheme::new(
        "zoom",
        HeaderName::from_static("x-zm-signature"),
        MacAlgorithm::Sha256,
        Encoding::Hex,
    )
    .prefix("v0=")
    .timestamp_header(
        HeaderName::from_static("x-zm-request-timestamp"),
        TimestampFormat::UnixSeconds,
    )
    .template("v0:{timestamp}:{body}")
    .expect("static template is valid")
    .tolerance(Some(300))
}
