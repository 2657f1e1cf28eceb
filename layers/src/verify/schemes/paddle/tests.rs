use super::*;
use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};

// paddle-node-sdk `src/__tests__/notifications/webhooks-validator.node.test.ts`: secret
// VALID_SECRET, timestamp 1698796800 (2023-11-01T00:00:00Z), body `{"data": ["1", "2"]}`.
const NODE_SECRET: &str = "VALID_SECRET";
const NODE_TS: i64 = 1698796800;
const NODE_BODY: &[u8] = br#"{"data": ["1", "2"]}"#;
const NODE_HEADER: &str =
    "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9";

// paddle-python-sdk `tests/Unit/Notification/test_Verifier.py`
// (`test_validate_paddle_signature_header_integrity`): three secrets, only the third signs
// `hello-world` at ts 1696195954; the header also carries an undecodable `h1=dummy`.
const PY_SECRETS: [&str; 3] = [
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
];
const PY_HEADER: &str =
    "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02";

fn node(header: &str, body: &[u8], secret: &str, now: i64) -> Result<Verified, VerifyError> {
    let h = headers(&[("Paddle-Signature", header)]);
    verify_with(&Paddle, &[secret], &h, body, None, now)
}

#[test]
fn paddle_node_sdk_vector_verifies() {
    let v = node(NODE_HEADER, NODE_BODY, NODE_SECRET, NODE_TS).unwrap();
    assert_eq!(v.scheme, "paddle");
    assert_eq!(v.secret_index, 0);
    assert_eq!(v.timestamp, Some(NODE_TS));
    // The body has no notification_id.
    assert_eq!(v.delivery_id, None);
}

#[test]
fn several_h1_and_unknown_keys_are_accepted() {
    // paddle-node-sdk "Valid signature with multiple hashes".
    let header = "ts=1698796800;h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;h2=RANDOM_HASH";
    assert!(node(header, br#"{"data": "value"}"#, NODE_SECRET, NODE_TS).is_ok());
}

#[test]
fn paddle_python_sdk_vector_matches_the_third_secret() {
    let h = headers(&[("Paddle-Signature", PY_HEADER)]);
    let v = verify_with(&Paddle, &PY_SECRETS, &h, b"hello-world", None, 1696195954).unwrap();
    assert_eq!(v.secret_index, 2);
}

#[test]
fn second_secret_matches_during_rotation() {
    let h = headers(&[("Paddle-Signature", NODE_HEADER)]);
    let v = verify_with(
        &Paddle,
        &["INVALID_VALID_SECRET", NODE_SECRET],
        &h,
        NODE_BODY,
        None,
        NODE_TS,
    )
    .unwrap();
    assert_eq!(v.secret_index, 1);
}

#[test]
fn tolerance_is_five_seconds_either_way() {
    // paddle-node-sdk: valid at +1 s and +5 s, rejected at +6 s and days later.
    assert_eq!(Paddle.default_tolerance(), Some(5));
    assert!(node(NODE_HEADER, NODE_BODY, NODE_SECRET, NODE_TS + 1).is_ok());
    assert!(node(NODE_HEADER, NODE_BODY, NODE_SECRET, NODE_TS + 5).is_ok());
    assert_eq!(
        node(NODE_HEADER, NODE_BODY, NODE_SECRET, NODE_TS + 6).unwrap_err(),
        VerifyError::TimestampOutsideWindow { skew_secs: 6 }
    );
    assert_eq!(
        node(NODE_HEADER, NODE_BODY, NODE_SECRET, NODE_TS + 4 * 86_400).unwrap_err(),
        VerifyError::TimestampOutsideWindow {
            skew_secs: 4 * 86_400
        }
    );
    // The SDKs only look backwards; a timestamp from the future is refused here too.
    assert_eq!(
        node(NODE_HEADER, NODE_BODY, NODE_SECRET, NODE_TS - 6).unwrap_err(),
        VerifyError::TimestampOutsideWindow { skew_secs: -6 }
    );
}

#[test]
fn paddle_rejections() {
    let s = Paddle;
    let body = NODE_BODY;
    let sig = |e: &VerifyError| *e == VerifyError::SignatureMismatch;
    let malformed = |e: &VerifyError| matches!(e, VerifyError::MalformedHeader { .. });
    let missing = |e: &VerifyError| matches!(e, VerifyError::MissingHeader(_));
    assert_rejects(&s, NODE_SECRET, &[], body, missing);
    assert_rejects(&s, NODE_SECRET, &[("Paddle-Signature", "")], body, missing);
    assert_rejects(
        &s,
        NODE_SECRET,
        &[
            ("Paddle-Signature", NODE_HEADER),
            ("Paddle-Signature", NODE_HEADER),
        ],
        body,
        |e| matches!(e, VerifyError::DuplicateHeader(_)),
    );
    // paddle-node-sdk "validate header" cases, then other malformed values.
    for value in [
        "invalid_header",
        "h1=invalid_header",
        "ts=1234;h2=invalid_header",
        "ts=1234;h1=invalid_signature",
        "ts=1698796800;h1=",
        "ts=1698796800;h1=a3004287",
        "ts=;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9",
        "ts=-1;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9",
        "ts=1698796800;ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9",
        "ts=1698796800;;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9",
    ] {
        assert_rejects(&s, NODE_SECRET, &[("Paddle-Signature", value)], body, malformed);
    }
    // paddle-node-sdk "Invalid secret", "Invalid timestamp", "Invalid data - has more space".
    assert_rejects(
        &s,
        "INVALID_VALID_SECRET",
        &[("Paddle-Signature", NODE_HEADER)],
        body,
        sig,
    );
    assert_rejects(
        &s,
        NODE_SECRET,
        &[(
            "Paddle-Signature",
            "ts=9876;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9",
        )],
        body,
        sig,
    );
    assert_rejects(
        &s,
        NODE_SECRET,
        &[("Paddle-Signature", NODE_HEADER)],
        br#"{ "data": [ "1", "2" ]}"#,
        sig,
    );
}

#[test]
fn parse_header_keeps_the_signed_timestamp_text() {
    assert_eq!(
        parse_header(" ts=1 ; h1=ab ;h1=cd;h9=x"),
        Some(PaddleHeader {
            timestamp: "1",
            h1: vec!["ab", "cd"]
        })
    );
    assert_eq!(parse_header("ts=1"), None);
}

#[test]
fn sign_then_verify_round_trips_with_the_notification_id() {
    let body =
        br#"{"event_id":"evt_01","notification_id":"ntf_01h8","event_type":"transaction.paid"}"#;
    let secret = "pdl_ntfset_01hs0t3tw21j988db1pam5xg8m_GrOWLNef+vmtjJYq4mSnHNzvc8uWoJ1I";
    let (h, sent) = sign_with(&Paddle, secret, body, None, 1_700_000_000, None);
    let v = verify_with(&Paddle, &[secret], &h, &sent, None, 1_700_000_003).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some("ntf_01h8"));
    assert_eq!(v.timestamp, Some(1_700_000_000));
    assert!(verify_with(&Paddle, &["other"], &h, &sent, None, 1_700_000_003).is_err());
}

#[test]
fn sign_reproduces_the_node_sdk_vector() {
    let (h, _) = sign_with(&Paddle, NODE_SECRET, NODE_BODY, None, NODE_TS, None);
    assert_eq!(h["paddle-signature"], NODE_HEADER);
}
