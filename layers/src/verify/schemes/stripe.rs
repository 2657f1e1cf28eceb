//! `stripe`: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`, HMAC-SHA256 over
//! `{t}.{body}` keyed with the endpoint secret used as-is (`whsec_` included), tolerance
//! 300 s — as stripe-node's `constructEvent`. Several `v1` are allowed (Stripe sends one per
//! active secret during a roll); `v0` and unknown schemes are ignored. Delivery id: the
//! event's `id` from the body.

use http::HeaderName;

use crate::verify::error::{SecretError, SignError, VerifyError};
use crate::verify::json::top_level_string;
use crate::verify::mac::MacAlgorithm;
use crate::verify::scheme::{
    single_header, verify_timestamped_hex_list, Scheme, SignOptions, SignOutput, Verified,
    VerifyContext, WebhookRequest,
};
use crate::verify::secret::{secret_error, Key, Keyring};

const HEADER: HeaderName = HeaderName::from_static("stripe-signature");
const EXPECTED: &str = "t=<unix seconds>,v1=<hex>";

/// The `stripe` scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stripe;

/// A parsed `Stripe-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeHeader<'a> {
    /// The `t=` value, as sent (it is signed as text).
    pub timestamp: &'a str,
    /// Every `v1=` value.
    pub v1: Vec<&'a str>,
}

/// Parses a `Stripe-Signature` value. Exactly one `t`, at least one `v1`; other keys ignored.
pub fn parse_header(value: &str) -> Option<StripeHeader<'_>> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let (key, val) = item.trim().split_once('=')?;
        match key {
            "t" if timestamp.is_none() => timestamp = Some(val),
            "t" => return None,
            "v1" => v1.push(val),
            _ => {}
        }
    }
    let timestamp = timestamp
        .filter(|t| !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()))?;
    (!v1.is_empty()).then_some(StripeHeader { timestamp, v1 })
}

impl Scheme for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn default_tolerance(&self) -> Option<u64> {
        Some(300)
    }

    fn delivery_id_source(&self) -> crate::verify::scheme::DeliveryIdSource {
        // The event's `id`, in the signed body.
        crate::verify::scheme::DeliveryIdSource::signed(Vec::new())
    }

    fn parse_key(&self, secret: &str) -> Result<Key, SecretError> {
        if secret.is_empty() {
            return Err(secret_error(
                "empty",
                "the endpoint's signing secret, whsec_…",
            ));
        }
        // stripe-node keys the HMAC with the whole string, prefix included.
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
            &parsed.v1,
            b".",
            request.body,
            malformed,
        )?;
        Ok(Verified {
            scheme: "stripe",
            secret_index,
            secret_id: secret_id.clone(),
            delivery_id: top_level_string(request.body, "id"),
            timestamp: Some(timestamp),
        })
    }

    fn sign(
        &self,
        request: &WebhookRequest<'_>,
        key: &Key,
        options: &SignOptions,
    ) -> Result<SignOutput, SignError> {
        let Key::Mac(mac) = key else {
            return Err(SignError::KeyCannotSign {
                expected: "whsec_…",
            });
        };
        let t = options.timestamp.to_string();
        let sig = mac.compute(&[t.as_bytes(), b".", request.body]).to_hex();
        Ok(SignOutput::headers(vec![(
            HEADER,
            format!("t={t},v1={sig}"),
        )]))
    }
}

#[cfg(test)]
mod tests;
