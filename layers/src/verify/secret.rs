//! Secrets and keys: configured secret strings, parsed once per scheme into keys.
//!
//! A [`Keyring`] holds the keys of one route in order (primary first, then the next one
//! during a rotation, then any more). Verification reports the index of the key that
//! matched. Keys never print their material: `Debug` shows the id and the kind only.

use std::fmt;
use std::sync::Arc;

#[cfg(feature = "ed25519")]
use ed25519_dalek::{SigningKey, VerifyingKey};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::SecretError;
use super::mac::{MacAlgorithm, MacKey};
use super::scheme::Scheme;

/// A parsed, ready-to-use key. The Ed25519 variants exist with the `ed25519` feature.
#[non_exhaustive]
// A Key is built once per configured secret and read on every request: the HMAC state is
// kept inline to spare that read an indirection. (Clippy sees the size gap only without
// `ed25519`, whose keys are big too.)
#[allow(clippy::large_enum_variant)]
pub enum Key {
    /// An HMAC key, pre-keyed for the scheme's algorithm.
    Mac(MacKey),
    /// An Ed25519 public key: verifies, cannot sign.
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    Ed25519Public(VerifyingKey),
    /// An Ed25519 private key: signs and verifies.
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    Ed25519Private(Box<SigningKey>),
    /// A shared token compared as a whole (GitLab).
    Token(Zeroizing<Vec<u8>>),
}

impl Key {
    /// An HMAC key from raw bytes.
    pub fn mac(algorithm: MacAlgorithm, bytes: &[u8]) -> Self {
        Key::Mac(MacKey::new(algorithm, bytes))
    }

    /// The Ed25519 public key of this key, if it has one.
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    pub fn ed25519_public(&self) -> Option<VerifyingKey> {
        match self {
            Key::Ed25519Public(k) => Some(*k),
            Key::Ed25519Private(k) => Some(k.verifying_key()),
            _ => None,
        }
    }

    /// Constant-time comparison of a token key with presented bytes.
    pub fn token_matches(&self, presented: &[u8]) -> bool {
        match self {
            // `ct_eq` on slices of different lengths returns false without early exit on
            // content; the length of a token is not a secret worth hiding.
            Key::Token(t) => !presented.is_empty() && bool::from(t.as_slice().ct_eq(presented)),
            _ => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Key::Mac(_) => "hmac",
            #[cfg(feature = "ed25519")]
            Key::Ed25519Public(_) => "ed25519-public",
            #[cfg(feature = "ed25519")]
            Key::Ed25519Private(_) => "ed25519-private",
            Key::Token(_) => "token",
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}, [redacted])", self.kind())
    }
}

/// One key with the id the configuration gave its secret (never the secret itself).
#[derive(Debug)]
pub struct KeyEntry {
    /// The secret's name in the configuration (e.g. `primary`, `next`), or its index.
    pub id: Arc<str>,
    /// The parsed key.
    pub key: Key,
}

/// The keys of one route, in order: primary first.
#[derive(Debug, Default)]
pub struct Keyring {
    entries: Vec<KeyEntry>,
}

impl Keyring {
    /// Parses secrets named by their position (`"0"`, `"1"`, …).
    pub fn from_secrets<I, S>(scheme: &dyn Scheme, secrets: I) -> Result<Arc<Keyring>, SecretError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::from_named_secrets(
            scheme,
            secrets
                .into_iter()
                .enumerate()
                .map(|(i, s)| (i.to_string(), s)),
        )
    }

    /// Parses `(id, secret)` pairs for `scheme`. The first unusable secret is an error that
    /// names its position and the expected format, never its value.
    pub fn from_named_secrets<I, N, S>(
        scheme: &dyn Scheme,
        secrets: I,
    ) -> Result<Arc<Keyring>, SecretError>
    where
        I: IntoIterator<Item = (N, S)>,
        N: Into<Arc<str>>,
        S: AsRef<str>,
    {
        let mut entries = Vec::new();
        for (index, (id, secret)) in secrets.into_iter().enumerate() {
            let key = scheme.parse_key(secret.as_ref()).map_err(|mut e| {
                e.index = index;
                e
            })?;
            entries.push(KeyEntry { id: id.into(), key });
        }
        Ok(Arc::new(Keyring { entries }))
    }

    /// A keyring from already-parsed keys.
    pub fn from_keys(entries: Vec<KeyEntry>) -> Arc<Keyring> {
        Arc::new(Keyring { entries })
    }

    /// The keys, primary first.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Shorthand for schemes: a [`SecretError`] (its index is filled in by the keyring).
pub(crate) fn secret_error(problem: &'static str, expected: &'static str) -> SecretError {
    SecretError {
        index: 0,
        problem,
        expected,
    }
}
