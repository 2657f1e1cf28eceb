use http::{HeaderMap, Method};

use super::*;
use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};
use crate::verify::KeyEntry;

// Discord publishes no signed example, and discord-interactions-js generates fresh keys in
// its tests. The key pair is RFC 8032 section 7.1 TEST 1; the body is the PING request of
// discord-interactions-js (src/__tests__/utils/SharedTestUtils.ts, `pingRequestBody`, as
// JSON.stringify writes it). The signature over TIMESTAMP + BODY was computed independently
// with OpenSSL 3 (`openssl pkeyutl -sign -rawin` with the seed wrapped in PKCS#8) and
// cross-checked with Python `cryptography`'s Ed25519PrivateKey.sign.
const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
// RFC 8032 section 7.1 TEST 2: another application's key.
const OTHER_SEED: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const OTHER_PUBLIC: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const TS: i64 = 1_616_343_571;
const BODY: &[u8] =
    br#"{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}"#;
const SIG: &str = "7f06df2d8204efe9546287e0dd9d4deb65f64f24b7130de714305dd267cb5c51035780a296599a9bb1e0bded4ff2afecf47d14a82e10944c842697bfb298b902";

fn signed() -> HeaderMap {
    headers(&[
        ("X-Signature-Ed25519", SIG),
        ("X-Signature-Timestamp", "1616343571"),
    ])
}

#[test]
fn openssl_signed_ping_verifies_with_the_public_key() {
    let v = verify_with(&Discord, &[PUBLIC], &signed(), BODY, None, TS + 3).unwrap();
    assert_eq!(v.scheme, "discord");
    assert_eq!(v.secret_index, 0);
    assert_eq!(v.timestamp, Some(TS));
    assert_eq!(v.delivery_id.as_deref(), Some("787053080478613555"));
}

#[test]
fn uppercase_hex_signature_and_key_are_accepted() {
    let h = headers(&[
        ("X-Signature-Ed25519", &SIG.to_uppercase()),
        ("X-Signature-Timestamp", "1616343571"),
    ]);
    assert!(verify_with(&Discord, &[&PUBLIC.to_uppercase()], &h, BODY, None, TS).is_ok());
}

#[test]
fn rfc8032_seed_parses_to_its_published_public_key() {
    let private = Discord.parse_signing_key(SEED).unwrap();
    let public = Discord.parse_key(PUBLIC).unwrap();
    assert_eq!(private.ed25519_public(), public.ed25519_public());
    assert_eq!(
        hex::encode(private.ed25519_public().unwrap().as_bytes()),
        PUBLIC
    );
}

#[test]
fn second_key_matches_during_rotation() {
    let v = verify_with(&Discord, &[OTHER_PUBLIC, PUBLIC], &signed(), BODY, None, TS).unwrap();
    assert_eq!(v.secret_index, 1);
    assert_eq!(&*v.secret_id, "1");
}

#[test]
fn sign_reproduces_the_openssl_signature_and_verifies() {
    // Ed25519 is deterministic: signing the same message must give OpenSSL's bytes.
    let (h, body) = sign_with(&Discord, SEED, BODY, None, TS, None);
    assert_eq!(body, BODY);
    assert_eq!(h["x-signature-ed25519"], SIG);
    assert_eq!(h["x-signature-timestamp"], "1616343571");
    let v = verify_with(&Discord, &[PUBLIC], &h, &body, None, TS).unwrap();
    assert_eq!(v.secret_index, 0);
}

#[test]
fn sign_then_verify_with_another_key_and_body() {
    let body = br#"{"type":2,"id":"1","data":{"name":"ping"}}"#;
    let (h, body) = sign_with(&Discord, OTHER_SEED, body, None, 1_700_000_000, None);
    let v = verify_with(
        &Discord,
        &[PUBLIC, OTHER_PUBLIC],
        &h,
        &body,
        None,
        1_700_000_100,
    )
    .unwrap();
    assert_eq!(v.secret_index, 1);
    assert_eq!(v.delivery_id.as_deref(), Some("1"));
    // The other application's key does not accept it.
    let err = verify_with(&Discord, &[PUBLIC], &h, &body, None, 1_700_000_100).unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
}

#[test]
fn timestamp_outside_the_window_reports_skew_both_ways() {
    assert!(verify_with(&Discord, &[PUBLIC], &signed(), BODY, None, TS + 300).is_ok());
    assert!(verify_with(&Discord, &[PUBLIC], &signed(), BODY, None, TS - 300).is_ok());
    let err = verify_with(&Discord, &[PUBLIC], &signed(), BODY, None, TS + 301).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: 301 });
    let err = verify_with(&Discord, &[PUBLIC], &signed(), BODY, None, TS - 301).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -301 });
}

#[test]
fn a_stale_forgery_is_a_mismatch_not_a_window_error() {
    // The signature is checked first, so a forged request learns nothing about the clock.
    let err = verify_with(
        &Discord,
        &[OTHER_PUBLIC],
        &signed(),
        BODY,
        None,
        TS + 10_000,
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
}

#[test]
fn missing_duplicated_and_malformed_headers_are_rejected() {
    let ts = ("X-Signature-Timestamp", "1616343571");
    let sig = ("X-Signature-Ed25519", SIG);
    let missing = |e: &VerifyError| matches!(e, VerifyError::MissingHeader(_));
    let duplicate = |e: &VerifyError| matches!(e, VerifyError::DuplicateHeader(_));
    let malformed_sig = |e: &VerifyError| matches!(e, VerifyError::MalformedHeader { header, .. } if header == "x-signature-ed25519");
    let malformed_ts = |e: &VerifyError| matches!(e, VerifyError::MalformedHeader { header, .. } if header == "x-signature-timestamp");
    assert_rejects(&Discord, PUBLIC, &[ts], BODY, missing);
    assert_rejects(&Discord, PUBLIC, &[sig], BODY, missing);
    assert_rejects(
        &Discord,
        PUBLIC,
        &[("X-Signature-Ed25519", ""), ts],
        BODY,
        missing,
    );
    assert_rejects(&Discord, PUBLIC, &[sig, sig, ts], BODY, duplicate);
    assert_rejects(&Discord, PUBLIC, &[sig, ts, ts], BODY, duplicate);
    assert_rejects(
        &Discord,
        PUBLIC,
        &[("X-Signature-Ed25519", &SIG[..126]), ts],
        BODY,
        malformed_sig,
    );
    assert_rejects(
        &Discord,
        PUBLIC,
        &[("X-Signature-Ed25519", &format!("{SIG}00")), ts],
        BODY,
        malformed_sig,
    );
    assert_rejects(
        &Discord,
        PUBLIC,
        &[("X-Signature-Ed25519", &"zz".repeat(64)), ts],
        BODY,
        malformed_sig,
    );
    for bad in [
        "1616343571.0",
        "-1616343571",
        "16163435a1",
        "2021-03-21T16:19:31Z",
    ] {
        assert_rejects(
            &Discord,
            PUBLIC,
            &[sig, ("X-Signature-Timestamp", bad)],
            BODY,
            malformed_ts,
        );
    }
}

#[test]
fn wrong_key_tampered_body_and_tampered_timestamp_are_mismatches() {
    let mismatch = |e: &VerifyError| *e == VerifyError::SignatureMismatch;
    let sig = ("X-Signature-Ed25519", SIG);
    let ts = ("X-Signature-Timestamp", "1616343571");
    assert_rejects(&Discord, OTHER_PUBLIC, &[sig, ts], BODY, mismatch);
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("\"type\":1", "\"type\":2");
    assert_rejects(&Discord, PUBLIC, &[sig, ts], tampered.as_bytes(), mismatch);
    assert_rejects(
        &Discord,
        PUBLIC,
        &[sig, ("X-Signature-Timestamp", "1616343572")],
        BODY,
        mismatch,
    );
    // A well-formed all-zero signature is not accepted either.
    assert_rejects(
        &Discord,
        PUBLIC,
        &[("X-Signature-Ed25519", &"0".repeat(128)), ts],
        BODY,
        mismatch,
    );
}

#[test]
fn key_parsing_errors_name_the_problem_without_the_key() {
    let err = Discord.parse_key("").unwrap_err();
    assert_eq!(err.problem, "empty");
    let err = Discord.parse_key(&PUBLIC[..62]).unwrap_err();
    assert_eq!(err.problem, "not 64 hex digits long");
    let err = Discord
        .parse_key(&format!("{}zz", &PUBLIC[..62]))
        .unwrap_err();
    assert_eq!(err.problem, "not hexadecimal");
    assert!(!err.to_string().contains(&PUBLIC[..62]));
    // y = 2 has no x on the curve: 64 valid hex digits, not a public key.
    let err = Discord
        .parse_key("0200000000000000000000000000000000000000000000000000000000000000")
        .unwrap_err();
    assert_eq!(err.problem, "not an Ed25519 public key");
    let err = Discord.parse_signing_key("abcd").unwrap_err();
    assert_eq!(err.expected, SEED_FORMAT);
    // Surrounding whitespace (a trailing newline from a secret file) is ignored.
    assert!(Discord.parse_key(&format!("{PUBLIC}\n")).is_ok());
}

#[test]
fn debug_output_never_shows_key_material() {
    let key = Discord.parse_signing_key(SEED).unwrap();
    let text = format!("{key:?}");
    assert!(
        !text.contains(&SEED[..16]) && !text.contains(&PUBLIC[..16]),
        "{text}"
    );
}

#[test]
fn a_public_key_cannot_sign() {
    let key = Discord.parse_key(PUBLIC).unwrap();
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &empty,
        body: BODY,
    };
    let err = Discord
        .sign(&request, &key, &SignOptions::default())
        .unwrap_err();
    assert!(matches!(err, SignError::KeyCannotSign { .. }));
}

#[test]
fn keyring_without_ed25519_keys_is_a_secret_format_error() {
    let keys = Keyring::from_keys(vec![KeyEntry {
        id: "hmac".into(),
        key: Key::mac(
            crate::verify::mac::MacAlgorithm::Sha256,
            b"not an ed25519 key",
        ),
    }]);
    let h = signed();
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &h,
        body: BODY,
    };
    let ctx = VerifyContext::new(&Discord, TS);
    let err = Discord.verify(&request, &keys, &ctx).unwrap_err();
    assert!(matches!(err, VerifyError::SecretFormat { .. }), "{err:?}");
    let err = Discord
        .verify(&request, &Keyring::from_keys(Vec::new()), &ctx)
        .unwrap_err();
    assert_eq!(err, VerifyError::NoSecret);
}
