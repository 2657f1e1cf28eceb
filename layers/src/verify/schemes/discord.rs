//! `discord`: interactions and webhook events, signed with the application's Ed25519 key.
//!
//! `X-Signature-Ed25519` is the hex Ed25519 signature of the `X-Signature-Timestamp` value
//! (Unix seconds, signed as sent) followed by the raw body. It is checked with the
//! application's public key from the developer portal (64 hex digits). Signing (`sign`, for
//! tests and the sandbox) takes the 32-byte private seed, also as 64 hex digits; the two
//! cannot be told apart, so [`Scheme::parse_key`] always reads a public key and
//! [`Scheme::parse_signing_key`] always a seed.
//!
//! Tolerance: Discord signs a timestamp but publishes no window. hookguard uses 300 s (the
//! window Slack and Stripe publish): Discord expects an answer to every interaction within
//! three seconds and does not send an interaction again, so a genuine request is never
//! minutes old, while 300 s still absorbs ordinary clock skew between Discord and this host.
//! Routes can widen or disable it.
//!
//! Delivery id: the body's top-level `id` (the interaction's snowflake), when present.
//!
//! ```
//! use hookguard_layers::verify::schemes::discord::Discord;
//! use hookguard_layers::verify::{Keyring, Scheme, VerifyContext, WebhookRequest};
//!
//! let scheme = Discord;
//! let keys = Keyring::from_secrets(
//!     &scheme,
//!     ["d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"],
//! )
//! .unwrap();
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-signature-ed25519", "7f06df2d8204efe9546287e0dd9d4deb65f64f24b7130de714305dd267cb5c51035780a296599a9bb1e0bded4ff2afecf47d14a82e10944c842697bfb298b902".parse().unwrap());
//! headers.insert("x-signature-timestamp", "1616343571".parse().unwrap());
//! let body = br#"{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}"#;
//! let request = WebhookRequest { method: &http::Method::POST, url: None, headers: &headers, body };
//! let verified = scheme.verify(&request, &keys, &VerifyContext::new(&scheme, 1616343571)).unwrap();
//! assert_eq!(verified.delivery_id.as_deref(), Some("787053080478613555"));
//! ```

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use http::HeaderName;
use zeroize::Zeroizing;

use crate::verify::error::{SecretError, SignError, VerifyError};
use crate::verify::json::top_level_string;
use crate::verify::scheme::{
    parse_unix_seconds, single_header, Scheme, SignOptions, SignOutput, Verified, VerifyContext,
    WebhookRequest,
};
use crate::verify::secret::{secret_error, Key, Keyring};

const SIGNATURE: HeaderName = HeaderName::from_static("x-signature-ed25519");
const TIMESTAMP: HeaderName = HeaderName::from_static("x-signature-timestamp");

const PUBLIC_KEY_FORMAT: &str =
    "the application's Ed25519 public key from the developer portal (64 hex digits)";
const SEED_FORMAT: &str = "a 32-byte Ed25519 private seed as 64 hex digits";

/// The `discord` scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discord;

/// Decodes exactly 32 bytes of hex (either case, surrounding whitespace ignored).
fn hex_32(secret: &str, expected: &'static str) -> Result<Zeroizing<[u8; 32]>, SecretError> {
    let text = secret.trim();
    if text.is_empty() {
        return Err(secret_error("empty", expected));
    }
    if text.len() != 64 {
        return Err(secret_error("not 64 hex digits long", expected));
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, &mut bytes[..])
        .map_err(|_| secret_error("not hexadecimal", expected))?;
    Ok(bytes)
}

impl Scheme for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn default_tolerance(&self) -> Option<u64> {
        Some(300)
    }

    fn delivery_id_source(&self) -> crate::verify::scheme::DeliveryIdSource {
        // An interaction's `id`, in the signed body; webhook events carry no top-level id.
        crate::verify::scheme::DeliveryIdSource::signed(Vec::new()).sometimes()
    }

    fn parse_key(&self, secret: &str) -> Result<Key, SecretError> {
        let bytes = hex_32(secret, PUBLIC_KEY_FORMAT)?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| secret_error("not an Ed25519 public key", PUBLIC_KEY_FORMAT))?;
        Ok(Key::Ed25519Public(key))
    }

    fn parse_signing_key(&self, secret: &str) -> Result<Key, SecretError> {
        let seed = hex_32(secret, SEED_FORMAT)?;
        Ok(Key::Ed25519Private(Box::new(SigningKey::from_bytes(&seed))))
    }

    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        keys: &Keyring,
        ctx: &VerifyContext,
    ) -> Result<Verified, VerifyError> {
        let malformed = || VerifyError::MalformedHeader {
            header: SIGNATURE,
            expected: "a hex Ed25519 signature (128 hex digits)",
        };
        let value = single_header(request.headers, &SIGNATURE)?;
        let mut signature = [0u8; 64];
        if value.len() != 128 {
            return Err(malformed());
        }
        hex::decode_to_slice(value, &mut signature).map_err(|_| malformed())?;
        let signature = Signature::from_bytes(&signature);
        let ts_text = single_header(request.headers, &TIMESTAMP)?;
        let timestamp = parse_unix_seconds(ts_text, &TIMESTAMP)?;

        if keys.is_empty() {
            return Err(VerifyError::NoSecret);
        }
        // The signed message is the timestamp text then the body; one copy per request.
        let message = [ts_text.as_bytes(), request.body].concat();
        let mut usable = false;
        let mut matched = None;
        for (index, entry) in keys.entries().iter().enumerate() {
            let Some(public) = entry.key.ed25519_public() else {
                continue;
            };
            usable = true;
            // Strict: also refuses small-order keys and R points, which no genuine
            // signature has.
            if public.verify_strict(&message, &signature).is_ok() {
                matched = Some((index, entry.id.clone()));
                break;
            }
        }
        let Some((secret_index, secret_id)) = matched else {
            return Err(if usable {
                VerifyError::SignatureMismatch
            } else {
                VerifyError::SecretFormat {
                    expected: PUBLIC_KEY_FORMAT,
                }
            });
        };
        // The window is checked after the signature: an attacker learns nothing of the clock.
        ctx.check_timestamp(timestamp)?;
        Ok(Verified {
            scheme: "discord",
            secret_index,
            secret_id,
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
        let Key::Ed25519Private(signing) = key else {
            return Err(SignError::KeyCannotSign {
                expected: SEED_FORMAT,
            });
        };
        let timestamp = options.timestamp.to_string();
        let message = [timestamp.as_bytes(), request.body].concat();
        let signature = hex::encode(signing.sign(&message).to_bytes());
        Ok(SignOutput::headers(vec![
            (SIGNATURE, signature),
            (TIMESTAMP, timestamp),
        ]))
    }
}

#[cfg(test)]
mod tests;
