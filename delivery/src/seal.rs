//! Encoding (and, with keys, encryption at rest) of a message's [`Request`].
//!
//! A payload is `version byte | ...`:
//! - `0x00` plain: the request encoded with postcard;
//! - `0x01` sealed: key id length (1 byte) | key id | nonce (24 bytes) | AEAD ciphertext of
//!   the plain encoding (tag included), the key id bound as associated data.
//!
//! The AEAD is XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`): its 192-bit nonces are
//! drawn at random for every payload, which is safe for any number of messages under one
//! key (96-bit random nonces, as AES-GCM has, are not past a few billion). Binding the key
//! id as associated data means a payload cannot be relabelled to another key.
//!
//! Several keys may be configured for rotation: new payloads are sealed with the first,
//! any configured key opens. A payload that cannot be opened (unknown key id, tampered,
//! truncated) is an [`OpenError`], which the worker turns into a dead letter with the
//! reason — never a panic. A plain payload still opens when keys are configured, so turning
//! encryption on does not strand what is already queued.
//!
//! ```
//! use hookguard_delivery::{Request, Sealer};
//!
//! let key = Sealer::key_from_base64("k1", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
//! let sealer = Sealer::new(vec![key]).unwrap();
//! let request = Request {
//!     method: "POST".into(),
//!     target: "/hooks".into(),
//!     headers: vec![("x-signature".into(), "sha256=abc".into())],
//!     body: "{}".into(),
//! };
//! let payload = sealer.seal(&request);
//! assert_eq!(payload[0], 1, "sealed");
//! assert_eq!(sealer.open(&payload).unwrap(), request);
//! assert!(!format!("{sealer:?}").contains("MDEy"));
//! ```

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::request::Request;

/// Why a payload could not be turned back into a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Empty or unknown version byte, or a truncated header.
    #[error("payload format: {0}")]
    Format(String),
    /// Sealed with a key id that is not configured.
    #[error("payload sealed with key {0:?}, which is not configured")]
    UnknownKey(String),
    /// The AEAD tag did not verify (wrong key material or tampered data).
    #[error("payload sealed with key {0:?} does not decrypt (wrong key or tampered)")]
    Decrypt(String),
    /// Sealed, but no key is configured at all.
    #[error("payload is encrypted and no encryption key is configured")]
    NoKeys,
}

/// Why a configured encryption key is unusable (reported at start, never at delivery).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The key text is not base64.
    #[error("encryption key {id}: not base64 ({detail})")]
    Base64 {
        /// The key's id.
        id: String,
        /// What the decoder said (never the key).
        detail: String,
    },
    /// The key decodes to the wrong number of bytes.
    #[error("encryption key {id}: expected 32 bytes of base64, got {got}")]
    Length {
        /// The key's id.
        id: String,
        /// How many bytes it decoded to.
        got: usize,
    },
    /// The id is empty or longer than 255 bytes (it is stored in every payload).
    #[error("encryption key id {0:?}: expected 1 to 255 bytes")]
    BadId(String),
    /// Two keys share an id: which one opens a payload would be a guess.
    #[error("encryption key id {0:?} is configured twice")]
    DuplicateId(String),
}

const PLAIN: u8 = 0;
const SEALED: u8 = 1;
const NONCE_LEN: usize = 24;

/// 32 bytes of key material: zeroized on drop, never shown by `Debug`.
#[derive(Clone)]
pub struct EncryptionKey(Zeroizing<[u8; 32]>);

impl EncryptionKey {
    /// From raw bytes (the caller's copy is theirs to zeroize).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(..)")
    }
}

/// Turns requests into payloads and back. Without keys, payloads are plain.
#[derive(Clone, Default)]
pub struct Sealer {
    /// (key id, key); the first seals, any opens. Shared by clones, zeroized when the last
    /// clone goes.
    keys: Arc<[(String, EncryptionKey)]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field(
                "key_ids",
                &self
                    .keys
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Sealer {
    /// A sealer that stores requests unencrypted.
    pub fn plain() -> Self {
        Self::default()
    }

    /// A sealer that seals with the first key and opens with any. No keys: plain.
    pub fn new(keys: Vec<(String, EncryptionKey)>) -> Result<Self, KeyError> {
        for (i, (id, _)) in keys.iter().enumerate() {
            if id.is_empty() || id.len() > 255 {
                return Err(KeyError::BadId(id.clone()));
            }
            if keys[..i].iter().any(|(other, _)| other == id) {
                return Err(KeyError::DuplicateId(id.clone()));
            }
        }
        Ok(Self { keys: keys.into() })
    }

    /// A key as the config gives it: 32 bytes in standard base64 (padding optional).
    pub fn key_from_base64(id: &str, text: &str) -> Result<(String, EncryptionKey), KeyError> {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let decoded = Zeroizing::new(engine.decode(text.trim()).map_err(|e| KeyError::Base64 {
            id: id.to_owned(),
            detail: e.to_string(),
        })?);
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Length {
                id: id.to_owned(),
                got: decoded.len(),
            })?;
        Ok((id.to_owned(), EncryptionKey::from_bytes(bytes)))
    }

    /// Whether payloads are sealed.
    pub fn encrypts(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The payload for `request`.
    ///
    /// # Panics
    /// When keys are configured and the operating system's random source fails (Linux's
    /// `getrandom` does not once the system has booted): sealing without a fresh nonce
    /// would be worse than stopping.
    pub fn seal(&self, request: &Request) -> Bytes {
        // postcard into a Vec cannot fail for these types (strings, byte strings, lists).
        let plain = Zeroizing::new(postcard::to_allocvec(request).unwrap_or_default());
        let Some((id, key)) = self.keys.first() else {
            let mut out = Vec::with_capacity(1 + plain.len());
            out.push(PLAIN);
            out.extend_from_slice(&plain);
            return Bytes::from(out);
        };
        let mut nonce = [0u8; NONCE_LEN];
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut nonce).expect("the OS random source failed: cannot seal a payload");
        let cipher = XChaCha20Poly1305::new((&*key.0).into());
        let sealed = cipher.encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: id.as_bytes(),
            },
        );
        // XChaCha20-Poly1305 refuses only plaintexts over 256 GiB.
        let sealed = sealed.unwrap_or_default();
        let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + sealed.len());
        out.push(SEALED);
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Bytes::from(out)
    }

    /// The request in `payload`.
    pub fn open(&self, payload: &[u8]) -> Result<Request, OpenError> {
        match payload.split_first() {
            Some((&PLAIN, rest)) => decode(rest),
            Some((&SEALED, rest)) => self.open_sealed(rest),
            Some((v, _)) => Err(OpenError::Format(format!("unknown version byte {v}"))),
            None => Err(OpenError::Format("empty payload".into())),
        }
    }

    fn open_sealed(&self, rest: &[u8]) -> Result<Request, OpenError> {
        let truncated = || OpenError::Format("sealed payload is truncated".into());
        let (&id_len, rest) = rest.split_first().ok_or_else(truncated)?;
        let (id, rest) = rest
            .split_at_checked(usize::from(id_len))
            .ok_or_else(truncated)?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN).ok_or_else(truncated)?;
        let id = String::from_utf8_lossy(id).into_owned();
        if self.keys.is_empty() {
            return Err(OpenError::NoKeys);
        }
        let (_, key) = self
            .keys
            .iter()
            .find(|(k, _)| *k == id)
            .ok_or_else(|| OpenError::UnknownKey(id.clone()))?;
        let cipher = XChaCha20Poly1305::new((&*key.0).into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: id.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| OpenError::Decrypt(id))?;
        decode(&plain)
    }
}

fn decode(plain: &[u8]) -> Result<Request, OpenError> {
    postcard::from_bytes(plain).map_err(|e| OpenError::Format(format!("plain request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            method: "POST".into(),
            target: "/hooks/github".into(),
            headers: vec![
                ("x-hub-signature-256".into(), "sha256=00ff".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: Bytes::from_static(br#"{"action":"opened"}"#),
        }
    }

    fn key(id: &str, byte: u8) -> (String, EncryptionKey) {
        (id.to_owned(), EncryptionKey::from_bytes([byte; 32]))
    }

    fn sealer(keys: &[(&str, u8)]) -> Sealer {
        Sealer::new(keys.iter().map(|(id, b)| key(id, *b)).collect()).unwrap()
    }

    #[test]
    fn sealed_payload_round_trips_and_hides_the_body() {
        let sealer = sealer(&[("k1", 7)]);
        let payload = sealer.seal(&request());
        assert_eq!(payload[0], SEALED);
        assert_eq!(&payload[1..4], b"\x02k1");
        let needle = br#""action""#;
        assert!(!payload.windows(needle.len()).any(|w| w == needle));
        assert_eq!(sealer.open(&payload).unwrap(), request());
    }

    #[test]
    fn every_payload_gets_a_fresh_nonce() {
        let sealer = sealer(&[("k1", 7)]);
        assert_ne!(sealer.seal(&request()), sealer.seal(&request()));
    }

    #[test]
    fn rotated_key_still_opens_old_payloads_and_seals_with_the_new_one() {
        let old = sealer(&[("k1", 1)]).seal(&request());
        let rotated = sealer(&[("k2", 2), ("k1", 1)]);
        assert_eq!(rotated.open(&old).unwrap(), request());
        let new = rotated.seal(&request());
        assert_eq!(&new[1..4], b"\x02k2");
        assert_eq!(
            sealer(&[("k1", 1)]).open(&new),
            Err(OpenError::UnknownKey("k2".into()))
        );
    }

    #[test]
    fn unknown_key_id_is_reported_by_name() {
        let payload = sealer(&[("k1", 1)]).seal(&request());
        assert_eq!(
            sealer(&[("other", 1)]).open(&payload),
            Err(OpenError::UnknownKey("k1".into()))
        );
        assert_eq!(Sealer::plain().open(&payload), Err(OpenError::NoKeys));
    }

    #[test]
    fn same_id_with_other_key_material_does_not_decrypt() {
        let payload = sealer(&[("k1", 1)]).seal(&request());
        assert_eq!(
            sealer(&[("k1", 9)]).open(&payload),
            Err(OpenError::Decrypt("k1".into()))
        );
    }

    #[test]
    fn any_tampered_byte_after_the_key_id_fails_to_decrypt() {
        let sealer = sealer(&[("k1", 1)]);
        let payload = sealer.seal(&request());
        for i in 4..payload.len() {
            let mut bad = payload.to_vec();
            bad[i] ^= 0x01;
            assert_eq!(
                sealer.open(&bad),
                Err(OpenError::Decrypt("k1".into())),
                "byte {i}"
            );
        }
    }

    #[test]
    fn relabelled_key_id_fails_because_it_is_associated_data() {
        let two = sealer(&[("k1", 1), ("k2", 1)]);
        let mut payload = two.seal(&request()).to_vec();
        payload[3] = b'2';
        assert_eq!(two.open(&payload), Err(OpenError::Decrypt("k2".into())));
    }

    #[test]
    fn truncated_payloads_are_format_or_decrypt_errors_never_panics() {
        let sealer = sealer(&[("k1", 1)]);
        let payload = sealer.seal(&request());
        for len in 0..payload.len() {
            let err = sealer.open(&payload[..len]).unwrap_err();
            assert!(
                matches!(err, OpenError::Format(_) | OpenError::Decrypt(_)),
                "{len}: {err:?}"
            );
        }
    }

    #[test]
    fn plain_payload_still_opens_with_keys_configured() {
        let plain = Sealer::plain().seal(&request());
        assert_eq!(plain[0], PLAIN);
        assert_eq!(sealer(&[("k1", 1)]).open(&plain).unwrap(), request());
    }

    #[test]
    fn base64_keys_are_checked_with_a_clear_error() {
        let (id, _) = Sealer::key_from_base64("k1", &"A".repeat(43)).unwrap();
        assert_eq!(id, "k1");
        let err = Sealer::key_from_base64("k1", "MDEyMzQ1Njc4OWFi").unwrap_err();
        assert_eq!(
            err.to_string(),
            "encryption key k1: expected 32 bytes of base64, got 12"
        );
        let err = Sealer::key_from_base64("k1", "not base64!").unwrap_err();
        assert!(err.to_string().starts_with("encryption key k1: not base64"));
        assert!(!err.to_string().contains("not base64!"), "{err}");
    }

    #[test]
    fn key_ids_must_be_unique_and_short() {
        assert_eq!(
            Sealer::new(vec![key("k1", 1), key("k1", 2)]).unwrap_err(),
            KeyError::DuplicateId("k1".into())
        );
        assert!(matches!(
            Sealer::new(vec![key("", 1)]),
            Err(KeyError::BadId(_))
        ));
        assert!(Sealer::new(vec![key(&"x".repeat(256), 1)]).is_err());
    }

    #[test]
    fn debug_shows_key_ids_never_key_material() {
        let sealer = sealer(&[("k1", 0xAB)]);
        let shown = format!("{sealer:?} {:?}", sealer.keys[0].1);
        assert!(shown.contains("k1"));
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab, "));
    }
}
