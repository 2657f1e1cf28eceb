//! The Standard Webhooks reference libraries' test cases and published vectors.
//!
//! Sources (github.com/standard-webhooks/standard-webhooks):
//! - `libraries/javascript/src/webhook.test.ts` and `libraries/go/webhook_symmetric_test.go`:
//!   the v1 vector ("sign function works" / `TestSymmetricWebhookSign`) and the cases
//!   (missing headers, invalid/partial signatures, multi-signature list, old/new timestamp,
//!   with and without the `whsec_` prefix).
//! - `libraries/go/webhook_asymmetric_test.go`: the v1a vector (`TestAsymmetricWebhookSign`)
//!   and its cases; `libraries/rust/src/lib.rs`: a second v1 vector (`test_sign`).
//! - svix/svix-webhooks `javascript/src/webhook.test.ts`: the same cases with `svix-` headers.
//!
//! Every published vector was re-computed independently with openssl before being used here
//! (`openssl dgst -sha256 -mac HMAC -macopt hexkey:…` and `openssl pkeyutl -sign -rawin`).

#[cfg(feature = "ed25519")]
use base64::engine::general_purpose::STANDARD;
#[cfg(feature = "ed25519")]
use base64::Engine as _;
use http::{HeaderMap, Method};

use super::*;
use crate::verify::testing::{headers, sign_with};
use crate::verify::{SecretError, VerifyError};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BARE_SECRET: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: i64 = 1614265330;
const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
/// Published in both the JavaScript and the Go library tests; openssl agrees.
const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
/// A well-formed v1 signature that matches nothing (the libraries' "invalid signature").
const BOGUS: &str = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

/// Go `TestAsymmetricWebhookSign`: the seed is the ASCII text "TESTSIGNINGKEYDONOTUSETHISFORANY".
#[cfg(feature = "ed25519")]
const SIGNING_KEY: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
/// Its public key, derived with `openssl pkey -pubout` from the seed (not published).
#[cfg(feature = "ed25519")]
const PUBLIC_KEY: &str = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=";
/// Published by the Go test for (MSG_ID, TS, PAYLOAD); `openssl pkeyutl -sign` agrees.
#[cfg(feature = "ed25519")]
const SIG_V1A: &str =
    "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";
/// The public key of the Go tests' other private key ("WEBHOOKASYMMETRICTESTPRIVATEKEY1"),
/// derived with openssl: a valid key that did not sign SIG_V1A.
#[cfg(feature = "ed25519")]
const OTHER_PUBLIC_KEY: &str = "whpk_4rQZjjkCnn4m/ciYBaRPSZTA+Y/UwqgD6hgxOllF28g=";

fn request_headers(prefix: &str, id: &str, ts: &str, signature: &str) -> HeaderMap {
    headers(&[
        (&format!("{prefix}-id"), id),
        (&format!("{prefix}-timestamp"), ts),
        (&format!("{prefix}-signature"), signature),
    ])
}

fn vector_headers(signature: &str) -> HeaderMap {
    request_headers("webhook", MSG_ID, &TS.to_string(), signature)
}

fn verify_headers(
    secrets: &[&str],
    h: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Verified, VerifyError> {
    let scheme = StandardWebhooks;
    let keys = Keyring::from_secrets(&scheme, secrets).expect("test secrets parse");
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: h,
        body,
    };
    scheme.verify(&request, &keys, &VerifyContext::new(&scheme, now))
}

fn verify_sig(secrets: &[&str], signature: &str) -> Result<Verified, VerifyError> {
    verify_headers(secrets, &vector_headers(signature), PAYLOAD, TS)
}

fn parse_err(secret: &str) -> SecretError {
    StandardWebhooks.parse_key(secret).unwrap_err()
}

#[test]
fn published_v1_vector_verifies() {
    let v = verify_sig(&[SECRET], SIG).unwrap();
    assert_eq!(v.scheme, "standard-webhooks");
    assert_eq!(v.secret_index, 0);
    assert_eq!(v.delivery_id.as_deref(), Some(MSG_ID));
    assert_eq!(v.timestamp, Some(TS));
}

#[test]
fn rust_library_v1_vector_verifies() {
    // libraries/rust/src/lib.rs `test_sign`.
    let h = request_headers(
        "webhook",
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        "1649367553",
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    );
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    assert!(verify_headers(&[secret], &h, body, 1649367553).is_ok());
}

#[test]
fn signing_reproduces_the_published_vectors() {
    let (h, body) = sign_with(&StandardWebhooks, SECRET, PAYLOAD, None, TS, Some(MSG_ID));
    assert_eq!(body, PAYLOAD);
    assert_eq!(h.get("webhook-id").unwrap(), MSG_ID);
    assert_eq!(h.get("webhook-timestamp").unwrap(), "1614265330");
    assert_eq!(h.get("webhook-signature").unwrap(), SIG);

    // Ed25519 is deterministic: the Go library's v1a vector, byte for byte.
    #[cfg(feature = "ed25519")]
    {
        let (h, _) = sign_with(
            &StandardWebhooks,
            SIGNING_KEY,
            PAYLOAD,
            None,
            TS,
            Some(MSG_ID),
        );
        assert_eq!(h.get("webhook-signature").unwrap(), SIG_V1A);
    }
}

#[test]
fn signing_without_an_id_still_sends_one() {
    let (h, _) = sign_with(&StandardWebhooks, SECRET, PAYLOAD, None, TS, None);
    let id = h.get("webhook-id").unwrap().to_str().unwrap().to_owned();
    assert!(id.starts_with("msg_") && id.len() > 4, "{id}");
    let v = verify_headers(&[SECRET], &h, PAYLOAD, TS).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some(id.as_str()));
}

#[test]
fn secret_works_with_and_without_the_whsec_prefix() {
    assert!(verify_sig(&[BARE_SECRET], SIG).is_ok());
    assert!(verify_sig(&[SECRET], SIG).is_ok());
}

/// A 32-byte secret as a provider's dashboard may show it: its base64 ends in one `=`, and
/// some providers (and users copying it) drop the padding. The Python, PHP and Ruby
/// reference libraries accept it unpadded (Python appends `==` before decoding; PHP's
/// `base64_decode` and Ruby's `decode64` ignore missing padding). Signature computed with
/// `openssl dgst -sha256 -mac HMAC` over the published vector's id, timestamp and payload.
const UNPADDED_SECRET: &str = "whsec_FPAsQnHHZMfp/KVdBo+3fhll1fqWjLXFusokW26F6gs";
const UNPADDED_SECRET_SIG: &str = "v1,/t4DVCsVjUvGiXTJH/ZZ0VsV7qnXbl2+6lOzyVDOOrk=";

#[test]
fn secret_base64_is_accepted_with_or_without_padding() {
    let padded = format!("{UNPADDED_SECRET}=");
    for secret in [UNPADDED_SECRET, padded.as_str(), &UNPADDED_SECRET[6..]] {
        assert!(
            verify_sig(&[secret], UNPADDED_SECRET_SIG).is_ok(),
            "{secret}"
        );
        let (h, _) = sign_with(&StandardWebhooks, secret, PAYLOAD, None, TS, Some(MSG_ID));
        assert_eq!(h.get("webhook-signature").unwrap(), UNPADDED_SECRET_SIG);
    }
    // Wrong padding is still not base64.
    assert_eq!(
        parse_err(&format!("{UNPADDED_SECRET}==")).problem,
        "not base64 after whsec_"
    );
}

#[test]
fn svix_branded_headers_verify() {
    let h = request_headers("svix", MSG_ID, "1614265330", SIG);
    let v = verify_headers(&[SECRET], &h, PAYLOAD, TS).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some(MSG_ID));

    // Brands are not mixed: with a webhook-id present, the webhook- set is required.
    let h = headers(&[
        ("webhook-id", MSG_ID),
        ("svix-timestamp", "1614265330"),
        ("svix-signature", SIG),
    ]);
    assert_eq!(
        verify_headers(&[SECRET], &h, PAYLOAD, TS).unwrap_err(),
        VerifyError::MissingHeader(HeaderName::from_static("webhook-timestamp"))
    );
}

#[test]
fn one_valid_signature_in_the_list_is_enough() {
    // The libraries' "multi sig payload is valid": bogus v1, bogus v2, valid, bogus v1.
    let list = format!("v1,{BOGUS} v2,{BOGUS} {SIG} v1,{BOGUS}");
    assert!(verify_sig(&[SECRET], &list).is_ok());
    // Extra spaces between entries do not matter.
    assert!(verify_sig(&[SECRET], &format!("v1,{BOGUS}   {SIG}")).is_ok());
    // The same list without the valid entry is a mismatch.
    let list = format!("v1,{BOGUS} v2,{BOGUS} v1,{BOGUS}");
    assert_eq!(
        verify_sig(&[SECRET], &list).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn unknown_versions_are_skipped_not_trusted() {
    // The right MAC under an unknown label is not used…
    let right_mac = SIG.strip_prefix("v1,").unwrap();
    for version in ["v2", "v0", "V1", "v1b"] {
        let err = verify_sig(&[SECRET], &format!("{version},{right_mac}")).unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { .. }),
            "{version}: {err:?}"
        );
    }
    // …and does not get in the way of a valid v1.
    assert!(verify_sig(&[SECRET], &format!("v2,{right_mac} {SIG}")).is_ok());
}

#[test]
fn invalid_and_partial_signatures_are_rejected() {
    assert_eq!(
        verify_sig(&[SECRET], &format!("v1,{BOGUS}")).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let signature_header = HeaderName::from_static("webhook-signature");
    for bad in [
        "v1,dawfeoifkpqwoekfpqoekf", // JS "invalid signature": not 32 bytes
        &SIG[..8],                   // JS "partial signature"
        "v1,",
        "v1",
        "",
        &SIG[3..], // the MAC without its version
    ] {
        let err = verify_sig(&[SECRET], bad).unwrap_err();
        let ok = match &err {
            VerifyError::MalformedHeader { header, .. } => *header == signature_header,
            // An empty value is the same as no value.
            VerifyError::MissingHeader(header) => bad.is_empty() && *header == signature_header,
            _ => false,
        };
        assert!(ok, "{bad:?}: {err:?}");
    }
}

#[test]
fn missing_headers_are_named() {
    let full = [
        ("webhook-id", MSG_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", SIG),
    ];
    for missing in 0..full.len() {
        let pairs: Vec<_> = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != missing)
            .map(|(_, p)| *p)
            .collect();
        let err = verify_headers(&[SECRET], &headers(&pairs), PAYLOAD, TS).unwrap_err();
        assert_eq!(
            err,
            VerifyError::MissingHeader(HeaderName::from_static(full[missing].0))
        );
        assert_eq!(
            err.to_string(),
            format!("missing header {}", full[missing].0)
        );
    }
    let err = verify_headers(&[SECRET], &HeaderMap::new(), PAYLOAD, TS).unwrap_err();
    assert!(matches!(err, VerifyError::MissingHeader(_)), "{err:?}");
}

#[test]
fn repeated_or_unparsable_headers_are_rejected() {
    let mut h = vector_headers(SIG);
    h.append("webhook-id", MSG_ID.parse().unwrap());
    assert_eq!(
        verify_headers(&[SECRET], &h, PAYLOAD, TS).unwrap_err(),
        VerifyError::DuplicateHeader(HeaderName::from_static("webhook-id"))
    );
    // JS "invalid timestamp throws error".
    for ts in ["hello", "-1614265330", "1614265330.0", "+1614265330"] {
        let h = request_headers("webhook", MSG_ID, ts, SIG);
        let err = verify_headers(&[SECRET], &h, PAYLOAD, TS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed header webhook-timestamp: expected a Unix timestamp in seconds",
            "{ts}"
        );
    }
}

#[test]
fn tampered_body_id_or_timestamp_is_a_mismatch() {
    assert_eq!(
        verify_headers(
            &[SECRET],
            &vector_headers(SIG),
            br#"{"test": 2432232315}"#,
            TS
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let h = request_headers("webhook", "msg_other", "1614265330", SIG);
    assert_eq!(
        verify_headers(&[SECRET], &h, PAYLOAD, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Go "invalid timestamp fails when ignoring tolerance": the timestamp is signed.
    let h = request_headers("webhook", MSG_ID, "946684800", SIG);
    let keys = Keyring::from_secrets(&StandardWebhooks, [SECRET]).unwrap();
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &h,
        body: PAYLOAD,
    };
    let ctx = VerifyContext::new(&StandardWebhooks, TS).with_tolerance(None);
    assert_eq!(
        StandardWebhooks.verify(&request, &keys, &ctx).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn timestamp_window_is_300_seconds_past_and_future() {
    assert_eq!(StandardWebhooks.default_tolerance(), Some(300));
    assert!(verify_headers(&[SECRET], &vector_headers(SIG), PAYLOAD, TS + 300).is_ok());
    assert!(verify_headers(&[SECRET], &vector_headers(SIG), PAYLOAD, TS - 300).is_ok());
    // "old timestamp fails": now is 301 s after the signed time.
    let err = verify_headers(&[SECRET], &vector_headers(SIG), PAYLOAD, TS + 301).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: 301 });
    // "new timestamp fails": the signed time is 301 s ahead of now.
    let err = verify_headers(&[SECRET], &vector_headers(SIG), PAYLOAD, TS - 301).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -301 });
    // A forged header that is also stale says "mismatch": the window is checked last.
    let forged = vector_headers(&format!("v1,{BOGUS}"));
    assert_eq!(
        verify_headers(&[SECRET], &forged, PAYLOAD, TS + 10_000).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn rotation_reports_which_secret_matched() {
    let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    assert_eq!(verify_sig(&[other, SECRET], SIG).unwrap().secret_index, 1);
    #[cfg(feature = "ed25519")]
    {
        assert_eq!(
            verify_sig(&[PUBLIC_KEY, SECRET], SIG).unwrap().secret_index,
            1
        );
        assert_eq!(
            verify_sig(&[SECRET, PUBLIC_KEY], SIG_V1A)
                .unwrap()
                .secret_index,
            1
        );
    }
}

#[cfg(feature = "ed25519")]
#[test]
fn v1a_vector_verifies_with_the_public_or_the_signing_key() {
    let v = verify_sig(&[PUBLIC_KEY], SIG_V1A).unwrap();
    assert_eq!(v.secret_index, 0);
    assert_eq!(v.delivery_id.as_deref(), Some(MSG_ID));
    assert!(verify_sig(&[SIGNING_KEY], SIG_V1A).is_ok());
    // Both a v1 and a v1a in one header, as in the specification's example.
    assert!(verify_sig(&[PUBLIC_KEY], &format!("{SIG} {SIG_V1A}")).is_ok());
    assert!(verify_sig(&[SECRET], &format!("{SIG} {SIG_V1A}")).is_ok());
}

#[cfg(feature = "ed25519")]
#[test]
fn v1a_with_the_wrong_key_or_a_broken_signature_is_rejected() {
    assert_eq!(
        verify_sig(&[OTHER_PUBLIC_KEY], SIG_V1A).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Signed over a different message: body, id and timestamp are all covered.
    let h = headers(&[
        ("webhook-id", MSG_ID),
        ("webhook-timestamp", "1614265331"),
        ("webhook-signature", SIG_V1A),
    ]);
    assert_eq!(
        verify_headers(&[PUBLIC_KEY], &h, PAYLOAD, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verify_headers(&[PUBLIC_KEY], &vector_headers(SIG_V1A), b"{}", TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // A flipped byte in the signature.
    let mut raw = STANDARD.decode(&SIG_V1A[4..]).unwrap();
    raw[10] ^= 1;
    let flipped = format!("v1a,{}", STANDARD.encode(raw));
    assert_eq!(
        verify_sig(&[PUBLIC_KEY], &flipped).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Go "invalid signature is invalid" (32 bytes, not 64) and "partial signature is invalid".
    for bad in [format!("v1a,{BOGUS}"), "v1a,".to_owned()] {
        assert!(
            matches!(
                verify_sig(&[PUBLIC_KEY], &bad).unwrap_err(),
                VerifyError::MalformedHeader { .. }
            ),
            "{bad}"
        );
    }
}

#[cfg(feature = "ed25519")]
#[test]
fn ed25519_sign_then_verify_round_trip() {
    let body = br#"{"type":"contact.created"}"#;
    let (h, _) = sign_with(
        &StandardWebhooks,
        SIGNING_KEY,
        body,
        None,
        TS,
        Some("msg_round_trip"),
    );
    assert!(h
        .get("webhook-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("v1a,"));
    assert!(verify_headers(&[PUBLIC_KEY], &h, body, TS).is_ok());
    assert_eq!(
        verify_headers(&[OTHER_PUBLIC_KEY], &h, body, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // An HMAC-only route cannot accept it.
    assert!(verify_headers(&[SECRET], &h, body, TS).is_err());
}

#[cfg(feature = "ed25519")]
#[test]
fn signing_key_yields_the_openssl_public_key() {
    let private = StandardWebhooks.parse_signing_key(SIGNING_KEY).unwrap();
    let public = StandardWebhooks.parse_key(PUBLIC_KEY).unwrap();
    assert_eq!(private.ed25519_public(), public.ed25519_public());
    // The 64-byte keypair form (seed ‖ public key) is the same key.
    let seed = STANDARD.decode(&SIGNING_KEY[5..]).unwrap();
    let pk = STANDARD.decode(&PUBLIC_KEY[5..]).unwrap();
    let keypair = format!("whsk_{}", STANDARD.encode([seed, pk].concat()));
    let (h, _) = sign_with(&StandardWebhooks, &keypair, PAYLOAD, None, TS, Some(MSG_ID));
    assert_eq!(h.get("webhook-signature").unwrap(), SIG_V1A);
}

#[cfg(feature = "ed25519")]
#[test]
fn public_key_cannot_sign() {
    let key = StandardWebhooks.parse_signing_key(PUBLIC_KEY).unwrap();
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &empty,
        body: PAYLOAD,
    };
    let err = StandardWebhooks
        .sign(&request, &key, &SignOptions::default())
        .unwrap_err();
    assert!(matches!(err, SignError::KeyCannotSign { .. }), "{err:?}");
}

#[test]
fn invalid_secrets_are_rejected_at_parse_time() {
    for secret in [
        "whsec_not base64!",
        "whsec_MfKQ9r8G*KYq",
        "not base64 at all",
    ] {
        let err = parse_err(secret);
        assert_eq!(err.problem, "not base64 after whsec_", "{secret}");
        assert!(
            err.to_string().contains("expected whsec_<base64>"),
            "{secret}: {err}"
        );
    }
    for secret in ["", "whsec_"] {
        assert_eq!(parse_err(secret).problem, "empty", "{secret:?}");
    }
}

#[cfg(feature = "ed25519")]
#[test]
fn invalid_ed25519_keys_are_rejected_at_parse_time() {
    assert_eq!(
        parse_err("whpk_not-base64!").problem,
        "whpk_ key is not base64"
    );
    assert_eq!(
        parse_err(&format!("whpk_{}", STANDARD.encode([7u8; 16]))).problem,
        "whpk_ key is not 32 bytes"
    );
    assert_eq!(
        parse_err("whsk_not-base64!").problem,
        "whsk_ key is not base64"
    );
    assert_eq!(
        parse_err(&format!("whsk_{}", STANDARD.encode([7u8; 48]))).problem,
        "whsk_ key is not 32 or 64 bytes"
    );
    // 32 bytes that are not a curve point. Found by asking ed25519-dalek (not the code under
    // test) which small candidate it refuses.
    let not_a_point = (0u8..=255)
        .map(|b| {
            let mut bytes = [0u8; 32];
            bytes[0] = b;
            bytes[31] = 0x7f;
            bytes
        })
        .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
        .expect("some candidate is not on the curve");
    assert_eq!(
        parse_err(&format!("whpk_{}", STANDARD.encode(not_a_point))).problem,
        "whpk_ key is not an Ed25519 point"
    );
}

#[cfg(not(feature = "ed25519"))]
#[test]
fn without_the_ed25519_feature_v1a_keys_are_refused_and_v1a_matches_nothing() {
    for key in [
        "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=",
        "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=",
    ] {
        let err = parse_err(key);
        assert!(err.problem.contains("`ed25519` feature"), "{err}");
        assert!(!err.to_string().contains(&key[5..]), "{err}");
        assert!(StandardWebhooks.parse_signing_key(key).is_err());
    }
    // The Go library's v1a vector, sent to a route with a v1 secret.
    let v1a = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";
    assert_eq!(
        verify_sig(&[SECRET], v1a),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn secret_errors_name_the_position_and_never_the_secret() {
    let leaky = "whsec_SUPERSECRET*";
    let err = Keyring::from_secrets(&StandardWebhooks, [SECRET, leaky]).unwrap_err();
    assert_eq!(err.index, 1);
    let text = err.to_string();
    assert!(text.starts_with("secret 1: "), "{text}");
    assert!(!text.contains("SUPERSECRET"), "{text}");
    assert!(!format!("{err:?}").contains("SUPERSECRET"));
    #[cfg(feature = "ed25519")]
    let keys = Keyring::from_secrets(&StandardWebhooks, [SECRET, SIGNING_KEY]).unwrap();
    #[cfg(not(feature = "ed25519"))]
    let keys = Keyring::from_secrets(&StandardWebhooks, [SECRET]).unwrap();
    let debug = format!("{keys:?}");
    assert!(
        !debug.contains("MfKQ9r8G") && !debug.contains("VEVTVFNJ"),
        "{debug}"
    );
}

#[test]
fn parse_signature_list_splits_on_spaces_and_the_first_comma() {
    assert_eq!(
        parse_signature_list(" v1,a=  v1a,b,c ").unwrap(),
        vec![
            SignatureEntry {
                version: "v1",
                signature: "a="
            },
            SignatureEntry {
                version: "v1a",
                signature: "b,c"
            },
        ]
    );
    assert_eq!(parse_signature_list(""), None);
    assert_eq!(parse_signature_list("   "), None);
}

#[test]
fn entry_without_comma_is_skipped_not_fatal() {
    let entries = parse_signature_list("garbage v1,abc").unwrap();
    assert_eq!(
        entries,
        vec![SignatureEntry {
            version: "v1",
            signature: "abc"
        }]
    );
    assert!(parse_signature_list("garbage other").is_none());
}

#[cfg(feature = "ed25519")]
#[test]
fn versions_no_configured_key_can_check_are_a_401_mismatch_not_a_500() {
    use crate::verify::testing::headers;
    // A v1 (HMAC) signature sent to a route that only has an Ed25519 public key.
    let scheme = StandardWebhooks;
    let keys = Keyring::from_secrets(
        &scheme,
        ["whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="],
    )
    .unwrap();
    let h = headers(&[
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", "1700000000"),
        (
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]);
    let req = WebhookRequest {
        method: &http::Method::POST,
        url: None,
        headers: &h,
        body: b"{}",
    };
    let err = scheme
        .verify(&req, &keys, &VerifyContext::new(&scheme, 1_700_000_000))
        .unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
}
