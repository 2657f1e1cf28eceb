//! The [`Scheme`] trait: how one provider signs its webhooks, free of any HTTP framework.
//!
//! Input is the method, the URL the provider called (for schemes that sign it), the
//! headers, the raw body bytes, the route's keys and the time. The body is never
//! re-serialised: every scheme signs the exact bytes received.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, Method};

use super::error::{SecretError, SignError, VerifyError};
use super::mac::MacOutput;
use super::secret::{Key, Keyring};

/// A received webhook request, borrowed.
#[derive(Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The HTTP method.
    pub method: &'a Method,
    /// The absolute URL the provider called (`https://host/path?query`), when known.
    /// Schemes that sign the URL (Twilio, Square) need it.
    pub url: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The raw body, exactly as received.
    pub body: &'a [u8],
}

impl fmt::Debug for WebhookRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers may carry signatures and tokens: only their names are shown.
        f.debug_struct("WebhookRequest")
            .field("method", self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The time and the timestamp window for one verification.
#[derive(Debug, Clone, Copy)]
pub struct VerifyContext {
    /// Now, in seconds since the Unix epoch.
    pub now: i64,
    /// Maximum allowed `|now - timestamp|` in seconds; `None` disables the check.
    pub tolerance: Option<u64>,
}

impl VerifyContext {
    /// A context at `now` with the scheme's default tolerance.
    pub fn new(scheme: &dyn Scheme, now: i64) -> Self {
        Self {
            now,
            tolerance: scheme.default_tolerance(),
        }
    }

    /// Replaces the tolerance (`None` disables the timestamp check).
    pub fn with_tolerance(mut self, tolerance: Option<u64>) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Checks a signed timestamp (seconds) against the window, in the past and the future.
    pub fn check_timestamp(&self, timestamp: i64) -> Result<(), VerifyError> {
        let Some(tolerance) = self.tolerance else {
            return Ok(());
        };
        let skew = self.now.saturating_sub(timestamp);
        if skew.unsigned_abs() > tolerance {
            return Err(VerifyError::TimestampOutsideWindow { skew_secs: skew });
        }
        Ok(())
    }
}

/// What a successful verification established. Inserted into the request's extensions
/// by [`VerifySignatureLayer`](super::VerifySignatureLayer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The scheme's name.
    pub scheme: &'static str,
    /// Index in the keyring of the key that matched (0 = primary).
    pub secret_index: usize,
    /// The configured id of the secret that matched (never its value).
    pub secret_id: Arc<str>,
    /// The provider's delivery id, when the scheme carries one.
    pub delivery_id: Option<String>,
    /// The signed timestamp (seconds), when the scheme carries one.
    pub timestamp: Option<i64>,
}

/// Values a signer needs besides the request.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Timestamp to sign (seconds); schemes with a timestamp need it.
    pub timestamp: i64,
    /// Delivery id to send, for schemes that carry one; a random-looking default otherwise.
    pub id: Option<String>,
}

/// What a provider would send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignOutput {
    /// Headers, in order.
    pub headers: Vec<(HeaderName, String)>,
    /// A replacement body, for schemes that carry the signature inside the body (Mailgun).
    pub body: Option<Vec<u8>>,
}

impl SignOutput {
    /// Output made of headers only.
    pub fn headers(headers: Vec<(HeaderName, String)>) -> Self {
        Self {
            headers,
            body: None,
        }
    }
}

/// Where a scheme's delivery id travels and whether its signature covers it: what the
/// replay guard can promise on a route with this scheme.
///
/// ```
/// use hookguard_layers::verify::schemes;
/// let github = schemes::by_name("github").unwrap().delivery_id_source();
/// // `X-GitHub-Delivery` is not signed: a captured delivery can be resent under fresh ids,
/// // so the replay guard stops exact resends only.
/// assert!(!github.signed && github.always_sent);
/// assert_eq!(github.headers[0], "x-github-delivery");
/// let stripe = schemes::by_name("stripe").unwrap().delivery_id_source();
/// assert!(stripe.signed && stripe.headers.is_empty()); // the event id, in the signed body
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryIdSource {
    /// The headers the id is read from, in order of preference; empty when it travels in
    /// the body, or when there is none.
    pub headers: Vec<HeaderName>,
    /// The signature covers the id: a replay under another id fails verification, so the
    /// replay guard stops every replay within its window. When `false`, anyone holding one
    /// delivery can resend it under fresh ids; the guard then stops exact resends only, and
    /// the timestamp tolerance (if the scheme signs one) is the defence.
    pub signed: bool,
    /// Every delivery carries an id: the replay guard refuses a request without one (else
    /// removing the id would slip a replay past it).
    pub always_sent: bool,
}

impl DeliveryIdSource {
    /// The scheme carries no delivery id (Slack, Zoom).
    pub fn none() -> Self {
        Self::default()
    }

    /// An id in `header` that the signature does not cover, sent with every delivery.
    pub fn unsigned_header(header: HeaderName) -> Self {
        Self {
            headers: vec![header],
            signed: false,
            always_sent: true,
        }
    }

    /// An id the signature covers, sent with every delivery: in `headers`, or in the body
    /// when none are given.
    pub fn signed(headers: Vec<HeaderName>) -> Self {
        Self {
            headers,
            signed: true,
            always_sent: true,
        }
    }

    /// Some deliveries carry no id (they pass the replay guard untracked).
    pub fn sometimes(mut self) -> Self {
        self.always_sent = false;
        self
    }

    /// Whether the scheme carries a delivery id at all.
    pub fn exists(&self) -> bool {
        self.signed || self.always_sent || !self.headers.is_empty()
    }
}

/// How one provider signs webhooks.
pub trait Scheme: Send + Sync + fmt::Debug + 'static {
    /// The scheme's name, as written in configuration and on the command line.
    fn name(&self) -> &'static str;

    /// The provider's timestamp tolerance in seconds; `None` when it signs no timestamp or
    /// publishes no window.
    fn default_tolerance(&self) -> Option<u64>;

    /// Parses one configured secret into a verification key.
    fn parse_key(&self, secret: &str) -> Result<Key, SecretError>;

    /// Parses a secret for signing; the same as [`parse_key`](Self::parse_key) for HMAC
    /// schemes, a private key for signature schemes.
    fn parse_signing_key(&self, secret: &str) -> Result<Key, SecretError> {
        self.parse_key(secret)
    }

    /// Where the delivery id travels and whether the signature covers it.
    fn delivery_id_source(&self) -> DeliveryIdSource;

    /// Whether the signature covers the URL the provider called (Twilio, Square): only
    /// then does verification build [`WebhookRequest::url`]. `true` unless a scheme says
    /// otherwise, so a scheme that needs it is never handed `None`.
    fn signs_url(&self) -> bool {
        true
    }

    /// Verifies `request` against every key, returning what was established.
    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        keys: &Keyring,
        ctx: &VerifyContext,
    ) -> Result<Verified, VerifyError>;

    /// The headers (and, rarely, body) the provider would send for `request`.
    fn sign(
        &self,
        request: &WebhookRequest<'_>,
        key: &Key,
        options: &SignOptions,
    ) -> Result<SignOutput, SignError>;
}

/// The single value of a header: missing, repeated, non-ASCII or empty values fail closed.
pub fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<&'h str, VerifyError> {
    optional_header(headers, name)?.ok_or_else(|| VerifyError::MissingHeader(name.clone()))
}

/// Like [`single_header`], but absence is not an error.
pub fn optional_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h str>, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(VerifyError::DuplicateHeader(name.clone()));
    }
    let text = value.to_str().map_err(|_| VerifyError::MalformedHeader {
        header: name.clone(),
        expected: "visible ASCII characters",
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(VerifyError::MissingHeader(name.clone()));
    }
    Ok(Some(text))
}

/// Parses a Unix timestamp in seconds from a header value.
pub fn parse_unix_seconds(text: &str, header: &HeaderName) -> Result<i64, VerifyError> {
    // Only digits: `+5`, ` 5` or `5.0` are not what any provider sends.
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::MalformedHeader {
            header: header.clone(),
            expected: "a Unix timestamp in seconds",
        });
    }
    text.parse().map_err(|_| VerifyError::MalformedHeader {
        header: header.clone(),
        expected: "a Unix timestamp in seconds",
    })
}

/// Finds the first key whose MAC (computed by `compute`) equals one of the presented
/// signatures. Every presented signature is compared in constant time.
pub fn match_mac<'k, P: AsRef<[u8]>>(
    keys: &'k Keyring,
    presented: &[P],
    compute: impl Fn(&Key) -> Option<MacOutput>,
) -> Result<(usize, &'k Arc<str>), VerifyError> {
    if keys.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    let mut usable = false;
    for (index, entry) in keys.entries().iter().enumerate() {
        let Some(mac) = compute(&entry.key) else {
            continue;
        };
        usable = true;
        // No short-circuit across signatures: check all, then decide.
        let mut hit = false;
        for p in presented {
            hit |= mac.matches(p.as_ref());
        }
        if hit {
            return Ok((index, &entry.id));
        }
    }
    if usable {
        Err(VerifyError::SignatureMismatch)
    } else {
        Err(VerifyError::SecretFormat {
            expected: "an HMAC secret",
        })
    }
}

/// The shape Stripe and Paddle share: a timestamp and a list of hex HMAC-SHA256 signatures
/// over `{timestamp}{separator}{body}`, the window checked after the MAC (an attacker
/// learns nothing about the clock). Entries that cannot be a MAC are skipped; none left is
/// `malformed`. Returns the matched key's index and id, and the timestamp.
pub fn verify_timestamped_hex_list<'k>(
    keys: &'k Keyring,
    ctx: &VerifyContext,
    timestamp: &str,
    signatures: &[&str],
    separator: &[u8],
    body: &[u8],
    malformed: impl Fn() -> VerifyError,
) -> Result<(usize, &'k Arc<str>, i64), VerifyError> {
    use super::mac::{Encoding, MacAlgorithm};
    let presented = Encoding::Hex.decode_all(signatures.iter().copied(), 32);
    if presented.is_empty() {
        return Err(malformed());
    }
    let (index, id) = match_mac(keys, &presented, |key| match key {
        Key::Mac(k) if k.algorithm() == MacAlgorithm::Sha256 => {
            Some(k.compute(&[timestamp.as_bytes(), separator, body]))
        }
        _ => None,
    })?;
    let seconds: i64 = timestamp.parse().map_err(|_| malformed())?;
    ctx.check_timestamp(seconds)?;
    Ok((index, id, seconds))
}
