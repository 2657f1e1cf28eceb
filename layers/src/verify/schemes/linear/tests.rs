use http::Method;

use super::*;
use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};

// Linear publishes no signed example (its docs and the @linear/sdk LinearWebhookClient show
// code only). Both signatures below were computed independently with
// `printf '%s' BODY | openssl dgst -sha256 -hmac lin_wh_8f3a2b1c9d0e`.
const SECRET: &str = "lin_wh_8f3a2b1c9d0e";
const BODY: &[u8] = br#"{"action":"create","type":"Issue","data":{"id":"9b2c7f3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f","title":"Webhook test"},"url":"https://linear.app/acme/issue/ENG-1","createdAt":"2024-04-30T12:00:00.000Z","webhookTimestamp":1714478400123,"webhookId":"0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"}"#;
const SIG: &str = "b65bc48b5ba26bc7d7e7835fcb21dd54243baaed963ec28f482d0b339083d0fa";
/// `webhookTimestamp` of BODY, in seconds.
const TS: i64 = 1_714_478_400;
/// A body without `webhookTimestamp`.
const BARE_BODY: &[u8] = br#"{"action":"remove","type":"Comment","data":{"id":"c1"}}"#;
const BARE_SIG: &str = "34aaf8b47cd202147baf86432babca2f32753c247a21a341f8f887365ab76798";
const DELIVERY_ID: &str = "234d1a4e-b617-4388-90fe-adc3633d6b72";

fn with_tolerance(
    secrets: &[&str],
    pairs: &[(&str, &str)],
    body: &[u8],
    now: i64,
    tolerance: Option<u64>,
) -> Result<Verified, VerifyError> {
    let keys = Keyring::from_secrets(&Linear, secrets).unwrap();
    let h = headers(pairs);
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &h,
        body,
    };
    Linear.verify(
        &request,
        &keys,
        &VerifyContext::new(&Linear, now).with_tolerance(tolerance),
    )
}

#[test]
fn openssl_vector_verifies_with_the_body_timestamp_and_delivery_id() {
    let h = headers(&[
        ("Linear-Signature", SIG),
        ("Linear-Delivery", DELIVERY_ID),
        ("Linear-Event", "Issue"),
    ]);
    let v = verify_with(&Linear, &[SECRET], &h, BODY, None, TS + 30).unwrap();
    assert_eq!(v.scheme, "linear");
    assert_eq!(v.secret_index, 0);
    assert_eq!(v.timestamp, Some(TS));
    assert_eq!(v.delivery_id.as_deref(), Some(DELIVERY_ID));
}

#[test]
fn default_window_is_the_sdks_one_minute_both_ways() {
    let h = headers(&[("Linear-Signature", SIG)]);
    assert_eq!(Linear.default_tolerance(), Some(60));
    assert!(verify_with(&Linear, &[SECRET], &h, BODY, None, TS + 60).is_ok());
    assert!(verify_with(&Linear, &[SECRET], &h, BODY, None, TS - 60).is_ok());
    let err = verify_with(&Linear, &[SECRET], &h, BODY, None, TS + 61).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: 61 });
    let err = verify_with(&Linear, &[SECRET], &h, BODY, None, TS - 61).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -61 });
}

#[test]
fn the_signed_body_timestamp_wins_over_the_unsigned_header() {
    // A replayer who refreshes Linear-Timestamp does not refresh the signed body field.
    let fresh_header = (TS + 3600) * 1000;
    let h = headers(&[
        ("Linear-Signature", SIG),
        ("Linear-Timestamp", &fresh_header.to_string()),
    ]);
    let err = verify_with(&Linear, &[SECRET], &h, BODY, None, TS + 3600).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: 3600 });
}

#[test]
fn header_timestamp_in_milliseconds_is_used_when_the_body_has_none() {
    let h = headers(&[
        ("Linear-Signature", BARE_SIG),
        ("Linear-Timestamp", "1714478400999"),
    ]);
    let v = verify_with(&Linear, &[SECRET], &h, BARE_BODY, None, TS + 60).unwrap();
    assert_eq!(v.timestamp, Some(TS));
    let err = verify_with(&Linear, &[SECRET], &h, BARE_BODY, None, TS - 61).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -61 });
}

#[test]
fn no_timestamp_at_all_is_refused_only_when_a_window_is_set() {
    let pairs = [("Linear-Signature", BARE_SIG)];
    let err = with_tolerance(&[SECRET], &pairs, BARE_BODY, TS, Some(60)).unwrap_err();
    assert!(
        matches!(err, VerifyError::MalformedBody { expected } if expected.contains("webhookTimestamp")),
        "{err:?}"
    );
    let v = with_tolerance(&[SECRET], &pairs, BARE_BODY, TS, None).unwrap();
    assert_eq!(v.timestamp, None);
}

#[test]
fn second_secret_matches_during_rotation() {
    let h = headers(&[("Linear-Signature", SIG)]);
    let v = verify_with(&Linear, &["lin_wh_new", SECRET], &h, BODY, None, TS).unwrap();
    assert_eq!(v.secret_index, 1);
}

#[test]
fn sign_then_verify_round_trips_with_the_header_timestamp() {
    let (h, body) = sign_with(&Linear, SECRET, BARE_BODY, None, 1_700_000_000, Some("d-1"));
    assert_eq!(body, BARE_BODY);
    // Signing is the same HMAC OpenSSL computed.
    assert_eq!(h["linear-signature"], BARE_SIG);
    assert_eq!(h["linear-timestamp"], "1700000000000");
    let v = verify_with(&Linear, &[SECRET], &h, &body, None, 1_700_000_030).unwrap();
    assert_eq!(v.timestamp, Some(1_700_000_000));
    assert_eq!(v.delivery_id.as_deref(), Some("d-1"));
}

#[test]
fn sign_then_verify_uses_the_body_timestamp_when_present() {
    let (h, body) = sign_with(&Linear, SECRET, BODY, None, TS, None);
    assert_eq!(h["linear-signature"], SIG);
    assert!(h.contains_key("linear-delivery"));
    assert!(verify_with(&Linear, &[SECRET], &h, &body, None, TS).is_ok());
}

#[test]
fn missing_duplicated_empty_and_malformed_signatures_are_rejected() {
    let missing =
        |e: &VerifyError| matches!(e, VerifyError::MissingHeader(h) if h == "linear-signature");
    let malformed = |e: &VerifyError| matches!(e, VerifyError::MalformedHeader { header, .. } if header == "linear-signature");
    assert_rejects(&Linear, SECRET, &[], BODY, missing);
    assert_rejects(&Linear, SECRET, &[("Linear-Signature", "")], BODY, missing);
    assert_rejects(
        &Linear,
        SECRET,
        &[("Linear-Signature", SIG), ("Linear-Signature", SIG)],
        BODY,
        |e| matches!(e, VerifyError::DuplicateHeader(_)),
    );
    assert_rejects(
        &Linear,
        SECRET,
        &[("Linear-Signature", &SIG[..62])],
        BODY,
        malformed,
    );
    assert_rejects(
        &Linear,
        SECRET,
        &[("Linear-Signature", &format!("sha256={SIG}"))],
        BODY,
        malformed,
    );
    assert_rejects(
        &Linear,
        SECRET,
        &[("Linear-Signature", &"g".repeat(64))],
        BODY,
        malformed,
    );
}

#[test]
fn wrong_secret_and_tampered_body_are_mismatches() {
    let mismatch = |e: &VerifyError| *e == VerifyError::SignatureMismatch;
    let pairs = [("Linear-Signature", SIG)];
    assert_rejects(&Linear, "lin_wh_wrong", &pairs, BODY, mismatch);
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("Webhook test", "Webhook pwned");
    assert_rejects(&Linear, SECRET, &pairs, tampered.as_bytes(), mismatch);
    // Moving the signed timestamp forward breaks the signature too.
    let moved = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("1714478400123", "1714478460123");
    assert_rejects(&Linear, SECRET, &pairs, moved.as_bytes(), mismatch);
}

#[test]
fn malformed_timestamps_and_delivery_ids_are_rejected() {
    for body in [
        br#"{"webhookTimestamp":"1714478400123"}"#.as_slice(),
        br#"{"webhookTimestamp":-1}"#,
        br#"{"webhookTimestamp":1714478400.5}"#,
    ] {
        assert_rejects(
            &Linear,
            SECRET,
            &[("Linear-Signature", SIG)],
            body,
            |e| matches!(e, VerifyError::MalformedBody { expected } if expected.contains("webhookTimestamp")),
        );
    }
    for bad in ["1714478400.123", "2024-04-30T12:00:00Z", "-5"] {
        assert_rejects(
            &Linear,
            SECRET,
            &[("Linear-Signature", BARE_SIG), ("Linear-Timestamp", bad)],
            BARE_BODY,
            |e| matches!(e, VerifyError::MalformedHeader { header, .. } if header == "linear-timestamp"),
        );
    }
    assert_rejects(
        &Linear,
        SECRET,
        &[
            ("Linear-Signature", SIG),
            ("Linear-Delivery", "a"),
            ("Linear-Delivery", "b"),
        ],
        BODY,
        |e| matches!(e, VerifyError::DuplicateHeader(h) if h == "linear-delivery"),
    );
}

#[test]
fn empty_secret_is_refused() {
    assert_eq!(Linear.parse_key("").unwrap_err().problem, "empty");
}
