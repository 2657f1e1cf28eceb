//! `linear`: `Linear-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the webhook's
//! signing secret.
//!
//! Timestamp: Linear puts `webhookTimestamp` (Unix milliseconds) at the top level of the
//! body, so it is covered by the signature, and the `@linear/sdk` `LinearWebhookClient.verify`
//! refuses a delivery more than one minute off: tolerance 60 s, checked in whole seconds.
//! Linear also sends a `Linear-Timestamp` header (milliseconds), which is *not* signed: it
//! is read only when the body has no `webhookTimestamp`, and then only keeps stale
//! deliveries out; it cannot stop a deliberate replay (the replay guard, keyed on the
//! delivery id, does that). With a tolerance set and neither present, the request is
//! refused.
//!
//! Delivery id: the `Linear-Delivery` header.
//!
//! ```
//! use hookguard_layers::verify::schemes::linear::Linear;
//! use hookguard_layers::verify::{Keyring, Scheme, SignOptions, VerifyContext, WebhookRequest};
//!
//! let keys = Keyring::from_secrets(&Linear, ["lin_wh_secret"]).unwrap();
//! let body = br#"{"action":"create","type":"Issue","webhookTimestamp":1700000000000}"#;
//! let mut request = WebhookRequest { method: &http::Method::POST, url: None, headers: &http::HeaderMap::new(), body };
//! let signed = Linear.sign(&request, &keys.entries()[0].key, &SignOptions { timestamp: 1_700_000_000, id: None }).unwrap();
//! let headers: http::HeaderMap = signed.headers.into_iter().map(|(n, v)| (n, v.parse().unwrap())).collect();
//! request.headers = &headers;
//! // 61 s later is past Linear's one-minute window.
//! assert!(Linear.verify(&request, &keys, &VerifyContext::new(&Linear, 1_700_000_060)).is_ok());
//! assert!(Linear.verify(&request, &keys, &VerifyContext::new(&Linear, 1_700_000_061)).is_err());
//! ```

use http::HeaderName;
use serde_json::Value;

use super::hmac::default_delivery_id;
use crate::verify::error::{SecretError, SignError, VerifyError};
use crate::verify::json::top_level_field;
use crate::verify::mac::{MacAlgorithm, MacOutput};
use crate::verify::scheme::{
    match_mac, optional_header, single_header, Scheme, SignOptions, SignOutput, Verified,
    VerifyContext, WebhookRequest,
};
use crate::verify::secret::{secret_error, Key, Keyring};

const SIGNATURE: HeaderName = HeaderName::from_static("linear-signature");
const TIMESTAMP: HeaderName = HeaderName::from_static("linear-timestamp");
const DELIVERY: HeaderName = HeaderName::from_static("linear-delivery");
/// The body field carrying the signed timestamp (`LINEAR_WEBHOOK_TS_FIELD` in the SDK).
const BODY_TIMESTAMP: &str = "webhookTimestamp";

/// The `linear` scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Linear;

/// Milliseconds to whole seconds (the window is checked in seconds).
fn millis_to_seconds(millis: u64) -> i64 {
    // u64::MAX / 1000 fits in an i64.
    (millis / 1000) as i64
}

/// The timestamp in seconds: the signed body field first, then the unsigned header.
fn timestamp_of(request: &WebhookRequest<'_>) -> Result<Option<i64>, VerifyError> {
    match top_level_field(request.body, BODY_TIMESTAMP) {
        Some(Value::Number(n)) => {
            return n.as_u64().map(|ms| Some(millis_to_seconds(ms))).ok_or(
                VerifyError::MalformedBody {
                    expected: "webhookTimestamp as Unix milliseconds (a non-negative integer)",
                },
            )
        }
        Some(_) => {
            return Err(VerifyError::MalformedBody {
                expected: "webhookTimestamp as Unix milliseconds (a non-negative integer)",
            })
        }
        None => {}
    }
    let Some(text) = optional_header(request.headers, &TIMESTAMP)? else {
        return Ok(None);
    };
    if text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::MalformedHeader {
            header: TIMESTAMP,
            expected: "a Unix timestamp in milliseconds",
        });
    }
    let millis = text.parse().map_err(|_| VerifyError::MalformedHeader {
        header: TIMESTAMP,
        expected: "a Unix timestamp in milliseconds",
    })?;
    Ok(Some(millis_to_seconds(millis)))
}

impl Scheme for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn default_tolerance(&self) -> Option<u64> {
        Some(60)
    }

    fn delivery_id_source(&self) -> crate::verify::scheme::DeliveryIdSource {
        // `Linear-Delivery`: Linear signs the body only.
        crate::verify::scheme::DeliveryIdSource::unsigned_header(DELIVERY)
    }

    fn parse_key(&self, secret: &str) -> Result<Key, SecretError> {
        if secret.is_empty() {
            return Err(secret_error("empty", "the webhook's signing secret"));
        }
        Ok(Key::mac(MacAlgorithm::Sha256, secret.as_bytes()))
    }

    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        keys: &Keyring,
        ctx: &VerifyContext,
    ) -> Result<Verified, VerifyError> {
        let value = single_header(request.headers, &SIGNATURE)?;
        let mut presented = [0u8; 32];
        hex::decode_to_slice(value, &mut presented).map_err(|_| VerifyError::MalformedHeader {
            header: SIGNATURE,
            expected: "a hex HMAC-SHA256 of the body (64 hex digits)",
        })?;
        // An unusable delivery id header (repeated, not ASCII) is refused, not ignored: the
        // replay guard keys on it.
        let delivery_id = optional_header(request.headers, &DELIVERY)?.map(str::to_owned);
        let timestamp = timestamp_of(request)?;

        let (secret_index, secret_id) = match_mac(keys, &[&presented], |key| match key {
            Key::Mac(k) if k.algorithm() == MacAlgorithm::Sha256 => {
                Some(k.compute(&[request.body]))
            }
            _ => None,
        })?;
        // Checked after the MAC: an attacker learns nothing about the clock.
        match timestamp {
            Some(seconds) => ctx.check_timestamp(seconds)?,
            None if ctx.tolerance.is_some() => return Err(VerifyError::MalformedBody {
                expected:
                    "a top-level webhookTimestamp (Unix milliseconds), or a Linear-Timestamp header",
            }),
            None => {}
        }
        Ok(Verified {
            scheme: "linear",
            secret_index,
            secret_id: secret_id.clone(),
            delivery_id,
            timestamp,
        })
    }

    /// Signs the body as given (it is not rewritten: put `webhookTimestamp` in it to exercise
    /// the signed timestamp) and sends `Linear-Timestamp` and `Linear-Delivery` like Linear.
    fn sign(
        &self,
        request: &WebhookRequest<'_>,
        key: &Key,
        options: &SignOptions,
    ) -> Result<SignOutput, SignError> {
        let Key::Mac(mac) = key else {
            return Err(SignError::KeyCannotSign {
                expected: "the webhook's signing secret",
            });
        };
        let signature: MacOutput = mac.compute(&[request.body]);
        let id = options
            .id
            .clone()
            .unwrap_or_else(|| default_delivery_id(request.body, options.timestamp));
        Ok(SignOutput::headers(vec![
            (SIGNATURE, signature.to_hex()),
            (
                TIMESTAMP,
                options.timestamp.saturating_mul(1000).to_string(),
            ),
            (DELIVERY, id),
        ]))
    }
}

#[cfg(test)]
mod tests;
