//! `hmac`: the generic HMAC scheme, and the engine behind every provider that signs with
//! one HMAC in one header (GitHub, Bitbucket, Intercom, Shopify, Slack, Zoom, Square,
//! Twitch are presets of it, each in its own file with its vectors).
//!
//! Configurable: header name, algorithm (sha1/sha256/sha512), hex or base64, an optional
//! prefix (`sha256=`), an optional timestamp header (Unix seconds, milliseconds or RFC 3339)
//! and a signed-payload template such as `{timestamp}.{body}`.
//!
//! ```
//! use hookguard_layers::verify::schemes::hmac::HmacScheme;
//! use hookguard_layers::verify::{Keyring, Scheme, SignOptions, VerifyContext, WebhookRequest};
//!
//! // The default generic form: `X-Webhook-Signature: sha256=<hex>` over `{timestamp}.{body}`.
//! let scheme = HmacScheme::generic_default();
//! let keys = Keyring::from_secrets(&scheme, ["s3cret"]).unwrap();
//! let body = br#"{"event":"ping"}"#;
//! let mut req = WebhookRequest { method: &http::Method::POST, url: None, headers: &http::HeaderMap::new(), body };
//! let signed = scheme.sign(&req, &keys.entries()[0].key, &SignOptions { timestamp: 1_700_000_000, id: None }).unwrap();
//! let headers: http::HeaderMap = signed.headers.into_iter().map(|(n, v)| (n, v.parse().unwrap())).collect();
//! req.headers = &headers;
//! let ok = scheme.verify(&req, &keys, &VerifyContext::new(&scheme, 1_700_000_010)).unwrap();
//! assert_eq!(ok.secret_index, 0);
//! ```

use std::borrow::Cow;

use http::HeaderName;

use crate::verify::error::{SecretError, SignError, VerifyError};
use crate::verify::json::top_level_string;
use crate::verify::mac::{Encoding, MacAlgorithm};
use crate::verify::rfc3339;
use crate::verify::scheme::{
    match_mac, optional_header, parse_unix_seconds, single_header, DeliveryIdSource, Scheme,
    SignOptions, SignOutput, Verified, VerifyContext, WebhookRequest,
};
use crate::verify::secret::{secret_error, Key, Keyring};

/// How the timestamp header is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// Whole seconds since the epoch.
    UnixSeconds,
    /// Milliseconds since the epoch.
    UnixMillis,
    /// RFC 3339 (`2023-01-01T12:00:00.123Z`), signed exactly as sent.
    Rfc3339,
}

/// Where a scheme's delivery id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryId {
    /// The scheme carries none.
    None,
    /// A request header.
    Header(HeaderName),
    /// A top-level string field of a JSON body.
    BodyField(&'static str),
}

/// One piece of the signed payload.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Body,
    Timestamp,
    Id,
    Url,
}

/// An error in a generic HMAC scheme's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacOptionError {
    /// The option at fault.
    pub option: &'static str,
    /// What is wrong.
    pub problem: String,
    /// What is accepted.
    pub expected: &'static str,
}

// Display and Error by hand rather than derived with `thiserror`: its proc-macro stack
// would be six of the `verify` feature's crates.
impl std::fmt::Display for HmacOptionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            option,
            problem,
            expected,
        } = self;
        write!(
            f,
            "hmac scheme option {option}: {problem}; expected {expected}"
        )
    }
}

impl std::error::Error for HmacOptionError {}

/// One HMAC in one header, over a payload built from a template.
#[derive(Debug, Clone)]
pub struct HmacScheme {
    name: &'static str,
    header: HeaderName,
    header_alias: Option<HeaderName>,
    algorithm: MacAlgorithm,
    encoding: Encoding,
    prefix: Cow<'static, str>,
    timestamp: Option<(HeaderName, TimestampFormat)>,
    id_header: Option<HeaderName>,
    template: Vec<Part>,
    delivery_id: DeliveryId,
    /// Some deliveries carry no id (Shopify's events webhooks).
    delivery_id_optional: bool,
    tolerance: Option<u64>,
}

impl HmacScheme {
    /// A scheme that signs the body alone, with no prefix and no timestamp.
    pub fn new(
        name: &'static str,
        header: HeaderName,
        algorithm: MacAlgorithm,
        encoding: Encoding,
    ) -> Self {
        Self {
            name,
            header,
            header_alias: None,
            algorithm,
            encoding,
            prefix: Cow::Borrowed(""),
            timestamp: None,
            id_header: None,
            template: vec![Part::Body],
            delivery_id: DeliveryId::None,
            delivery_id_optional: false,
            tolerance: None,
        }
    }

    /// The generic scheme's default: `X-Webhook-Signature: sha256=<hex>` over
    /// `{timestamp}.{body}` with `X-Webhook-Timestamp` (Unix seconds), tolerance 300 s.
    /// This is also the form hookguard signs its own outbound webhooks with.
    pub fn generic_default() -> Self {
        Self::new(
            "hmac",
            HeaderName::from_static("x-webhook-signature"),
            MacAlgorithm::Sha256,
            Encoding::Hex,
        )
        .prefix("sha256=")
        .timestamp_header(
            HeaderName::from_static("x-webhook-timestamp"),
            TimestampFormat::UnixSeconds,
        )
        .template("{timestamp}.{body}")
        .expect("static template is valid")
        .tolerance(Some(300))
    }

    /// The generic `hmac` scheme from user options.
    pub fn generic(options: &HmacOptions) -> Result<Self, HmacOptionError> {
        let header = parse_header_name("header", &options.header)?;
        let algorithm =
            MacAlgorithm::from_name(&options.algorithm).ok_or_else(|| HmacOptionError {
                option: "algorithm",
                problem: format!("unknown algorithm {:?}", options.algorithm),
                expected: "sha1, sha256 or sha512",
            })?;
        let encoding = match options.encoding.to_ascii_lowercase().as_str() {
            "hex" => Encoding::Hex,
            "base64" => Encoding::Base64,
            other => {
                return Err(HmacOptionError {
                    option: "encoding",
                    problem: format!("unknown encoding {other:?}"),
                    expected: "hex or base64",
                })
            }
        };
        let mut scheme =
            Self::new("hmac", header, algorithm, encoding).prefix(options.prefix.clone());
        if let Some(ts) = &options.timestamp_header {
            scheme = scheme.timestamp_header(
                parse_header_name("timestamp_header", ts)?,
                options.timestamp_format,
            );
        }
        if let Some(id) = &options.id_header {
            let id = parse_header_name("id_header", id)?;
            scheme.id_header = Some(id.clone());
            scheme.delivery_id = DeliveryId::Header(id);
        }
        let template = options
            .payload
            .as_deref()
            .unwrap_or(if scheme.timestamp.is_some() {
                "{timestamp}.{body}"
            } else {
                "{body}"
            });
        scheme = scheme.template(template)?;
        scheme.tolerance = if scheme.timestamp.is_some() {
            Some(options.tolerance.unwrap_or(300))
        } else {
            None
        };
        Ok(scheme)
    }

    /// Sets the scheme's name (presets).
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// A second name the provider may send the signature under (Shopify's events webhooks
    /// drop the `X-`). When both are present they must carry the same value.
    pub fn header_alias(mut self, alias: HeaderName) -> Self {
        self.header_alias = Some(alias);
        self
    }

    /// The signature header's value, from its name or its alias.
    fn signature_value<'h>(&self, request: &WebhookRequest<'h>) -> Result<&'h str, VerifyError> {
        let Some(alias) = &self.header_alias else {
            return single_header(request.headers, &self.header);
        };
        match (
            optional_header(request.headers, &self.header)?,
            optional_header(request.headers, alias)?,
        ) {
            (Some(value), None) | (None, Some(value)) => Ok(value),
            (Some(value), Some(other)) if value == other => Ok(value),
            // Two signatures that disagree: whichever one a check picked, the other could
            // be what the app reads. Fail closed.
            (Some(_), Some(_)) => Err(VerifyError::MalformedHeader {
                header: alias.clone(),
                expected: "the same value as the other signature header, or only one of them",
            }),
            (None, None) => Err(VerifyError::MissingHeader(self.header.clone())),
        }
    }

    /// A prefix the header value starts with (`sha256=`), stripped before decoding.
    pub fn prefix(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// A header carrying the signed timestamp.
    pub fn timestamp_header(mut self, header: HeaderName, format: TimestampFormat) -> Self {
        self.timestamp = Some((header, format));
        self
    }

    /// A header carrying a signed delivery id (`{id}` in the template), also reported as
    /// the delivery id.
    pub fn id_header(mut self, header: HeaderName) -> Self {
        self.delivery_id = DeliveryId::Header(header.clone());
        self.id_header = Some(header);
        self
    }

    /// Where the delivery id comes from, when it is not signed.
    pub fn delivery_id(mut self, source: DeliveryId) -> Self {
        self.delivery_id = source;
        self
    }

    /// Some of the provider's deliveries carry no id: the replay guard lets those pass
    /// untracked instead of refusing them.
    pub fn delivery_id_optional(mut self) -> Self {
        self.delivery_id_optional = true;
        self
    }

    /// The provider's tolerance in seconds.
    pub fn tolerance(mut self, tolerance: Option<u64>) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The signed payload: literals and `{body}`, `{timestamp}`, `{id}`, `{url}`.
    pub fn template(mut self, template: &str) -> Result<Self, HmacOptionError> {
        self.template = parse_template(template)?;
        let uses = |p: &Part| self.template.contains(p);
        if uses(&Part::Timestamp) && self.timestamp.is_none() {
            return Err(HmacOptionError {
                option: "payload",
                problem: "uses {timestamp} but no timestamp_header is set".into(),
                expected: "a timestamp_header, or a template without {timestamp}",
            });
        }
        if uses(&Part::Id) && self.id_header.is_none() {
            return Err(HmacOptionError {
                option: "payload",
                problem: "uses {id} but no id_header is set".into(),
                expected: "an id_header, or a template without {id}",
            });
        }
        Ok(self)
    }

    fn timestamp_value<'h>(
        &self,
        request: &WebhookRequest<'h>,
    ) -> Result<Option<(&'h str, i64)>, VerifyError> {
        let Some((header, format)) = &self.timestamp else {
            return Ok(None);
        };
        let text = single_header(request.headers, header)?;
        let seconds = match format {
            TimestampFormat::UnixSeconds => parse_unix_seconds(text, header)?,
            TimestampFormat::UnixMillis => parse_unix_seconds(text, header)? / 1000,
            TimestampFormat::Rfc3339 => {
                rfc3339::parse(text).ok_or_else(|| VerifyError::MalformedHeader {
                    header: header.clone(),
                    expected: "an RFC 3339 timestamp",
                })?
            }
        };
        Ok(Some((text, seconds)))
    }

    fn payload<'p>(
        &'p self,
        body: &'p [u8],
        timestamp: &'p str,
        id: &'p str,
        url: &'p str,
    ) -> Vec<&'p [u8]> {
        self.template
            .iter()
            .map(|part| match part {
                Part::Literal(s) => s.as_bytes(),
                Part::Body => body,
                Part::Timestamp => timestamp.as_bytes(),
                Part::Id => id.as_bytes(),
                Part::Url => url.as_bytes(),
            })
            .collect()
    }

    fn needs_url(&self) -> bool {
        self.template.contains(&Part::Url)
    }

    fn delivery_id_of(&self, request: &WebhookRequest<'_>) -> Option<String> {
        match &self.delivery_id {
            DeliveryId::None => None,
            DeliveryId::Header(h) => optional_header(request.headers, h)
                .ok()
                .flatten()
                .map(str::to_owned),
            DeliveryId::BodyField(f) => top_level_string(request.body, f),
        }
    }
}

impl Scheme for HmacScheme {
    fn name(&self) -> &'static str {
        self.name
    }

    fn signs_url(&self) -> bool {
        self.needs_url()
    }

    fn default_tolerance(&self) -> Option<u64> {
        self.tolerance
    }

    fn delivery_id_source(&self) -> DeliveryIdSource {
        let source = match &self.delivery_id {
            DeliveryId::None => return DeliveryIdSource::none(),
            // `{id}` in the template: the id header is signed.
            DeliveryId::Header(h) if self.template.contains(&Part::Id) => {
                DeliveryIdSource::signed(vec![h.clone()])
            }
            DeliveryId::Header(h) => DeliveryIdSource::unsigned_header(h.clone()),
            DeliveryId::BodyField(_) if self.template.contains(&Part::Body) => {
                DeliveryIdSource::signed(Vec::new())
            }
            DeliveryId::BodyField(_) => DeliveryIdSource {
                always_sent: true,
                ..DeliveryIdSource::none()
            },
        };
        if self.delivery_id_optional {
            source.sometimes()
        } else {
            source
        }
    }

    fn parse_key(&self, secret: &str) -> Result<Key, SecretError> {
        if secret.is_empty() {
            return Err(secret_error("empty", "a non-empty shared secret"));
        }
        Ok(Key::mac(self.algorithm, secret.as_bytes()))
    }

    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        keys: &Keyring,
        ctx: &VerifyContext,
    ) -> Result<Verified, VerifyError> {
        let value = self.signature_value(request)?;
        let malformed = || VerifyError::MalformedHeader {
            header: self.header.clone(),
            expected: self.expected_format(),
        };
        let encoded = strip_prefix_ignore_case(value, &self.prefix).ok_or_else(malformed)?;
        let mut buf = [0u8; 64];
        let presented = self
            .encoding
            .decode(encoded, &mut buf)
            .ok_or_else(malformed)?;
        if presented.len() != self.algorithm.output_len() {
            return Err(malformed());
        }
        let timestamp = self.timestamp_value(request)?;
        let id = match &self.id_header {
            Some(h) => single_header(request.headers, h)?,
            None => "",
        };
        let url = if self.needs_url() {
            request.url.ok_or(VerifyError::UrlUnknown)?
        } else {
            ""
        };
        let payload = self.payload(request.body, timestamp.map_or("", |t| t.0), id, url);
        let (secret_index, secret_id) = match_mac(keys, &[presented], |key| match key {
            Key::Mac(k) if k.algorithm() == self.algorithm => Some(k.compute(&payload)),
            _ => None,
        })?;
        // The window is checked after the MAC: an attacker learns nothing about the clock.
        if let Some((_, seconds)) = timestamp {
            ctx.check_timestamp(seconds)?;
        }
        Ok(Verified {
            scheme: self.name,
            secret_index,
            secret_id: secret_id.clone(),
            delivery_id: self.delivery_id_of(request),
            timestamp: timestamp.map(|t| t.1),
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
                expected: "a shared secret",
            });
        };
        let timestamp = match &self.timestamp {
            None => String::new(),
            Some((_, TimestampFormat::UnixSeconds)) => options.timestamp.to_string(),
            Some((_, TimestampFormat::UnixMillis)) => (options.timestamp * 1000).to_string(),
            Some((_, TimestampFormat::Rfc3339)) => {
                rfc3339::format(options.timestamp).unwrap_or_default()
            }
        };
        let id = options
            .id
            .clone()
            .unwrap_or_else(|| default_delivery_id(request.body, options.timestamp));
        let url = if self.needs_url() {
            request.url.ok_or(SignError::UrlRequired)?
        } else {
            ""
        };
        let signature = mac.compute(&self.payload(request.body, &timestamp, &id, url));
        let mut headers = vec![(
            self.header.clone(),
            format!("{}{}", self.prefix, self.encoding.encode(&signature)),
        )];
        if let Some((h, _)) = &self.timestamp {
            headers.push((h.clone(), timestamp));
        }
        if let DeliveryId::Header(h) = &self.delivery_id {
            headers.push((h.clone(), id));
        }
        Ok(SignOutput::headers(headers))
    }
}

impl HmacScheme {
    fn expected_format(&self) -> &'static str {
        match (self.encoding, self.prefix.is_empty()) {
            (Encoding::Hex, true) => "a hex HMAC of the right length",
            (Encoding::Hex, false) => "the scheme's prefix then a hex HMAC of the right length",
            (Encoding::Base64, true) => "a base64 HMAC of the right length",
            (Encoding::Base64, false) => {
                "the scheme's prefix then a base64 HMAC of the right length"
            }
        }
    }
}

/// Options of the generic `hmac` scheme (what the config file and CLI give).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacOptions {
    /// Header carrying the signature.
    pub header: String,
    /// `sha1`, `sha256` or `sha512`.
    pub algorithm: String,
    /// `hex` or `base64`.
    pub encoding: String,
    /// Prefix before the encoded MAC, e.g. `sha256=`.
    pub prefix: String,
    /// Header carrying a signed timestamp.
    pub timestamp_header: Option<String>,
    /// How the timestamp is written.
    pub timestamp_format: TimestampFormat,
    /// Header carrying a delivery id (usable as `{id}`).
    pub id_header: Option<String>,
    /// Signed payload template; default `{timestamp}.{body}` with a timestamp, else `{body}`.
    pub payload: Option<String>,
    /// Tolerance in seconds when a timestamp is signed (default 300).
    pub tolerance: Option<u64>,
}

impl Default for HmacOptions {
    fn default() -> Self {
        Self {
            header: "X-Webhook-Signature".into(),
            algorithm: "sha256".into(),
            encoding: "hex".into(),
            prefix: "sha256=".into(),
            timestamp_header: Some("X-Webhook-Timestamp".into()),
            timestamp_format: TimestampFormat::UnixSeconds,
            id_header: None,
            payload: None,
            tolerance: None,
        }
    }
}

fn parse_header_name(option: &'static str, name: &str) -> Result<HeaderName, HmacOptionError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| HmacOptionError {
        option,
        problem: format!("{name:?} is not a valid header name"),
        expected: "an HTTP header name such as X-Signature",
    })
}

fn parse_template(template: &str) -> Result<Vec<Part>, HmacOptionError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let close = rest[open..].find('}').ok_or_else(|| HmacOptionError {
            option: "payload",
            problem: format!(
                "unclosed '{{' at byte {}",
                template.len() - rest.len() + open
            ),
            expected: "placeholders {body}, {timestamp}, {id}, {url}",
        })? + open;
        parts.push(match &rest[open + 1..close] {
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            "url" => Part::Url,
            other => {
                return Err(HmacOptionError {
                    option: "payload",
                    problem: format!("unknown placeholder {{{other}}}"),
                    expected: "placeholders {body}, {timestamp}, {id}, {url}",
                })
            }
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    if !parts.contains(&Part::Body) {
        return Err(HmacOptionError {
            option: "payload",
            problem: "the template does not sign the body".into(),
            expected: "a template containing {body}",
        });
    }
    Ok(parts)
}

fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// A deterministic, unique-looking delivery id for `sign` when none is given.
pub(crate) fn default_delivery_id(body: &[u8], timestamp: i64) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(timestamp.to_be_bytes())
        .chain_update(body)
        .finalize();
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests;
