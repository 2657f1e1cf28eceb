//! Why a verification failed, and why a secret cannot be used.
//!
//! `Display` is written by hand rather than derived with `thiserror`: its proc-macro stack
//! would be six of the `verify` feature's crates.

use std::fmt;

use http::{HeaderName, StatusCode};

use crate::reject::{Reason, Rejection};

/// Why a request's signature was not accepted.
///
/// Every variant explains what it can without leaking anything: it never carries the
/// expected signature, a secret, or the header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent (or empty).
    MissingHeader(HeaderName),
    /// A header that must appear once appears several times.
    DuplicateHeader(HeaderName),
    /// A header does not parse.
    MalformedHeader {
        /// The header's name.
        header: HeaderName,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// The body lacks the fields the scheme signs, or does not parse.
    MalformedBody {
        /// What a valid body looks like.
        expected: &'static str,
    },
    /// No secret is configured.
    NoSecret,
    /// None of the configured secrets is of a kind this request can be checked with.
    SecretFormat {
        /// The format the scheme needs.
        expected: &'static str,
    },
    /// No configured secret produces the request's signature.
    SignatureMismatch,
    /// The signed timestamp is outside the tolerance window.
    TimestampOutsideWindow {
        /// `now - timestamp` in seconds: positive when the request is old, negative when it
        /// claims to come from the future.
        skew_secs: i64,
    },
    /// The scheme signs the URL the provider called, and it is not known.
    UrlUnknown,
}

impl VerifyError {
    /// The fixed reason code of this error.
    pub fn reason(&self) -> Reason {
        match self {
            VerifyError::MissingHeader(_) => Reason::MissingHeader,
            VerifyError::DuplicateHeader(_) => Reason::DuplicateHeader,
            VerifyError::MalformedHeader { .. } => Reason::MalformedHeader,
            VerifyError::MalformedBody { .. } => Reason::MalformedBody,
            VerifyError::NoSecret => Reason::NoSecret,
            VerifyError::SecretFormat { .. } => Reason::SecretFormat,
            VerifyError::SignatureMismatch => Reason::SignatureMismatch,
            VerifyError::TimestampOutsideWindow { .. } => Reason::TimestampOutsideWindow,
            VerifyError::UrlUnknown => Reason::UrlUnknown,
        }
    }
}

impl From<VerifyError> for Rejection {
    fn from(e: VerifyError) -> Self {
        // Configuration problems are the operator's, not the caller's: still refuse (fail
        // closed), but with a 500-class status so alerts tell them apart from forgeries.
        let status = match e {
            VerifyError::NoSecret | VerifyError::SecretFormat { .. } | VerifyError::UrlUnknown => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::UNAUTHORIZED,
        };
        Rejection::new(status, e.reason(), e.to_string())
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingHeader(name) => write!(f, "missing header {name}"),
            VerifyError::DuplicateHeader(name) => write!(f, "header {name} appears more than once"),
            VerifyError::MalformedHeader { header, expected } => {
                write!(f, "malformed header {header}: expected {expected}")
            }
            VerifyError::MalformedBody { expected } => {
                write!(f, "malformed body: expected {expected}")
            }
            VerifyError::NoSecret => f.write_str("no secret configured"),
            VerifyError::SecretFormat { expected } => {
                write!(f, "secret in the wrong format: expected {expected}")
            }
            VerifyError::SignatureMismatch => f.write_str("signature mismatch"),
            VerifyError::TimestampOutsideWindow { skew_secs } => {
                let direction = if *skew_secs < 0 {
                    "in the future"
                } else {
                    "old"
                };
                write!(
                    f,
                    "timestamp outside the tolerance window: {skew_secs} s {direction}"
                )
            }
            VerifyError::UrlUnknown => f.write_str(
                "the scheme signs the request URL: configure the public URL of this route",
            ),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Why a configured secret cannot be used by a scheme. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError {
    /// Position of the secret in the list given.
    pub index: usize,
    /// What is wrong.
    pub problem: &'static str,
    /// What the scheme expects.
    pub expected: &'static str,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            index,
            problem,
            expected,
        } = self;
        write!(f, "secret {index}: {problem}; expected {expected}")
    }
}

impl std::error::Error for SecretError {}

/// Why `sign` could not produce headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The key cannot sign for this scheme (e.g. a public key).
    KeyCannotSign {
        /// What a signing key looks like for the scheme.
        expected: &'static str,
    },
    /// The scheme signs the URL and none was given.
    UrlRequired,
    /// The body is not what the scheme needs.
    Body {
        /// What the body must look like.
        expected: &'static str,
    },
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::KeyCannotSign { expected } => {
                write!(f, "this key cannot sign: expected {expected}")
            }
            SignError::UrlRequired => f.write_str("this scheme signs the request URL: pass --url"),
            SignError::Body { expected } => write!(f, "body: expected {expected}"),
        }
    }
}

impl std::error::Error for SignError {}
