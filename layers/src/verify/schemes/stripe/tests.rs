//! Cases from Stripe's own SDK webhook tests, with signatures computed independently.
//!
//! Sources: stripe-node `test/Webhook.spec.ts`, stripe-python `tests/test_webhook.py`,
//! stripe-go `webhook/client_test.go`. Those tests generate their signatures at run time
//! with the SDK, so none publishes a fixed header; every expected signature below was
//! computed with `printf '%s' "<t>.<payload>" | openssl dgst -sha256 -hmac whsec_test_secret`,
//! never with the code under test.

use http::Method;

use super::*;
use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};
use crate::verify::{SecretError, VerifyError};

/// The secret of all three SDK test suites, used as-is (prefix included).
const SECRET: &str = "whsec_test_secret";
/// stripe-go's rolled secret: `testSecret + "_rolled_key"`.
const ROLLED_SECRET: &str = "whsec_test_secret_rolled_key";

/// stripe-node's `EVENT_PAYLOAD_STRING`: `JSON.stringify({id, object}, null, 2)`.
const PAYLOAD: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";

/// stripe-python's `DUMMY_WEBHOOK_PAYLOAD` (a nested object also has an `id`).
const PY_PAYLOAD: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"data\": { \"object\": { \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n}";

/// An arbitrary "now" for the cases that do not come with their own clock.
const NOW: i64 = 1_700_000_000;

// openssl: HMAC-SHA256(SECRET, "1700000000." + PAYLOAD)
const SIG_NOW: &str = "4f1cd7feda9826e746b7d482c4badebb657398df1099e1046364f6196a230150";
// openssl: HMAC-SHA256(ROLLED_SECRET, "1700000000." + PAYLOAD)
const SIG_NOW_ROLLED: &str = "dc80d0334b78e0dbbc3d5352c151a428b746163b94ad381096bb293b9e650f1e";
// openssl: HMAC-SHA256("test_secret", "1700000000." + PAYLOAD) — the secret without its prefix.
const SIG_NOW_UNPREFIXED: &str = "81d2dbbf6b6f7a35b1aad135f5871c81c7ac8e13f5c55b0236c9dcb3dbeb94ea";
// openssl: HMAC-SHA256(SECRET, "1700000000." + PY_PAYLOAD)
const SIG_NOW_PY: &str = "3bfab77baf5f7b6991a46c9b53b6547d7afc56148b10468fcad9f35c1992ffbd";
// openssl: HMAC-SHA256(SECRET, "<t>." + PAYLOAD) for the window edges around NOW.
const SIG_MINUS_300: &str = "c4a6381e4e047fc6df72b8469e73152bdaf5c87c7c81f847415c6ecde47b8190";
const SIG_MINUS_301: &str = "7fe80edc955ab876f09b7e4f44300802d1f24b49b823bf67cf1ed519b17dac19";
const SIG_PLUS_300: &str = "a58f0a32adf54369a341a33be4b6e7ba586760d49549ce2154625bb05397e43d";
const SIG_PLUS_301: &str = "a197fe4cf0d48ceeb5118b3a7de8d5d61b8e8367b8ee94a532901ad81d5f90e3";
// stripe-node's `receivedAt = 20000000` ms (20000 s), tolerance 10: t = 19985, 19991, and
// the mirror case 20015 in the future.
const SIG_19985: &str = "934adb23c2f58f64deab2c89db028b0af45bad688e46d3e88bd2d21cbb83ab21";
const SIG_19991: &str = "005ec3d9ed97031e44c771ed3a6fdd7e6e5a2ebe43d1c23e407cb00074ff60aa";
const SIG_20015: &str = "e27ede58ce55b10b40814aad1aaba86bca0dc621654c0d915f8e5d254d37b3ab";
// stripe-node / stripe-python / stripe-go: `timestamp: 12345` verifies when no tolerance is set.
const SIG_12345: &str = "2672d138c9a412830f3bfe2ecc5bfb3277cf6f5b49d0119d77dd6cb64da1257e";

fn header_value(t: i64, sig: &str) -> String {
    format!("t={t},v1={sig}")
}

/// Verifies one `Stripe-Signature` value at `now` with an explicit tolerance.
fn verify_at(
    secrets: &[&str],
    value: &str,
    body: &[u8],
    now: i64,
    tolerance: Option<u64>,
) -> Result<Verified, VerifyError> {
    let keys = Keyring::from_secrets(&Stripe, secrets).expect("test secrets parse");
    let h = headers(&[("Stripe-Signature", value)]);
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &h,
        body,
    };
    let ctx = VerifyContext::new(&Stripe, now).with_tolerance(tolerance);
    Stripe.verify(&request, &keys, &ctx)
}

fn verify_now(secrets: &[&str], value: &str, body: &[u8]) -> Result<Verified, VerifyError> {
    verify_at(secrets, value, body, NOW, Some(300))
}

#[test]
fn sdk_payload_with_valid_header_verifies_and_reports_event_id() {
    let v = verify_now(&[SECRET], &header_value(NOW, SIG_NOW), PAYLOAD).unwrap();
    assert_eq!(v.scheme, "stripe");
    assert_eq!(v.secret_index, 0);
    assert_eq!(&*v.secret_id, "0");
    assert_eq!(v.timestamp, Some(NOW));
    assert_eq!(v.delivery_id.as_deref(), Some("evt_test_webhook"));
}

#[test]
fn delivery_id_is_the_top_level_event_id_not_a_nested_one() {
    let v = verify_now(&[SECRET], &header_value(NOW, SIG_NOW_PY), PY_PAYLOAD).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some("evt_test_webhook"));
}

#[test]
fn body_without_an_id_verifies_with_no_delivery_id() {
    // openssl: HMAC-SHA256(SECRET, "1700000000.not json") — a signed body that is not an
    // event still verifies; there is just no id to report.
    let sig = "0e28b05015734fffa1e02f8b443678fbe189e902dcfeb61f9c18714551e168f4";
    let v = verify_now(&[SECRET], &header_value(NOW, sig), b"not json").unwrap();
    assert_eq!(v.delivery_id, None);
}

#[test]
fn secret_is_used_with_its_whsec_prefix_as_is() {
    // The signature made with the whole string verifies…
    assert!(verify_now(&[SECRET], &header_value(NOW, SIG_NOW), PAYLOAD).is_ok());
    // …and one made with the prefix stripped does not: the prefix is part of the key.
    assert_eq!(
        verify_now(&[SECRET], &header_value(NOW, SIG_NOW_UNPREFIXED), PAYLOAD).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verify_now(&["test_secret"], &header_value(NOW, SIG_NOW), PAYLOAD).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert!(verify_now(
        &["test_secret"],
        &header_value(NOW, SIG_NOW_UNPREFIXED),
        PAYLOAD
    )
    .is_ok());
}

#[test]
fn signing_produces_the_independently_computed_header() {
    let (h, body) = sign_with(&Stripe, SECRET, PAYLOAD, None, NOW, None);
    assert_eq!(body, PAYLOAD);
    assert_eq!(h.len(), 1);
    assert_eq!(
        h.get("stripe-signature").unwrap(),
        header_value(NOW, SIG_NOW).as_str()
    );
}

#[test]
fn one_matching_v1_among_several_is_enough() {
    // stripe-node: `header += ',v1=potato'`; stripe-python: `+ ",v1=bad_signature"`.
    for extra in [
        "v1=potato",
        "v1=bad_signature",
        &format!("v1={}", "0".repeat(64)),
    ] {
        let after = format!("{},{extra}", header_value(NOW, SIG_NOW));
        assert!(verify_now(&[SECRET], &after, PAYLOAD).is_ok(), "{after}");
        let before = format!("t={NOW},{extra},v1={SIG_NOW}");
        assert!(verify_now(&[SECRET], &before, PAYLOAD).is_ok(), "{before}");
    }
}

#[test]
fn header_signed_with_old_and_rolled_secret_verifies_with_either() {
    // stripe-go: `headerWithRolledKey := p.Header + ",v1=" + p2.hexSignature()`.
    let value = format!("{},v1={SIG_NOW_ROLLED}", header_value(NOW, SIG_NOW));
    assert_eq!(
        verify_now(&[SECRET], &value, PAYLOAD).unwrap().secret_index,
        0
    );
    assert_eq!(
        verify_now(&[ROLLED_SECRET], &value, PAYLOAD)
            .unwrap()
            .secret_index,
        0
    );
    // Rotation on hookguard's side: the second configured secret matches.
    let v = verify_now(&["whsec_other", ROLLED_SECRET], &value, PAYLOAD).unwrap();
    assert_eq!(v.secret_index, 1);
    assert_eq!(&*v.secret_id, "1");
}

#[test]
fn v0_signatures_are_ignored() {
    // stripe-node / stripe-python `scheme: 'v0'`: the right MAC under the v0 label only.
    assert!(matches!(
        verify_now(&[SECRET], &format!("t={NOW},v0={SIG_NOW}"), PAYLOAD).unwrap_err(),
        VerifyError::MalformedHeader { .. }
    ));
    // A correct v0 does not rescue a wrong v1.
    let value = format!("t={NOW},v1={},v0={SIG_NOW}", "0".repeat(64));
    assert_eq!(
        verify_now(&[SECRET], &value, PAYLOAD).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Nor does an unknown scheme; but neither breaks a valid v1 (Stripe's own docs show
    // headers with both v1 and v0).
    let value = format!("t={NOW},v1={SIG_NOW},v0={SIG_NOW},v9=whatever");
    assert!(verify_now(&[SECRET], &value, PAYLOAD).is_ok());
}

#[test]
fn header_without_usable_v1_is_malformed() {
    for value in [
        format!("t={NOW}"),
        format!("t={NOW},v1="),                   // empty signature
        format!("t={NOW},v1=potato"),             // not hex
        format!("t={NOW},v1={}", &SIG_NOW[..62]), // hex, but not 32 bytes
    ] {
        let err = verify_now(&[SECRET], &value, PAYLOAD).unwrap_err();
        assert_eq!(
            err,
            VerifyError::MalformedHeader {
                header: HEADER,
                expected: EXPECTED
            },
            "{value}"
        );
    }
}

#[test]
fn header_without_timestamp_or_not_a_header_is_malformed() {
    for value in [
        format!("v1={SIG_NOW}"),
        "bad_header".to_owned(), // stripe-node / stripe-python
        "I'm not even a real signature header".to_owned(), // stripe-node
        "t=".to_owned(),         // stripe-go
        "v1,t=1".to_owned(),     // stripe-go
        format!("t=,v1={SIG_NOW}"),
        format!("t=-{NOW},v1={SIG_NOW}"),
        format!("t=+{NOW},v1={SIG_NOW}"),
        format!("t={NOW}.5,v1={SIG_NOW}"),
        format!("t={},v1={SIG_NOW}", "9".repeat(19)),
        // A repeated `t` is ambiguous: which one was signed?
        format!("t={NOW},t={NOW},v1={SIG_NOW}"),
        format!("t=1,t={NOW},v1={SIG_NOW}"),
    ] {
        let err = verify_now(&[SECRET], &value, PAYLOAD).unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { ref header, .. } if header == "stripe-signature"),
            "{value}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            "malformed header stripe-signature: expected t=<unix seconds>,v1=<hex>"
        );
    }
}

#[test]
fn missing_empty_or_repeated_header_is_rejected() {
    let good = header_value(NOW, SIG_NOW);
    assert_rejects(&Stripe, SECRET, &[], PAYLOAD, |e| {
        *e == VerifyError::MissingHeader(HEADER)
    });
    // stripe-node: "No stripe-signature header value was provided" for "".
    assert_rejects(&Stripe, SECRET, &[("Stripe-Signature", "")], PAYLOAD, |e| {
        *e == VerifyError::MissingHeader(HEADER)
    });
    assert_rejects(
        &Stripe,
        SECRET,
        &[("Stripe-Signature", &good), ("Stripe-Signature", &good)],
        PAYLOAD,
        |e| *e == VerifyError::DuplicateHeader(HEADER),
    );
}

#[test]
fn tampered_body_is_rejected() {
    // stripe-go appends `[` to the payload after signing.
    let mut tampered = PAYLOAD.to_vec();
    tampered.push(b'[');
    assert_eq!(
        verify_now(&[SECRET], &header_value(NOW, SIG_NOW), &tampered).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verify_now(&[SECRET], &header_value(NOW, SIG_NOW), b"").unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // A signature for another timestamp does not carry over (the timestamp is signed).
    assert_eq!(
        verify_now(&[SECRET], &header_value(NOW + 1, SIG_NOW), PAYLOAD).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn wrong_secret_is_a_mismatch() {
    assert_eq!(
        verify_now(&["whsec_wrong"], &header_value(NOW, SIG_NOW), PAYLOAD).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // stripe-node: a secret with a stray space fails verification too.
    let spaced = format!("{SECRET} ");
    assert_eq!(
        verify_now(&[spaced.as_str()], &header_value(NOW, SIG_NOW), PAYLOAD).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn stripe_node_received_at_window_cases() {
    // stripe-node: receivedAt 20000000 ms, tolerance 10: `receivedAt / 1000 - 15` is rejected,
    // `receivedAt / 1000 - 9` is accepted.
    let err = verify_at(
        &[SECRET],
        &header_value(19985, SIG_19985),
        PAYLOAD,
        20000,
        Some(10),
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: 15 });
    assert_eq!(
        err.to_string(),
        "timestamp outside the tolerance window: 15 s old"
    );
    assert!(verify_at(
        &[SECRET],
        &header_value(19991, SIG_19991),
        PAYLOAD,
        20000,
        Some(10)
    )
    .is_ok());
    // The SDKs only look at the past; hookguard also refuses a timestamp from the future.
    let err = verify_at(
        &[SECRET],
        &header_value(20015, SIG_20015),
        PAYLOAD,
        20000,
        Some(10),
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -15 });
    assert_eq!(
        err.to_string(),
        "timestamp outside the tolerance window: -15 s in the future"
    );
}

#[test]
fn default_tolerance_is_300_seconds_both_ways() {
    assert_eq!(Stripe.default_tolerance(), Some(300));
    let h = |t, sig| headers(&[("Stripe-Signature", &header_value(t, sig))]);
    let at = |t, sig| verify_with(&Stripe, &[SECRET], &h(t, sig), PAYLOAD, None, NOW);
    assert!(at(NOW - 300, SIG_MINUS_300).is_ok());
    assert!(at(NOW + 300, SIG_PLUS_300).is_ok());
    assert_eq!(
        at(NOW - 301, SIG_MINUS_301).unwrap_err(),
        VerifyError::TimestampOutsideWindow { skew_secs: 301 }
    );
    assert_eq!(
        at(NOW + 301, SIG_PLUS_301).unwrap_err(),
        VerifyError::TimestampOutsideWindow { skew_secs: -301 }
    );
}

#[test]
fn old_timestamp_verifies_when_the_window_is_disabled() {
    // All three SDKs: `timestamp: 12345` verifies when no tolerance is given.
    let v = verify_at(
        &[SECRET],
        &header_value(12345, SIG_12345),
        PAYLOAD,
        NOW,
        None,
    )
    .unwrap();
    assert_eq!(v.timestamp, Some(12345));
}

#[test]
fn timestamp_is_judged_only_after_the_signature() {
    // An old header with a wrong signature says "mismatch", not "too old": a forger learns
    // nothing about the window, and the skew is only reported for genuine deliveries.
    let value = header_value(12345, &"ab".repeat(32));
    assert_eq!(
        verify_now(&[SECRET], &value, PAYLOAD).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn secrets_are_checked_at_parse_time_without_echoing_them() {
    let err = Keyring::from_secrets(&Stripe, [SECRET, ""]).unwrap_err();
    assert_eq!(
        err,
        SecretError {
            index: 1,
            problem: "empty",
            expected: "the endpoint's signing secret, whsec_…"
        }
    );
    let keys = Keyring::from_secrets(&Stripe, [SECRET]).unwrap();
    assert!(!format!("{keys:?}").contains("test_secret"));
}

#[test]
fn no_configured_secret_is_reported_as_such() {
    let keys = Keyring::from_secrets(&Stripe, Vec::<&str>::new()).unwrap();
    let h = headers(&[("Stripe-Signature", &header_value(NOW, SIG_NOW))]);
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &h,
        body: PAYLOAD,
    };
    let ctx = VerifyContext::new(&Stripe, NOW);
    assert_eq!(
        Stripe.verify(&request, &keys, &ctx).unwrap_err(),
        VerifyError::NoSecret
    );
}

#[test]
fn parse_header_reads_t_and_every_v1() {
    let parsed = parse_header(" t=12 , v1=aa,v0=bb, v1=cc,foo=bar").unwrap();
    assert_eq!(
        parsed,
        StripeHeader {
            timestamp: "12",
            v1: vec!["aa", "cc"]
        }
    );
    assert_eq!(parse_header(""), None);
    assert_eq!(parse_header("t=12,v1=aa,junk"), None);
}

/// The event's `id` travels in the signed body and every event has one: the replay guard
/// stops every replay (a changed id breaks the signature) and refuses a delivery without
/// one.
#[test]
fn the_delivery_id_is_the_signed_event_id_and_always_sent() {
    let source = Stripe.delivery_id_source();
    assert!(source.headers.is_empty(), "{:?}", source.headers);
    assert!(source.signed);
    assert!(source.always_sent);
}
