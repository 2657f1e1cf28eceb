//! `twilio`: `X-Twilio-Signature: <base64>`, HMAC-SHA1 keyed with the account's auth token
//! over the URL Twilio called followed, for form bodies, by every POST parameter sorted by
//! name, each written as name then value with nothing between.
//!
//! JSON bodies are not signed as parameters: Twilio appends `bodySHA256=<hex SHA-256 of the
//! body>` to the URL, signs the URL alone, and the receiver checks the hash against the body.
//!
//! As the official RequestValidators (twilio-python `twilio/request_validator.py`, twilio-node
//! `src/webhooks/webhooks.ts`) do, the URL is tried as given, without its port, and with the
//! scheme's standard port (443 for https, 80 otherwise) added, because Twilio's signers are
//! not consistent about ports. Repeated form parameters sign each distinct value once, in
//! sorted order, as both SDKs do.
//!
//! Delivery id: `I-Twilio-Idempotency-Token`. Twilio signs no timestamp.

use std::borrow::Cow;

use http::{header, HeaderName};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::hmac::default_delivery_id;
use crate::verify::error::{SecretError, SignError, VerifyError};
use crate::verify::form;
use crate::verify::mac::{Encoding, MacAlgorithm, MacKey};
use crate::verify::scheme::{
    optional_header, single_header, Scheme, SignOptions, SignOutput, Verified, VerifyContext,
    WebhookRequest,
};
use crate::verify::secret::{secret_error, Key, Keyring};

const SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");
const IDEMPOTENCY_TOKEN: HeaderName = HeaderName::from_static("i-twilio-idempotency-token");
const FORM: &str = "application/x-www-form-urlencoded";
const BODY_HASH_PARAM: &str = "bodySHA256";

/// The `twilio` scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Twilio;

/// What Twilio signs after the URL.
#[derive(Debug, PartialEq, Eq)]
enum Signed {
    /// Form parameters, sorted by name then value, each distinct pair once.
    Params(Vec<(String, String)>),
    /// Nothing: the URL carries `bodySHA256`, the body's hash (checked separately).
    UrlOnly { body_sha256: String },
}

impl Signed {
    /// The signed bytes after the URL, as slices of the parameters.
    fn parts(&self) -> Vec<&[u8]> {
        match self {
            Signed::Params(params) => params
                .iter()
                .flat_map(|(name, value)| [name.as_bytes(), value.as_bytes()])
                .collect(),
            Signed::UrlOnly { .. } => Vec::new(),
        }
    }
}

/// Why the request's URL or body cannot be turned into what Twilio signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsignable {
    /// `bodySHA256` appears more than once in the URL: which one Twilio added is ambiguous.
    RepeatedBodyHash,
    /// A non-empty body that is neither a form nor covered by `bodySHA256`.
    NotForm,
    /// A form body whose decoded names or values are not UTF-8.
    FormNotUtf8,
}

/// What is signed for `url` and `body`. `content_type` is the request's, when it has one.
fn signed_content(
    url: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Signed, Unsignable> {
    if let Some(body_sha256) = body_hash_param(url)? {
        return Ok(Signed::UrlOnly { body_sha256 });
    }
    if body.is_empty() {
        return Ok(Signed::Params(Vec::new()));
    }
    // Anything else than a form would go unsigned: refuse rather than sign the URL alone.
    let is_form = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case(FORM))
    });
    if !is_form {
        return Err(Unsignable::NotForm);
    }
    let mut params = decode_form(body).ok_or(Unsignable::FormNotUtf8)?;
    // Both SDKs sort names, then sort the distinct values of each name. Sorting pairs and
    // dropping duplicates gives that order; Rust orders strings by code point, as Python.
    params.sort_unstable();
    params.dedup();
    Ok(Signed::Params(params))
}

/// The `bodySHA256` query parameter of `url`, if it has exactly one.
fn body_hash_param(url: &str) -> Result<Option<String>, Unsignable> {
    let Some((_, query)) = url.split_once('?') else {
        return Ok(None);
    };
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let mut found = None;
    for (name, value) in form::raw_pairs(query.as_bytes()) {
        if form::decode_lossy(name) == BODY_HASH_PARAM {
            if found.is_some() {
                return Err(Unsignable::RepeatedBodyHash);
            }
            found = Some(form::decode_lossy(value).into_owned());
        }
    }
    Ok(found)
}

/// Decodes an `application/x-www-form-urlencoded` body into (name, value) pairs, refusing
/// invalid UTF-8 (see [`form::decode`]).
fn decode_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    form::raw_pairs(body)
        .map(|(name, value)| Some((form::decode(name)?, form::decode(value)?)))
        .collect()
}

/// The URLs to try: as given, then without its port or with the standard port added (the
/// SDKs try exactly these two forms; one of them is the URL as given).
fn candidate_urls(url: &str) -> Vec<Cow<'_, str>> {
    let mut urls = vec![Cow::Borrowed(url)];
    let Some((scheme, rest)) = url.split_once("://") else {
        return urls;
    };
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    // The host starts after any `user:password@`.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    // An IPv6 literal `[::1]` contains colons; only a colon after `]` starts a port.
    let port_colon = match host_port.rfind(']') {
        Some(close) => host_port[close..].find(':').map(|c| close + c),
        None => host_port.find(':'),
    };
    let offset = scheme.len() + 3 + host_start;
    let variant = match port_colon {
        Some(colon) => {
            let (start, end) = (offset + colon, offset + host_port.len());
            format!("{}{}", &url[..start], &url[end..])
        }
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                ":443"
            } else {
                ":80"
            };
            let end = offset + host_port.len();
            format!("{}{port}{}", &url[..end], &url[end..])
        }
    };
    if variant != url {
        urls.push(Cow::Owned(variant));
    }
    urls
}

fn hex_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn sha1_key(key: &Key) -> Option<&MacKey> {
    match key {
        Key::Mac(k) if k.algorithm() == MacAlgorithm::Sha1 => Some(k),
        _ => None,
    }
}

impl Scheme for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn default_tolerance(&self) -> Option<u64> {
        None
    }

    fn delivery_id_source(&self) -> crate::verify::scheme::DeliveryIdSource {
        // `I-Twilio-Idempotency-Token` is not part of what Twilio signs (URL and parameters),
        // and not every product sends it.
        crate::verify::scheme::DeliveryIdSource::unsigned_header(IDEMPOTENCY_TOKEN).sometimes()
    }

    fn parse_key(&self, secret: &str) -> Result<Key, SecretError> {
        if secret.is_empty() {
            return Err(secret_error("empty", "the account's auth token"));
        }
        Ok(Key::mac(MacAlgorithm::Sha1, secret.as_bytes()))
    }

    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        keys: &Keyring,
        _ctx: &VerifyContext,
    ) -> Result<Verified, VerifyError> {
        let value = single_header(request.headers, &SIGNATURE)?;
        let mut buf = [0u8; 64];
        let presented = Encoding::Base64
            .decode(value, &mut buf)
            .filter(|mac| mac.len() == MacAlgorithm::Sha1.output_len())
            .ok_or(VerifyError::MalformedHeader {
                header: SIGNATURE,
                expected: "a base64 HMAC-SHA1 (28 characters)",
            })?;
        let url = request.url.ok_or(VerifyError::UrlUnknown)?;
        let content_type = optional_header(request.headers, &header::CONTENT_TYPE)?;
        let signed = signed_content(url, request.body, content_type).map_err(|e| match e {
            // The URL is signed whole; a second bodySHA256 leaves the checked one ambiguous.
            Unsignable::RepeatedBodyHash => VerifyError::SignatureMismatch,
            Unsignable::NotForm => VerifyError::MalformedBody {
                expected: "an application/x-www-form-urlencoded body, or a URL with bodySHA256",
            },
            Unsignable::FormNotUtf8 => VerifyError::MalformedBody {
                expected: "a form body that decodes to UTF-8",
            },
        })?;
        let tail = signed.parts();
        let urls = candidate_urls(url);

        if keys.is_empty() {
            return Err(VerifyError::NoSecret);
        }
        let mut usable = false;
        let mut matched = None;
        for (index, entry) in keys.entries().iter().enumerate() {
            let Some(mac) = sha1_key(&entry.key) else {
                continue;
            };
            usable = true;
            // Every URL form is computed and compared: no short-circuit inside one key.
            let mut hit = false;
            for candidate in &urls {
                let mut parts = Vec::with_capacity(tail.len() + 1);
                parts.push(candidate.as_bytes());
                parts.extend_from_slice(&tail);
                hit |= mac.compute(&parts).matches(presented);
            }
            if hit {
                matched = Some((index, &entry.id));
                break;
            }
        }
        let Some((secret_index, secret_id)) = matched else {
            return Err(if usable {
                VerifyError::SignatureMismatch
            } else {
                VerifyError::SecretFormat {
                    expected: "an auth token (HMAC-SHA1 secret)",
                }
            });
        };
        if let Signed::UrlOnly { body_sha256 } = &signed {
            // The signature covers the URL, hence the hash; the hash must cover the body.
            let actual = hex_sha256(request.body);
            if !bool::from(actual.as_bytes().ct_eq(body_sha256.as_bytes())) {
                return Err(VerifyError::SignatureMismatch);
            }
        }
        Ok(Verified {
            scheme: "twilio",
            secret_index,
            secret_id: secret_id.clone(),
            delivery_id: optional_header(request.headers, &IDEMPOTENCY_TOKEN)
                .ok()
                .flatten()
                .map(str::to_owned),
            timestamp: None,
        })
    }

    fn sign(
        &self,
        request: &WebhookRequest<'_>,
        key: &Key,
        options: &SignOptions,
    ) -> Result<SignOutput, SignError> {
        let mac = sha1_key(key).ok_or(SignError::KeyCannotSign {
            expected: "the account's auth token",
        })?;
        let url = request.url.ok_or(SignError::UrlRequired)?;
        let content_type = request
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // Without a content type the body is taken for a form, and the header is added below.
        let assumed = content_type.or(Some(FORM));
        let signed = signed_content(url, request.body, assumed).map_err(|e| match e {
            Unsignable::RepeatedBodyHash => SignError::Body {
                expected: "a URL with at most one bodySHA256 parameter",
            },
            Unsignable::NotForm => SignError::Body {
                expected: "a form body; for another body add bodySHA256=<hex SHA-256 of the body> to the URL",
            },
            Unsignable::FormNotUtf8 => SignError::Body {
                expected: "a form body that decodes to UTF-8",
            },
        })?;
        if let Signed::UrlOnly { body_sha256 } = &signed {
            if *body_sha256 != hex_sha256(request.body) {
                return Err(SignError::Body {
                    expected: "a body whose SHA-256 is the URL's bodySHA256 parameter",
                });
            }
        }
        let mut parts = vec![url.as_bytes()];
        parts.extend(signed.parts());
        let mut headers = vec![(SIGNATURE, mac.compute(&parts).to_base64())];
        if matches!(signed, Signed::Params(_)) && !request.body.is_empty() && content_type.is_none()
        {
            // Verification needs to know the body is a form, as Twilio's requests say.
            headers.push((header::CONTENT_TYPE, FORM.to_owned()));
        }
        let id = options
            .id
            .clone()
            .unwrap_or_else(|| default_delivery_id(request.body, options.timestamp));
        headers.push((IDEMPOTENCY_TOKEN, id));
        Ok(SignOutput::headers(headers))
    }
}

#[cfg(test)]
mod tests;
