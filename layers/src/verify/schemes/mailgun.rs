//! `mailgun`: the signature travels inside the body.
//!
//! Mailgun signs `timestamp` followed by `token` (no separator) with HMAC-SHA256 keyed with
//! the account's HTTP webhook signing key, hex-encoded. Where the three values are depends on
//! the webhook:
//!
//! - JSON webhooks (`application/json`): a top-level `"signature"` object,
//!   `{"signature": {"timestamp": "…", "token": "…", "signature": "<hex>"}, "event-data": {…}}`.
//!   Events of a subaccount also carry `"parent-signature"`, the same HMAC keyed with the
//!   parent account's key; either one matching a configured key is accepted.
//! - Legacy webhooks and routes (`application/x-www-form-urlencoded`, or
//!   `multipart/form-data` when a routed message has attachments): form fields `timestamp`,
//!   `token` and `signature`.
//!
//! The format follows the Content-Type; without a recognised one, a body starting with `{`
//! is read as JSON and anything else as a form.
//!
//! **What the signature does not cover:** the event data. A captured signature object can
//! be attached to any other body, so run the replay guard on this route: the delivery id is
//! the `token` — the signed, random, 50-character value Mailgun's docs say to remember and
//! refuse the second time. (`event-data.id` is not signed, so it is not used.)
//!
//! Tolerance: none by default. Mailgun publishes no window; its "Securing Webhooks" page
//! calls the timestamp check optional and warns that webhook processing can be delayed
//! outside Mailgun's control, so a check should not be aggressive. Set one per route if
//! wanted.
//!
//! ```
//! use hookguard_layers::verify::schemes::mailgun::Mailgun;
//! use hookguard_layers::verify::{Keyring, Scheme, VerifyContext, WebhookRequest};
//!
//! // The vector of mailgun-php's WebhookTest.
//! let keys = Keyring::from_secrets(&Mailgun, ["key-3ax6xnjp29jd6fds4gc373sgvjxteol0"]).unwrap();
//! let body = br#"{"signature":{"timestamp":"1403645220","token":"5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6","signature":"9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33"},"event-data":{"event":"delivered"}}"#;
//! let mut headers = http::HeaderMap::new();
//! headers.insert("content-type", "application/json".parse().unwrap());
//! let request = WebhookRequest { method: &http::Method::POST, url: None, headers: &headers, body };
//! let verified = Mailgun.verify(&request, &keys, &VerifyContext::new(&Mailgun, 0)).unwrap();
//! assert_eq!(verified.delivery_id.as_deref(), Some("5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6"));
//! ```

use http::header::CONTENT_TYPE;
use http::HeaderMap;
use serde_json::Value;

use crate::verify::error::{SecretError, SignError, VerifyError};
use crate::verify::form;
use crate::verify::json::top_level_field;
use crate::verify::mac::MacAlgorithm;
use crate::verify::scheme::{
    match_mac, optional_header, Scheme, SignOptions, SignOutput, Verified, VerifyContext,
    WebhookRequest,
};
use crate::verify::secret::{secret_error, Key, Keyring};

mod json;
mod multipart;

/// The `mailgun` scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mailgun;

/// How a Mailgun body is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Format {
    Json,
    Form,
    Multipart(String),
}

/// What each format calls its fields, for errors that name the field at fault.
struct Expect {
    timestamp: &'static str,
    token: &'static str,
    signature: &'static str,
}

const JSON: Expect = Expect {
    timestamp: "signature.timestamp: Unix seconds, as a string or an integer",
    token: "signature.token: a non-empty string",
    signature: "signature.signature: a hex HMAC-SHA256 (64 hex digits)",
};

const FORM: Expect = Expect {
    timestamp: "exactly one timestamp field: Unix seconds",
    token: "exactly one non-empty token field",
    signature: "exactly one signature field: a hex HMAC-SHA256 (64 hex digits)",
};

/// The field values as found, before validation.
#[derive(Default)]
struct Raw {
    timestamp: Option<String>,
    token: Option<String>,
    signature: Option<String>,
    parent_signature: Option<String>,
}

impl Raw {
    /// The slot for a form field name, with the error a second occurrence gives.
    fn form_slot(&mut self, name: &str) -> Option<(&mut Option<String>, &'static str)> {
        match name {
            "timestamp" => Some((&mut self.timestamp, FORM.timestamp)),
            "token" => Some((&mut self.token, FORM.token)),
            "signature" => Some((&mut self.signature, FORM.signature)),
            _ => None,
        }
    }

    /// Stores a form field; a repeated field is ambiguous and refused.
    fn set_form_field(
        &mut self,
        name: &str,
        value: impl FnOnce() -> String,
    ) -> Result<(), VerifyError> {
        if let Some((slot, expected)) = self.form_slot(name) {
            if slot.is_some() {
                return Err(VerifyError::MalformedBody { expected });
            }
            *slot = Some(value());
        }
        Ok(())
    }
}

/// Validated values: the signed text and the presented MACs.
struct Presented {
    timestamp: String,
    token: String,
    signature: [u8; 32],
    parent_signature: Option<[u8; 32]>,
}

fn decode_mac(text: &str) -> Option<[u8; 32]> {
    let mut mac = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut mac).ok()?;
    Some(mac)
}

fn validate(raw: Raw, expect: &Expect) -> Result<Presented, VerifyError> {
    let malformed = |expected| VerifyError::MalformedBody { expected };
    let timestamp = raw
        .timestamp
        .filter(|t| !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| malformed(expect.timestamp))?;
    let token = raw
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed(expect.token))?;
    let signature = raw
        .signature
        .as_deref()
        .and_then(decode_mac)
        .ok_or_else(|| malformed(expect.signature))?;
    // Optional and informative: an undecodable parent signature is ignored, not fatal.
    let parent_signature = raw.parent_signature.as_deref().and_then(decode_mac);
    Ok(Presented {
        timestamp,
        token,
        signature,
        parent_signature,
    })
}

fn format_of(headers: &HeaderMap, body: &[u8]) -> Result<Format, VerifyError> {
    if let Some(content_type) = optional_header(headers, &CONTENT_TYPE)? {
        let mut params = content_type.split(';');
        let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
        if media == "application/json"
            || (media.starts_with("application/") && media.ends_with("+json"))
        {
            return Ok(Format::Json);
        }
        if media == "application/x-www-form-urlencoded" {
            return Ok(Format::Form);
        }
        if media == "multipart/form-data" {
            let boundary = params
                .find_map(|param| {
                    let (key, value) = param.split_once('=')?;
                    key.trim()
                        .eq_ignore_ascii_case("boundary")
                        .then(|| value.trim().trim_matches('"').to_owned())
                })
                // RFC 2046: 1 to 70 characters.
                .filter(|b| !b.is_empty() && b.len() <= 70)
                .ok_or(VerifyError::MalformedHeader {
                    header: CONTENT_TYPE,
                    expected: "multipart/form-data with a boundary parameter of 1 to 70 characters",
                })?;
            return Ok(Format::Multipart(boundary));
        }
    }
    // No usable Content-Type: Mailgun's JSON webhooks are objects, everything else a form.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    Ok(if first == Some(&b'{') {
        Format::Json
    } else {
        Format::Form
    })
}

/// A JSON signature field as text: a string, or (timestamp only) an integer.
fn json_text(object: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    match object.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if field == "timestamp" && n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn json_fields(body: &[u8]) -> Result<Presented, VerifyError> {
    let Some(Value::Object(object)) = top_level_field(body, "signature") else {
        return Err(VerifyError::MalformedBody {
            expected:
                "a JSON object with a top-level \"signature\" object (timestamp, token, signature)",
        });
    };
    let raw = Raw {
        timestamp: json_text(&object, "timestamp"),
        token: json_text(&object, "token"),
        signature: json_text(&object, "signature"),
        parent_signature: json_text(&object, "parent-signature"),
    };
    validate(raw, &JSON)
}

fn form_fields(body: &[u8]) -> Result<Presented, VerifyError> {
    let mut raw = Raw::default();
    for (name, value) in form::raw_pairs(body) {
        // Names are decoded so `t%69mestamp` cannot hide a second timestamp; values only
        // when needed (a routed message's body-html can be large).
        raw.set_form_field(&form::decode_lossy(name), || {
            form::decode_lossy(value).into_owned()
        })?;
    }
    validate(raw, &FORM)
}

fn multipart_fields(body: &[u8], boundary: &str) -> Result<Presented, VerifyError> {
    let parts = multipart::parse(body, boundary).ok_or(VerifyError::MalformedBody {
        expected: "a multipart/form-data body delimited by the Content-Type boundary",
    })?;
    let mut raw = Raw::default();
    for part in parts.parts.iter().filter(|p| !p.is_file) {
        let Some(name) = &part.name else { continue };
        let content = &body[part.content.clone()];
        // A field that is not UTF-8 can be neither a timestamp, a token nor hex.
        raw.set_form_field(name, || String::from_utf8_lossy(content).into_owned())?;
    }
    validate(raw, &FORM)
}

impl Scheme for Mailgun {
    fn name(&self) -> &'static str {
        "mailgun"
    }

    fn default_tolerance(&self) -> Option<u64> {
        None
    }

    fn delivery_id_source(&self) -> crate::verify::scheme::DeliveryIdSource {
        // The `token`, signed with the timestamp; every event carries one.
        crate::verify::scheme::DeliveryIdSource::signed(Vec::new())
    }

    fn parse_key(&self, secret: &str) -> Result<Key, SecretError> {
        if secret.is_empty() {
            return Err(secret_error(
                "empty",
                "the Mailgun HTTP webhook signing key",
            ));
        }
        Ok(Key::mac(MacAlgorithm::Sha256, secret.as_bytes()))
    }

    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        keys: &Keyring,
        ctx: &VerifyContext,
    ) -> Result<Verified, VerifyError> {
        let presented = match format_of(request.headers, request.body)? {
            Format::Json => json_fields(request.body)?,
            Format::Form => form_fields(request.body)?,
            Format::Multipart(boundary) => multipart_fields(request.body, &boundary)?,
        };
        let mut candidates: Vec<&[u8]> = vec![&presented.signature];
        if let Some(parent) = &presented.parent_signature {
            candidates.push(parent);
        }
        let signed: [&[u8]; 2] = [presented.timestamp.as_bytes(), presented.token.as_bytes()];
        let (secret_index, secret_id) = match_mac(keys, &candidates, |key| match key {
            Key::Mac(k) if k.algorithm() == MacAlgorithm::Sha256 => Some(k.compute(&signed)),
            _ => None,
        })?;
        // Validated as at most 18 digits, so this always parses.
        let timestamp: i64 =
            presented
                .timestamp
                .parse()
                .map_err(|_| VerifyError::MalformedBody {
                    expected: "a timestamp in Unix seconds",
                })?;
        ctx.check_timestamp(timestamp)?;
        Ok(Verified {
            scheme: "mailgun",
            secret_index,
            secret_id: secret_id.clone(),
            delivery_id: Some(presented.token),
            timestamp: Some(timestamp),
        })
    }

    /// Returns the body with the signature put in: for JSON, the top-level `"signature"`
    /// object is inserted (or replaced); for forms, any `timestamp`, `token` and `signature`
    /// fields are removed and new ones appended. The token is `options.id`, else a
    /// 50-character value derived from the body and timestamp.
    fn sign(
        &self,
        request: &WebhookRequest<'_>,
        key: &Key,
        options: &SignOptions,
    ) -> Result<SignOutput, SignError> {
        let Key::Mac(mac) = key else {
            return Err(SignError::KeyCannotSign {
                expected: "the Mailgun HTTP webhook signing key",
            });
        };
        let timestamp = options.timestamp.to_string();
        let token = options
            .id
            .clone()
            .unwrap_or_else(|| default_token(request.body, options.timestamp));
        let signature = mac
            .compute(&[timestamp.as_bytes(), token.as_bytes()])
            .to_hex();
        let fields = Fields {
            timestamp: &timestamp,
            token: &token,
            signature: &signature,
        };
        let format = format_of(request.headers, request.body).map_err(|_| SignError::Body {
            expected: "a single Content-Type header; multipart/form-data needs a boundary",
        })?;
        let body = match format {
            Format::Json => json::sign(request.body, &fields)?,
            Format::Form => sign_form(request.body, &fields),
            Format::Multipart(boundary) => multipart::sign(request.body, &boundary, &fields)?,
        };
        Ok(SignOutput {
            headers: Vec::new(),
            body: Some(body),
        })
    }
}

/// The three values a signer writes.
struct Fields<'f> {
    timestamp: &'f str,
    token: &'f str,
    signature: &'f str,
}

impl Fields<'_> {
    fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("timestamp", self.timestamp),
            ("token", self.token),
            ("signature", self.signature),
        ]
    }
}

/// A 50-character token (Mailgun's length), unique per body and timestamp.
fn default_token(body: &[u8], timestamp: i64) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(b"mailgun-token")
        .chain_update(timestamp.to_be_bytes())
        .chain_update(body)
        .finalize();
    hex::encode(&digest[..25])
}

fn sign_form(body: &[u8], fields: &Fields<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 160);
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        // One pair: `pair` holds no `&` and is not empty.
        let (name, _) = form::raw_pairs(pair).next().unwrap_or_default();
        let name = form::decode_lossy(name);
        if matches!(&*name, "timestamp" | "token" | "signature") {
            continue;
        }
        out.extend_from_slice(pair);
        out.push(b'&');
    }
    let mut signed_fields = String::new();
    for (name, value) in fields.pairs() {
        form::append_pair(&mut signed_fields, name, value);
    }
    out.extend_from_slice(signed_fields.as_bytes());
    out
}

#[cfg(test)]
mod tests;
