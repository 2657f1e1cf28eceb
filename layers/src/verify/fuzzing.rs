//! Entry points shared by the cargo-fuzz targets (fuzz/) and the test that replays their
//! corpora (layers/tests/fuzz_corpus.rs), so both exercise exactly the same code.
//! Each function must never panic, whatever the input.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::schemes::{self, paddle, standard_webhooks, stripe};
use super::{Keyring, VerifyContext, WebhookRequest};

/// Secrets tried in order until one parses for the scheme under test: a Standard Webhooks
/// secret, an Ed25519 public key in hex (RFC 8032 test 1), a plain shared secret.
const CANDIDATE_SECRETS: &[&str] = &[
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "secret",
];

/// `Stripe-Signature` parser.
pub fn stripe_header(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(parsed) = stripe::parse_header(text) {
            assert!(!parsed.v1.is_empty());
        }
    }
}

/// `Paddle-Signature` parser.
pub fn paddle_header(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = paddle::parse_header(text);
    }
}

/// `webhook-signature` list parser.
pub fn signature_list(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(entries) = standard_webhooks::parse_signature_list(text) {
            assert!(!entries.is_empty());
        }
    }
}

/// Every scheme's `verify` on arbitrary input: the first byte picks the scheme, then
/// `Name: value` lines up to an empty line, then the body. Covers every header parser,
/// including those inside schemes (Paddle, Twilio, Mailgun bodies, …).
pub fn verify_any_scheme(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let name = schemes::NAMES[selector as usize % schemes::NAMES.len()];
    let scheme = schemes::by_name(name).expect("listed scheme");
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(n, v);
    }
    let Some(keys) = CANDIDATE_SECRETS
        .iter()
        .find_map(|s| Keyring::from_secrets(&*scheme, [s]).ok())
    else {
        return;
    };
    let request = WebhookRequest {
        method: &Method::POST,
        url: Some("https://example.com/hook?a=1"),
        headers: &headers,
        body,
    };
    let ctx = VerifyContext::new(&*scheme, 1_700_000_000);
    let _ = scheme.verify(&request, &keys, &ctx);
}
