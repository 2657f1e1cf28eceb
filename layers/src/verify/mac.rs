//! HMAC computation and constant-time comparison, shared by every HMAC scheme.
//!
//! A [`MacKey`] is keyed once when the secret is parsed; each verification clones the
//! keyed state (two hash states, no re-hashing of the key) and feeds the signed parts
//! without copying the body. Comparison is on decoded MAC bytes, in constant time.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

/// The hash behind an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacAlgorithm {
    /// HMAC-SHA1 (20 bytes).
    Sha1,
    /// HMAC-SHA256 (32 bytes).
    Sha256,
    /// HMAC-SHA512 (64 bytes).
    Sha512,
}

impl MacAlgorithm {
    /// Length of the MAC in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            MacAlgorithm::Sha1 => 20,
            MacAlgorithm::Sha256 => 32,
            MacAlgorithm::Sha512 => 64,
        }
    }

    /// Parses `sha1`, `sha256` or `sha512`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

#[derive(Clone)]
enum Keyed {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

/// A pre-keyed HMAC. Holds derived hash states, not the secret; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct MacKey {
    keyed: Keyed,
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

/// A computed MAC (up to 64 bytes, on the stack).
#[derive(Clone, Copy)]
pub struct MacOutput {
    bytes: [u8; 64],
    len: usize,
}

impl MacOutput {
    /// The MAC bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Constant-time equality with presented bytes; an empty presentation never matches.
    pub fn matches(&self, presented: &[u8]) -> bool {
        !presented.is_empty() && bool::from(self.as_bytes().ct_eq(presented))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// Standard base64 with padding.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.as_bytes())
    }
}

impl fmt::Debug for MacOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacOutput([redacted])")
    }
}

fn finish(out: &[u8]) -> MacOutput {
    let mut bytes = [0u8; 64];
    bytes[..out.len()].copy_from_slice(out);
    MacOutput {
        bytes,
        len: out.len(),
    }
}

impl MacKey {
    /// Keys an HMAC with `secret`. HMAC accepts keys of any length.
    pub fn new(algorithm: MacAlgorithm, secret: &[u8]) -> Self {
        // `new_from_slice` only fails for fixed-size-key MACs; HMAC takes any length.
        let keyed = match algorithm {
            MacAlgorithm::Sha1 => {
                Keyed::Sha1(Hmac::new_from_slice(secret).expect("hmac takes any key length"))
            }
            MacAlgorithm::Sha256 => {
                Keyed::Sha256(Hmac::new_from_slice(secret).expect("hmac takes any key length"))
            }
            MacAlgorithm::Sha512 => {
                Keyed::Sha512(Hmac::new_from_slice(secret).expect("hmac takes any key length"))
            }
        };
        Self { keyed }
    }

    /// The algorithm this key was keyed for.
    pub fn algorithm(&self) -> MacAlgorithm {
        match self.keyed {
            Keyed::Sha1(_) => MacAlgorithm::Sha1,
            Keyed::Sha256(_) => MacAlgorithm::Sha256,
            Keyed::Sha512(_) => MacAlgorithm::Sha512,
        }
    }

    /// HMAC over the concatenation of `parts`, without concatenating them.
    pub fn compute(&self, parts: &[&[u8]]) -> MacOutput {
        fn run<M: Mac + Clone>(m: &M, parts: &[&[u8]]) -> MacOutput {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            finish(&m.finalize().into_bytes())
        }
        match &self.keyed {
            Keyed::Sha1(m) => run(m, parts),
            Keyed::Sha256(m) => run(m, parts),
            Keyed::Sha512(m) => run(m, parts),
        }
    }
}

/// A decoded signature as presented by the caller (up to 64 bytes, on the stack).
#[derive(Clone, Copy)]
pub struct Presented {
    bytes: [u8; 64],
    len: usize,
}

impl AsRef<[u8]> for Presented {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Presented({} bytes)", self.len)
    }
}

/// How a scheme writes its MAC into a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hex, either case accepted.
    Hex,
    /// Standard base64 with padding (the URL-safe alphabet is accepted too).
    Base64,
}

impl Encoding {
    /// Decodes a presented signature into `buf`, returning the decoded bytes; `None` when it
    /// is not valid in this encoding or longer than 64 bytes.
    pub fn decode<'b>(self, text: &str, buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
        match self {
            Encoding::Hex => {
                let n = text.len() / 2;
                if text.len() % 2 != 0 || n > buf.len() || n == 0 {
                    return None;
                }
                hex::decode_to_slice(text, &mut buf[..n]).ok()?;
                Some(&buf[..n])
            }
            Encoding::Base64 => {
                use base64::engine::general_purpose::{STANDARD, URL_SAFE};
                // Decoding into a fixed buffer: anything longer than a SHA-512 MAC is not a MAC.
                if text.is_empty() || text.len() > 88 {
                    return None;
                }
                let n = STANDARD
                    .decode_slice(text, &mut buf[..])
                    .or_else(|_| URL_SAFE.decode_slice(text, &mut buf[..]))
                    .ok()?;
                Some(&buf[..n])
            }
        }
    }

    /// Decodes every presented signature of a list (Stripe's `v1=`, Paddle's `h1=`,
    /// Standard Webhooks' `v1,`), keeping those that decode to `len` bytes: an entry that
    /// cannot be a MAC cannot match, and skipping it keeps the valid ones usable.
    pub fn decode_all<'t>(
        self,
        texts: impl IntoIterator<Item = &'t str>,
        len: usize,
    ) -> Vec<Presented> {
        texts
            .into_iter()
            .filter_map(|text| {
                let mut bytes = [0u8; 64];
                let n = self.decode(text, &mut bytes)?.len();
                (n == len).then_some(Presented { bytes, len: n })
            })
            .collect()
    }

    /// Encodes a MAC for a header.
    pub fn encode(self, mac: &MacOutput) -> String {
        match self {
            Encoding::Hex => mac.to_hex(),
            Encoding::Base64 => mac.to_base64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is not a MAC in an encoding is `None`, never an empty MAC and never a panic:
    /// empty text, odd hex, more than 64 bytes (a SHA-512 MAC) in either encoding.
    #[test]
    fn decode_refuses_empty_odd_and_oversized_signatures() {
        let mut buf = [0u8; 64];
        for encoding in [Encoding::Hex, Encoding::Base64] {
            assert_eq!(encoding.decode("", &mut buf), None, "{encoding:?}: empty");
        }
        assert_eq!(Encoding::Hex.decode("abc", &mut buf), None, "odd hex");
        assert_eq!(
            Encoding::Hex.decode(&"ab".repeat(65), &mut buf),
            None,
            "65 bytes of hex"
        );
        assert_eq!(
            Encoding::Hex
                .decode(&"ab".repeat(64), &mut buf)
                .map(<[u8]>::len),
            Some(64),
            "64 bytes of hex"
        );
        assert_eq!(
            Encoding::Base64.decode(&"A".repeat(92), &mut buf),
            None,
            "69 bytes of base64"
        );
        assert_eq!(
            Encoding::Base64.decode(&"A".repeat(88), &mut buf),
            None,
            "88 characters decode to 66 bytes: over the buffer"
        );
        assert_eq!(
            Encoding::Base64.decode("q80=", &mut buf),
            Some(&[0xab, 0xcd][..])
        );
    }

    #[test]
    fn rfc4231_case_2_sha256_and_sha512() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let data: &[&[u8]] = &[b"what do ya ", b"want for nothing?"];
        assert_eq!(
            MacKey::new(MacAlgorithm::Sha256, b"Jefe")
                .compute(data)
                .to_hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            MacKey::new(MacAlgorithm::Sha512, b"Jefe").compute(data).to_hex(),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn rfc2202_case_2_sha1() {
        let mac =
            MacKey::new(MacAlgorithm::Sha1, b"Jefe").compute(&[b"what do ya want for nothing?"]);
        assert_eq!(mac.to_hex(), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn empty_and_wrong_length_presentations_never_match() {
        let mac = MacKey::new(MacAlgorithm::Sha256, b"k").compute(&[b"x"]);
        assert!(!mac.matches(b""));
        assert!(!mac.matches(&mac.as_bytes()[..31]));
        assert!(mac.matches(mac.as_bytes()));
    }

    #[test]
    fn decode_rejects_odd_hex_and_oversized_base64() {
        let mut buf = [0u8; 64];
        assert!(Encoding::Hex.decode("abc", &mut buf).is_none());
        assert!(Encoding::Hex.decode("zz", &mut buf).is_none());
        assert!(Encoding::Hex.decode("", &mut buf).is_none());
        assert!(Encoding::Base64
            .decode(&"A".repeat(200), &mut buf)
            .is_none());
        assert_eq!(
            Encoding::Hex.decode("ABcd", &mut buf),
            Some(&[0xab, 0xcd][..])
        );
        assert_eq!(
            Encoding::Base64.decode("q80=", &mut buf),
            Some(&[0xab, 0xcd][..])
        );
    }
}
