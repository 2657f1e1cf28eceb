//! Encoding (and, with keys, encryption at rest) of a message's [`Request`].
//!
//! A payload is `version byte | ...`:
//! - `0x00` plain: the request encoded with postcard;
//! - `0x01` sealed: key id (length-prefixed) | nonce | AEAD ciphertext of the plain
//!   encoding, the key id bound as associated data.
//!
//! Several keys may be configured for rotation: new payloads are sealed with the first,
//! any configured key opens. A payload that cannot be opened (unknown key id, tampered,
//! truncated) is an [`OpenError`], which the worker turns into a dead letter with the
//! reason — never a panic.

use bytes::Bytes;

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

const PLAIN: u8 = 0;

/// Turns requests into payloads and back. Without keys, payloads are plain.
#[derive(Clone, Default)]
pub struct Sealer {
    // Filled in by the encryption-at-rest work: (key id, key) pairs, first seals.
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer that stores requests unencrypted.
    pub fn plain() -> Self {
        Self::default()
    }

    /// The payload for `request`.
    pub fn seal(&self, request: &Request) -> Bytes {
        let mut out = vec![PLAIN];
        // postcard into a Vec cannot fail for these types (strings, byte strings, lists).
        out.extend(postcard::to_allocvec(request).unwrap_or_default());
        Bytes::from(out)
    }

    /// The request in `payload`.
    pub fn open(&self, payload: &[u8]) -> Result<Request, OpenError> {
        match payload.split_first() {
            Some((&PLAIN, rest)) => postcard::from_bytes(rest)
                .map_err(|e| OpenError::Format(format!("plain request: {e}"))),
            Some((v, _)) => Err(OpenError::Format(format!("unknown version byte {v}"))),
            None => Err(OpenError::Format("empty payload".into())),
        }
    }
}
