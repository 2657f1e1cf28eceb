//! Differential test: hookguard's `standard-webhooks` scheme against the reference Rust
//! crate `standardwebhooks` 1.0.1 (the Standard Webhooks project's own library).
//!
//! For random secrets (24–64 bytes, as the specification asks), message ids, timestamps
//! around now and bodies:
//! (a) what the crate signs, hookguard accepts, and what hookguard signs, the crate accepts
//!     (the two produce the very same `webhook-signature`);
//! (b) after one mutation of the headers, the body or the secret, both accept or both reject.
//!
//! The crate reads the real clock inside `verify`. Each comparison reads the system clock
//! before and after calling it and retries until both readings fall in the same second, then
//! gives hookguard that second: the two see the same "now", so even the window edges
//! (±300 s, ±301 s) must agree.
//!
//! Mutations stay inside what both implementations define the same way. Known, deliberate
//! differences are left out: hookguard refuses a signature list with an entry that has no
//! comma (the crate skips it), refuses repeated headers (the crate reads the first), trims
//! header values, reads only digits as a timestamp (the crate's `i64` parse takes `+5`), and
//! also decodes the URL-safe base64 alphabet; the crate cannot sign a non-UTF-8 body.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;
use proptest::sample::Index;

use hookguard_layers::clock::{Clock, SystemClock};
use hookguard_layers::verify::schemes::standard_webhooks::StandardWebhooks;
use hookguard_layers::verify::{
    Keyring, Scheme, SignOptions, VerifyContext, VerifyError, WebhookRequest,
};

const BASE64_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn encode_secret(bytes: &[u8], prefixed: bool) -> String {
    let encoded = STANDARD.encode(bytes);
    if prefixed {
        format!("whsec_{encoded}")
    } else {
        encoded
    }
}

fn hookguard_verify(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let keys = Keyring::from_secrets(&StandardWebhooks, [secret]).expect("secret parses");
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers,
        body,
    };
    let ctx = VerifyContext::new(&StandardWebhooks, now);
    StandardWebhooks.verify(&request, &keys, &ctx).map(|_| ())
}

/// `(hookguard accepts, the crate accepts)`, both at the same second.
fn both_verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> (bool, bool) {
    let reference = standardwebhooks::Webhook::new(secret).expect("crate parses the secret");
    loop {
        let before = SystemClock.now_unix();
        let theirs = reference.verify(body, headers).is_ok();
        let after = SystemClock.now_unix();
        if before == after {
            let ours = hookguard_verify(secret, headers, body, before).is_ok();
            return (ours, theirs);
        }
    }
}

fn hookguard_sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
    let key = StandardWebhooks
        .parse_signing_key(secret)
        .expect("secret parses");
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &empty,
        body,
    };
    let options = SignOptions {
        timestamp,
        id: Some(id.to_owned()),
    };
    let out = StandardWebhooks
        .sign(&request, &key, &options)
        .expect("signs");
    assert!(out.body.is_none());
    out.headers
        .into_iter()
        .map(|(n, v)| (n, HeaderValue::from_str(&v).unwrap()))
        .collect()
}

fn reference_headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("webhook-id", HeaderValue::from_str(id).unwrap());
    h.insert("webhook-timestamp", HeaderValue::from(timestamp));
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    h
}

fn secret_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 24..=64)
}

fn message_id() -> impl Strategy<Value = String> {
    // Visible ASCII without spaces: what a header value carries unchanged.
    "[!-~]{1,40}"
}

fn body() -> impl Strategy<Value = String> {
    "(?s).{0,300}"
}

/// Offsets from now, dense around the window's edges.
fn any_offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        -320i64..=320,
        prop_oneof![Just(-301i64), Just(-300), Just(300), Just(301)],
        -5000i64..=5000,
    ]
}

proptest! {
    #[test]
    fn signatures_cross_verify(
        secret in secret_bytes(),
        prefixed in any::<bool>(),
        id in message_id(),
        offset in any_offset(),
        body in body(),
    ) {
        let secret = encode_secret(&secret, prefixed);
        let timestamp = SystemClock.now_unix() + offset;
        let body = body.as_bytes();

        // The crate signs; hookguard (and the crate) verify.
        let theirs = standardwebhooks::Webhook::new(&secret)
            .unwrap()
            .sign(&id, timestamp, body)
            .unwrap();
        let (ours_ok, theirs_ok) = both_verify(&secret, &reference_headers(&id, timestamp, &theirs), body);
        prop_assert_eq!(ours_ok, theirs_ok, "offset {}", offset);
        // The second may tick between signing and verifying: only judge clear cases.
        if offset.abs() <= 299 {
            prop_assert!(ours_ok, "in-window signature refused, offset {}", offset);
        } else if offset.abs() >= 302 {
            prop_assert!(!ours_ok, "out-of-window signature accepted, offset {}", offset);
        }

        // hookguard signs; the crate (and hookguard) verify. Same bytes on the wire.
        let ours = hookguard_sign(&secret, &id, timestamp, body);
        prop_assert_eq!(ours.get("webhook-signature").unwrap().to_str().unwrap(), theirs.as_str());
        prop_assert_eq!(ours.get("webhook-id").unwrap().to_str().unwrap(), id.as_str());
        let (ours_ok2, theirs_ok2) = both_verify(&secret, &ours, body);
        prop_assert_eq!(ours_ok2, theirs_ok2, "offset {}", offset);
        if offset.abs() <= 299 {
            prop_assert!(theirs_ok2, "crate refused hookguard's signature, offset {}", offset);
        }
    }
}

/// One change to a signed request.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip one bit of the body (the result may not be UTF-8: the crate then refuses).
    BodyFlipBit(Index, u8),
    BodyAppend(u8),
    BodyTruncate(Index),
    IdReplace(String),
    IdAppend(char),
    /// Send another timestamp than the one signed.
    TimestampShift(i64),
    /// Replace one character of the base64 signature by one of the standard alphabet.
    SignatureChar(Index, Index),
    SignatureVersion(&'static str),
    SignatureDropPadding,
    SignatureTruncate(Index),
    SignatureWithoutVersion,
    /// Add a well-formed entry that matches nothing, before or after the real one.
    ExtraEntry(bool, &'static str, Vec<u8>),
    EmptySignature,
    RemoveHeader(&'static str),
    /// Verify with another secret.
    OtherSecret(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::BodyFlipBit(i, b)),
        any::<u8>().prop_map(Mutation::BodyAppend),
        any::<Index>().prop_map(Mutation::BodyTruncate),
        message_id().prop_map(Mutation::IdReplace),
        proptest::char::range('!', '~').prop_map(Mutation::IdAppend),
        (-400i64..=400).prop_map(Mutation::TimestampShift),
        (any::<Index>(), any::<Index>()).prop_map(|(p, c)| Mutation::SignatureChar(p, c)),
        prop_oneof![Just("v1a"), Just("v2"), Just("V1"), Just("v1 "), Just("v")]
            .prop_map(Mutation::SignatureVersion),
        Just(Mutation::SignatureDropPadding),
        any::<Index>().prop_map(Mutation::SignatureTruncate),
        Just(Mutation::SignatureWithoutVersion),
        (
            any::<bool>(),
            prop_oneof![Just("v1"), Just("v1a"), Just("v2")],
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 32),
                proptest::collection::vec(any::<u8>(), 64),
                proptest::collection::vec(any::<u8>(), 1..80),
            ],
        )
            .prop_map(|(before, v, bytes)| Mutation::ExtraEntry(before, v, bytes)),
        Just(Mutation::EmptySignature),
        prop_oneof![
            Just("webhook-id"),
            Just("webhook-timestamp"),
            Just("webhook-signature")
        ]
        .prop_map(Mutation::RemoveHeader),
        secret_bytes().prop_map(Mutation::OtherSecret),
    ]
}

struct Signed {
    secret: String,
    id: String,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
}

impl Signed {
    fn apply(mut self, mutation: &Mutation) -> (String, HeaderMap, Vec<u8>) {
        let mut id = self.id.clone();
        let mut timestamp = self.timestamp;
        let mut signature = Some(self.signature.clone());
        let mut removed = None;
        let (version, mac) = self.signature.split_once(',').unwrap();
        match mutation {
            Mutation::BodyFlipBit(i, bit) => {
                if !self.body.is_empty() {
                    let at = i.index(self.body.len());
                    self.body[at] ^= 1 << bit;
                }
            }
            Mutation::BodyAppend(b) => self.body.push(*b),
            Mutation::BodyTruncate(i) => {
                let len = self.body.len();
                self.body.truncate(i.index(len + 1));
            }
            Mutation::IdReplace(other) => id = other.clone(),
            Mutation::IdAppend(c) => id.push(*c),
            Mutation::TimestampShift(d) => timestamp += d,
            Mutation::SignatureChar(p, c) => {
                // Only data characters, not the `=` padding.
                let data_len = mac.trim_end_matches('=').len();
                let mut bytes = mac.as_bytes().to_vec();
                bytes[p.index(data_len)] = BASE64_ALPHABET[c.index(BASE64_ALPHABET.len())];
                signature = Some(format!("{version},{}", String::from_utf8(bytes).unwrap()));
            }
            Mutation::SignatureVersion(v) => signature = Some(format!("{v},{mac}")),
            Mutation::SignatureDropPadding => {
                signature = Some(format!("{version},{}", mac.trim_end_matches('=')))
            }
            Mutation::SignatureTruncate(i) => {
                let full = self.signature.clone();
                signature = Some(full[..i.index(full.len())].to_owned());
            }
            Mutation::SignatureWithoutVersion => signature = Some(mac.to_owned()),
            Mutation::ExtraEntry(before, v, bytes) => {
                let extra = format!("{v},{}", STANDARD.encode(bytes));
                signature = Some(if *before {
                    format!("{extra} {}", self.signature)
                } else {
                    format!("{} {extra}", self.signature)
                });
            }
            Mutation::EmptySignature => signature = Some(String::new()),
            Mutation::RemoveHeader(name) => removed = Some(*name),
            Mutation::OtherSecret(bytes) => self.secret = encode_secret(bytes, true),
        }
        let mut headers = reference_headers(&id, timestamp, signature.as_deref().unwrap_or(""));
        if let Some(name) = removed {
            headers.remove(HeaderName::from_static(name));
        }
        (self.secret, headers, self.body)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_requests_get_the_same_verdict(
        secret in secret_bytes(),
        prefixed in any::<bool>(),
        id in message_id(),
        offset in -290i64..=290,
        body in body(),
        mutation in mutation(),
    ) {
        let secret = encode_secret(&secret, prefixed);
        let timestamp = SystemClock.now_unix() + offset;
        let signature = standardwebhooks::Webhook::new(&secret)
            .unwrap()
            .sign(&id, timestamp, body.as_bytes())
            .unwrap();
        let signed = Signed { secret, id, timestamp, signature, body: body.into_bytes() };

        // The untouched request is accepted by both: the comparison below is not vacuous.
        let (ours, theirs) = both_verify(
            &signed.secret,
            &reference_headers(&signed.id, signed.timestamp, &signed.signature),
            &signed.body,
        );
        prop_assert!(ours && theirs, "untouched request refused: ours {} theirs {}", ours, theirs);

        let (secret, headers, body) = signed.apply(&mutation);
        let (ours, theirs) = both_verify(&secret, &headers, &body);
        prop_assert_eq!(
            ours,
            theirs,
            "verdicts differ after {:?}: hookguard {}, standardwebhooks {}; headers {:?}",
            mutation,
            ours,
            theirs,
            headers
        );
    }
}

#[test]
fn the_crate_and_hookguard_agree_on_the_published_vector() {
    // libraries/javascript/src/webhook.test.ts "sign function works" (standard-webhooks repo).
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"test": 2432232314}"#;
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let theirs = standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        .unwrap();
    assert_eq!(theirs, expected);
    let ours = hookguard_sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
    assert_eq!(ours.get("webhook-signature").unwrap(), expected);
}
