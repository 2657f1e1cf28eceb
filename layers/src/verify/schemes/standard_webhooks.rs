//! `standard-webhooks`: the Standard Webhooks specification (also Svix's `svix-` headers).
//!
//! Headers `webhook-id`, `webhook-timestamp` (Unix seconds), `webhook-signature` — or the
//! same with the `svix-` prefix. Signed content `{id}.{timestamp}.{body}`. The signature
//! header is a space-separated list of `<version>,<base64>`: `v1` is HMAC-SHA256 keyed with
//! the base64-decoded secret (`whsec_<base64>` or bare base64, `=` padding optional), `v1a`
//! is Ed25519 checked with a `whpk_<base64>` public key (signed with a `whsk_<base64>`
//! private key). Unknown versions are skipped. Tolerance 300 s, as the reference libraries.
//!
//! `v1a` needs the `ed25519` feature: without it, `whpk_`/`whsk_` keys are refused when
//! parsed (so a route cannot be configured to expect what this build cannot check) and
//! `v1a` signatures match no key.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
#[cfg(feature = "ed25519")]
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use http::HeaderName;

use crate::verify::error::{SecretError, SignError, VerifyError};
use crate::verify::mac::{Encoding, MacAlgorithm};
use crate::verify::scheme::{
    match_mac, optional_header, parse_unix_seconds, single_header, Scheme, SignOptions, SignOutput,
    Verified, VerifyContext, WebhookRequest,
};
use crate::verify::secret::{secret_error, Key, Keyring};

struct Names {
    id: HeaderName,
    timestamp: HeaderName,
    signature: HeaderName,
}

const WEBHOOK: Names = Names {
    id: HeaderName::from_static("webhook-id"),
    timestamp: HeaderName::from_static("webhook-timestamp"),
    signature: HeaderName::from_static("webhook-signature"),
};
const SVIX: Names = Names {
    id: HeaderName::from_static("svix-id"),
    timestamp: HeaderName::from_static("svix-timestamp"),
    signature: HeaderName::from_static("svix-signature"),
};

const SECRET_FORMAT: &str = "whsec_<base64> (or bare base64) for v1, whpk_<base64> for v1a";

/// The `standard-webhooks` scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardWebhooks;

/// One entry of a `webhook-signature` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureEntry<'a> {
    /// `v1`, `v1a`, or an unknown version.
    pub version: &'a str,
    /// The base64 signature.
    pub signature: &'a str,
}

/// Parses a `webhook-signature` value: space-separated `<version>,<signature>` entries.
/// Entries without a comma are skipped, as the reference libraries (JS, Go, Rust) do, so
/// one odd entry cannot make a genuine delivery fail; `None` when no entry is left.
pub fn parse_signature_list(value: &str) -> Option<Vec<SignatureEntry<'_>>> {
    let entries: Vec<_> = value
        .split(' ')
        .filter_map(|item| item.split_once(','))
        .map(|(version, signature)| SignatureEntry { version, signature })
        .collect();
    (!entries.is_empty()).then_some(entries)
}

/// Whether `key` is an Ed25519 key that made one of `signatures` over `message`.
#[cfg_attr(not(feature = "ed25519"), allow(unused_variables))]
fn ed25519_verifies(key: &Key, message: &[u8], signatures: &[[u8; 64]]) -> bool {
    #[cfg(feature = "ed25519")]
    if let Some(public) = key.ed25519_public() {
        return signatures
            .iter()
            .any(|sig| public.verify(message, &Signature::from_bytes(sig)).is_ok());
    }
    false
}

#[cfg(feature = "ed25519")]
fn ed25519_public_key(encoded: &str) -> Result<Key, SecretError> {
    let bytes: [u8; 32] = decode_b64(encoded, "whpk_ key is not base64")?
        .try_into()
        .map_err(|_| {
            secret_error(
                "whpk_ key is not 32 bytes",
                "whpk_<base64 of a 32-byte Ed25519 public key>",
            )
        })?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
        secret_error(
            "whpk_ key is not an Ed25519 point",
            "a valid Ed25519 public key",
        )
    })?;
    Ok(Key::Ed25519Public(key))
}

#[cfg(feature = "ed25519")]
fn ed25519_signing_key(encoded: &str) -> Result<Key, SecretError> {
    let bytes = zeroize::Zeroizing::new(decode_b64(encoded, "whsk_ key is not base64")?);
    // The reference libraries write the 32-byte seed, some tools the 64-byte keypair.
    let seed: [u8; 32] = bytes
        .get(..32)
        .filter(|_| bytes.len() == 32 || bytes.len() == 64)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            secret_error(
                "whsk_ key is not 32 or 64 bytes",
                "whsk_<base64 of an Ed25519 seed>",
            )
        })?;
    Ok(Key::Ed25519Private(Box::new(SigningKey::from_bytes(&seed))))
}

// Without the feature, a route cannot be configured to expect what this build cannot check.
#[cfg(not(feature = "ed25519"))]
fn ed25519_public_key(_: &str) -> Result<Key, SecretError> {
    Err(without_ed25519())
}

#[cfg(not(feature = "ed25519"))]
fn ed25519_signing_key(_: &str) -> Result<Key, SecretError> {
    Err(without_ed25519())
}

#[cfg(not(feature = "ed25519"))]
fn without_ed25519() -> SecretError {
    secret_error(
        "whpk_ and whsk_ keys (v1a) need the `ed25519` feature of hookguard-layers",
        "whsec_<base64> (or bare base64) for v1",
    )
}

/// Secrets and keys are standard base64 with or without their `=` padding: dashboards and
/// users drop it, and the Python, PHP and Ruby reference libraries accept it either way.
/// Wrong padding (too many `=`) is still refused.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn decode_b64(text: &str, problem: &'static str) -> Result<Vec<u8>, SecretError> {
    SECRET_BASE64
        .decode(text)
        .map_err(|_| secret_error(problem, SECRET_FORMAT))
}

impl Scheme for StandardWebhooks {
    fn name(&self) -> &'static str {
        "standard-webhooks"
    }

    fn default_tolerance(&self) -> Option<u64> {
        Some(300)
    }

    fn delivery_id_source(&self) -> crate::verify::scheme::DeliveryIdSource {
        // `webhook-id` (or `svix-id`) is part of the signed content.
        crate::verify::scheme::DeliveryIdSource::signed(vec![WEBHOOK.id, SVIX.id])
    }

    fn parse_key(&self, secret: &str) -> Result<Key, SecretError> {
        if let Some(public) = secret.strip_prefix("whpk_") {
            return ed25519_public_key(public);
        }
        if secret.starts_with("whsk_") {
            return self.parse_signing_key(secret);
        }
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let bytes = zeroize::Zeroizing::new(decode_b64(encoded, "not base64 after whsec_")?);
        if bytes.is_empty() {
            return Err(secret_error("empty", SECRET_FORMAT));
        }
        Ok(Key::mac(MacAlgorithm::Sha256, &bytes))
    }

    fn parse_signing_key(&self, secret: &str) -> Result<Key, SecretError> {
        let Some(private) = secret.strip_prefix("whsk_") else {
            return self.parse_key(secret);
        };
        ed25519_signing_key(private)
    }

    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        keys: &Keyring,
        ctx: &VerifyContext,
    ) -> Result<Verified, VerifyError> {
        let names = if optional_header(request.headers, &WEBHOOK.id)?.is_some()
            || request.headers.contains_key(&WEBHOOK.signature)
        {
            &WEBHOOK
        } else {
            &SVIX
        };
        let id = single_header(request.headers, &names.id)?;
        let ts_text = single_header(request.headers, &names.timestamp)?;
        let timestamp = parse_unix_seconds(ts_text, &names.timestamp)?;
        let value = single_header(request.headers, &names.signature)?;
        let malformed = || VerifyError::MalformedHeader {
            header: names.signature.clone(),
            expected: "space-separated v1,<base64> entries",
        };
        let entries = parse_signature_list(value).ok_or_else(malformed)?;
        let signed: [&[u8]; 5] = [id.as_bytes(), b".", ts_text.as_bytes(), b".", request.body];

        let mut v1_texts = Vec::new();
        let mut v1a = Vec::new();
        for entry in &entries {
            match entry.version {
                "v1" => v1_texts.push(entry.signature),
                "v1a" => {
                    // An Ed25519 signature is 64 bytes; anything else can match no key.
                    let bytes = STANDARD.decode(entry.signature).ok();
                    if let Some(sig) = bytes.and_then(|b| <[u8; 64]>::try_from(b).ok()) {
                        v1a.push(sig);
                    }
                }
                _ => {} // Unknown versions are skipped, as the spec asks.
            }
        }
        let v1 = Encoding::Base64.decode_all(v1_texts, 32);
        if v1.is_empty() && v1a.is_empty() {
            return Err(malformed());
        }

        let matched = if !v1.is_empty() {
            match_mac(keys, &v1, |key| match key {
                Key::Mac(k) => Some(k.compute(&signed)),
                _ => None,
            })
        } else {
            Err(VerifyError::SignatureMismatch)
        };
        let (secret_index, secret_id) = match matched {
            Ok(hit) => hit,
            Err(VerifyError::NoSecret) => return Err(VerifyError::NoSecret),
            Err(_) if !v1a.is_empty() => {
                let message = signed.concat();
                let hit = keys
                    .entries()
                    .iter()
                    .enumerate()
                    .find(|(_, entry)| ed25519_verifies(&entry.key, &message, &v1a));
                match hit {
                    Some((index, entry)) => (index, &entry.id),
                    None => return Err(VerifyError::SignatureMismatch),
                }
            }
            // Also when the request only carries versions no configured key can check: to
            // the caller that is a mismatch (401), not a server fault — anyone can send it.
            Err(_) => return Err(VerifyError::SignatureMismatch),
        };
        ctx.check_timestamp(timestamp)?;
        Ok(Verified {
            scheme: "standard-webhooks",
            secret_index,
            secret_id: secret_id.clone(),
            delivery_id: Some(id.to_owned()),
            timestamp: Some(timestamp),
        })
    }

    fn sign(
        &self,
        request: &WebhookRequest<'_>,
        key: &Key,
        options: &SignOptions,
    ) -> Result<SignOutput, SignError> {
        let id = options.id.clone().unwrap_or_else(|| {
            format!(
                "msg_{}",
                super::hmac::default_delivery_id(request.body, options.timestamp).replace('-', "")
            )
        });
        let ts = options.timestamp.to_string();
        let signed: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", request.body];
        let signature = match key {
            Key::Mac(mac) => format!("v1,{}", mac.compute(&signed).to_base64()),
            #[cfg(feature = "ed25519")]
            Key::Ed25519Private(sk) => format!(
                "v1a,{}",
                STANDARD.encode(sk.sign(&signed.concat()).to_bytes())
            ),
            _ => {
                return Err(SignError::KeyCannotSign {
                    expected: "whsec_<base64> or whsk_<base64>",
                })
            }
        };
        Ok(SignOutput::headers(vec![
            (WEBHOOK.id.clone(), id),
            (WEBHOOK.timestamp.clone(), ts),
            (WEBHOOK.signature.clone(), signature),
        ]))
    }
}

#[cfg(test)]
mod tests;
