//! `paddle`: Paddle Billing's `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`,
//! HMAC-SHA256 over `{ts}:{body}` keyed with the notification destination's secret key used
//! as-is (`pdl_ntfset_…` included). Several `h1` may be sent (one per active secret while a
//! secret is rotated); unknown keys such as a future `h2` are ignored, as paddle-node-sdk
//! does. Tolerance 5 s: the default of both official SDKs (paddle-node-sdk
//! `WebhooksValidator.MAX_VALID_TIME_DIFFERENCE = 5`, paddle-python-sdk
//! `Verifier(maximum_variance=5)`). Delivery id: the body's `notification_id`.

use http::HeaderName;

use crate::verify::error::{SecretError, SignError, VerifyError};
use crate::verify::json::top_level_string;
use crate::verify::mac::MacAlgorithm;
use crate::verify::scheme::{
    single_header, verify_timestamped_hex_list, Scheme, SignOptions, SignOutput, Verified,
    VerifyContext, WebhookRequest,
};
use crate::verify::secret::{secret_error, Key, Keyring};

const HEADER: HeaderName = HeaderName::from_static("paddle-signature");
const EXPECTED: &str = "ts=<unix seconds>;h1=<hex HMAC-SHA256>";

/// The SDKs' default tolerance, in seconds.
pub const DEFAULT_TOLERANCE: u64 = 5;

/// The `paddle` scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paddle;

/// A parsed `Paddle-Signature` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaddleHeader<'a> {
    /// The `ts=` value, as sent (it is signed as text).
    pub timestamp: &'a str,
    /// Every `h1=` value.
    pub h1: Vec<&'a str>,
}

/// Parses a `Paddle-Signature` value: exactly one `ts` of digits, at least one `h1`; other
/// keys are ignored. An item without `=` or an empty item makes the whole value malformed.
pub fn parse_header(value: &str) -> Option<PaddleHeader<'_>> {
    let mut timestamp = None;
    let mut h1 = Vec::new();
    for item in value.split(';') {
        let (key, val) = item.trim().split_once('=')?;
        match key.trim() {
            "ts" if timestamp.is_none() => timestamp = Some(val.trim()),
            // Two timestamps: which one was signed is ambiguous.
            "ts" => return None,
            "h1" => h1.push(val.trim()),
            _ => {}
        }
    }
    let timestamp = timestamp
        .filter(|t| !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()))?;
    (!h1.is_empty()).then_some(PaddleHeader { timestamp, h1 })
}

impl Scheme for Paddle {
    fn name(&self) -> &'static str {
        "paddle"
    }

    fn default_tolerance(&self) -> Option<u64> {
        Some(DEFAULT_TOLERANCE)
    }

    fn delivery_id_source(&self) -> crate::verify::scheme::DeliveryIdSource {
        // `notification_id` in the signed body. Every notification has one.
        crate::verify::scheme::DeliveryIdSource::signed(Vec::new())
    }

    fn parse_key(&self, secret: &str) -> Result<Key, SecretError> {
        if secret.is_empty() {
            return Err(secret_error(
                "empty",
                "the notification destination's secret key, pdl_ntfset_…",
            ));
        }
        Ok(Key::mac(MacAlgorithm::Sha256, secret.as_bytes()))
    }

    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        keys: &Keyring,
        ctx: &VerifyContext,
    ) -> Result<Verified, VerifyError> {
        let value = single_header(request.headers, &HEADER)?;
        let malformed = || VerifyError::MalformedHeader {
            header: HEADER,
            expected: EXPECTED,
        };
        let parsed = parse_header(value).ok_or_else(malformed)?;
        let (secret_index, secret_id, timestamp) = verify_timestamped_hex_list(
            keys,
            ctx,
            parsed.timestamp,
            &parsed.h1,
            b":",
            request.body,
            malformed,
        )?;
        Ok(Verified {
            scheme: "paddle",
            secret_index,
            secret_id: secret_id.clone(),
            delivery_id: top_level_string(request.body, "notification_id"),
            timestamp: Some(timestamp),
        })
    }

    fn sign(
        &self,
        request: &WebhookRequest<'_>,
        key: &Key,
        options: &SignOptions,
    ) -> Result<SignOutput, SignError> {
        let mac = match key {
            Key::Mac(mac) if mac.algorithm() == MacAlgorithm::Sha256 => mac,
            _ => {
                return Err(SignError::KeyCannotSign {
                    expected: "the notification destination's secret key",
                })
            }
        };
        let ts = options.timestamp.to_string();
        let h1 = mac.compute(&[ts.as_bytes(), b":", request.body]).to_hex();
        Ok(SignOutput::headers(vec![(
            HEADER,
            format!("ts={ts};h1={h1}"),
        )]))
    }
}

#[cfg(test)]
mod tests;
