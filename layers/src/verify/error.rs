//! Why a verification failed, and why a secret cannot be used.

use http::{HeaderName, StatusCode};

use crate::reject::{Reason, Rejection};

/// Why a request's signature was not accepted.
///
/// Every variant explains what it can without leaking anything: it never carries the
/// expected signature, a secret, or the header's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent (or empty).
    #[error("missing header {0}")]
    MissingHeader(HeaderName),
    /// A header that must appear once appears several times.
    #[error("header {0} appears more than once")]
    DuplicateHeader(HeaderName),
    /// A header does not parse.
    #[error("malformed header {header}: expected {expected}")]
    MalformedHeader {
        /// The header's name.
        header: HeaderName,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// The body lacks the fields the scheme signs, or does not parse.
    #[error("malformed body: expected {expected}")]
    MalformedBody {
        /// What a valid body looks like.
        expected: &'static str,
    },
    /// No secret is configured.
    #[error("no secret configured")]
    NoSecret,
    /// None of the configured secrets is of a kind this request can be checked with.
    #[error("secret in the wrong format: expected {expected}")]
    SecretFormat {
        /// The format the scheme needs.
        expected: &'static str,
    },
    /// No configured secret produces the request's signature.
    #[error("signature mismatch")]
    SignatureMismatch,
    /// The signed timestamp is outside the tolerance window.
    #[error("timestamp outside the tolerance window: {skew_secs} s {}", if *.skew_secs < 0 { "in the future" } else { "old" })]
    TimestampOutsideWindow {
        /// `now - timestamp` in seconds: positive when the request is old, negative when it
        /// claims to come from the future.
        skew_secs: i64,
    },
    /// The scheme signs the URL the provider called, and it is not known.
    #[error("the scheme signs the request URL: configure the public URL of this route")]
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

/// Why a configured secret cannot be used by a scheme. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {index}: {problem}; expected {expected}")]
pub struct SecretError {
    /// Position of the secret in the list given.
    pub index: usize,
    /// What is wrong.
    pub problem: &'static str,
    /// What the scheme expects.
    pub expected: &'static str,
}

/// Why `sign` could not produce headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key cannot sign for this scheme (e.g. a public key).
    #[error("this key cannot sign: expected {expected}")]
    KeyCannotSign {
        /// What a signing key looks like for the scheme.
        expected: &'static str,
    },
    /// The scheme signs the URL and none was given.
    #[error("this scheme signs the request URL: pass --url")]
    UrlRequired,
    /// The body is not what the scheme needs.
    #[error("body: expected {expected}")]
    Body {
        /// What the body must look like.
        expected: &'static str,
    },
}
