use http::Method;

use super::*;
use crate::verify::testing::{headers, sign_with};

// mailgun/mailgun-php, tests/Api/WebhookTest.php, testVerifyWebhookGood / testVerifyWebhookBad:
// signing key, timestamp, token and signature; the bad case reuses the signature with another
// token. Re-checked with `printf '%s' 1403645220<token> | openssl dgst -sha256 -hmac <key>`.
const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
const TS: i64 = 1_403_645_220;
const TOKEN: &str = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6";
const SIG: &str = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33";
const BAD_TOKEN: &str = "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr";
// HMAC of the same timestamp and token with a subaccount's key, computed with
// `openssl dgst -sha256 -hmac key-subaccount-7f2e` (no published subaccount example).
const SUBACCOUNT_KEY: &str = "key-subaccount-7f2e";
const SUBACCOUNT_SIG: &str = "aeaeedcf7d29c3ffa6d5cbcf251bcbebca9bde58860d9ef656b9e67c73f754f4";

const JSON_CT: &str = "application/json";
const FORM_CT: &str = "application/x-www-form-urlencoded";

fn json_body(signature: &str) -> String {
    format!(
        r#"{{"signature":{signature},"event-data":{{"event":"delivered","id":"CPgfbmQMTCKtHW6uIWtuVe","timestamp":1521472262.908181,"recipient":"alice@example.com"}}}}"#
    )
}

fn php_signature_object() -> String {
    format!(r#"{{"timestamp":"{TS}","token":"{TOKEN}","signature":"{SIG}"}}"#)
}

fn form_body() -> String {
    format!("event=delivered&recipient=alice%40example.com&timestamp={TS}&token={TOKEN}&signature={SIG}&Message-Id=%3C1%40example.com%3E")
}

fn multipart_body(boundary: &str, fields: &[(&str, &str)]) -> String {
    let mut body = String::from("preamble to ignore\r\n");
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"signature\"; filename=\"signature.txt\"\r\nContent-Type: text/plain\r\n\r\ntimestamp=0\r\n--not-the-boundary\r\n--{boundary}--\r\n"
    ));
    body
}

fn verify_at(
    secrets: &[&str],
    content_type: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance: Option<u64>,
) -> Result<Verified, VerifyError> {
    let keys = Keyring::from_secrets(&Mailgun, secrets).unwrap();
    let pairs: Vec<(&str, &str)> = content_type
        .map(|ct| ("Content-Type", ct))
        .into_iter()
        .collect();
    let h = headers(&pairs);
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &h,
        body,
    };
    let ctx = VerifyContext::new(&Mailgun, now).with_tolerance(tolerance);
    Mailgun.verify(&request, &keys, &ctx)
}

fn verify(content_type: Option<&str>, body: &str) -> Result<Verified, VerifyError> {
    verify_at(&[KEY], content_type, body.as_bytes(), TS, None)
}

fn malformed_naming(field: &'static str) -> impl Fn(&Result<Verified, VerifyError>) -> bool {
    move |r| matches!(r, Err(VerifyError::MalformedBody { expected }) if expected.contains(field))
}

#[test]
fn json_webhook_with_the_php_sdk_vector_verifies() {
    let v = verify(Some(JSON_CT), &json_body(&php_signature_object())).unwrap();
    assert_eq!(v.scheme, "mailgun");
    assert_eq!(v.secret_index, 0);
    assert_eq!(v.timestamp, Some(TS));
    assert_eq!(v.delivery_id.as_deref(), Some(TOKEN));
}

#[test]
fn json_is_recognised_by_parameters_suffix_or_first_byte() {
    let body = format!("  \n{}", json_body(&php_signature_object()));
    assert!(verify(Some("Application/JSON; charset=utf-8"), &body).is_ok());
    assert!(verify(Some("application/vnd.mailgun+json"), &body).is_ok());
    assert!(verify(None, &body).is_ok());
    assert!(verify(Some("text/plain"), &body).is_ok());
}

#[test]
fn json_timestamp_may_be_an_integer() {
    let object = format!(r#"{{"timestamp":{TS},"token":"{TOKEN}","signature":"{SIG}"}}"#);
    assert_eq!(
        verify(Some(JSON_CT), &json_body(&object))
            .unwrap()
            .timestamp,
        Some(TS)
    );
}

#[test]
fn published_bad_token_is_a_mismatch() {
    let object = format!(r#"{{"timestamp":"{TS}","token":"{BAD_TOKEN}","signature":"{SIG}"}}"#);
    let err = verify(Some(JSON_CT), &json_body(&object)).unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
}

#[test]
fn form_webhook_with_the_php_sdk_vector_verifies() {
    let v = verify(Some(FORM_CT), &form_body()).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some(TOKEN));
    assert_eq!(v.timestamp, Some(TS));
    // Sniffed too: the body does not start with `{`.
    assert!(verify(None, &form_body()).is_ok());
    // Percent-encoding and `+` are decoded before the HMAC.
    let encoded = form_body().replace(TOKEN, &TOKEN.replace('g', "%67"));
    assert!(verify(Some(FORM_CT), &encoded).is_ok());
}

#[test]
fn multipart_route_with_an_attachment_verifies() {
    let boundary = "----mg-boundary-42";
    let body = multipart_body(
        boundary,
        &[
            ("recipient", "bob@example.com"),
            ("timestamp", &TS.to_string()),
            ("token", TOKEN),
            ("signature", SIG),
            ("body-plain", "Hi,\r\n--\r\nBob"),
        ],
    );
    let ct = format!("multipart/form-data; boundary=\"{boundary}\"");
    let v = verify(Some(&ct), &body).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some(TOKEN));
}

#[test]
fn parent_signature_matches_the_parent_accounts_key() {
    let object = format!(
        r#"{{"token":"{TOKEN}","timestamp":"{TS}","signature":"{SUBACCOUNT_SIG}","parent-signature":"{SIG}"}}"#
    );
    let body = json_body(&object);
    // The parent account's key matches through parent-signature...
    assert_eq!(verify(Some(JSON_CT), &body).unwrap().secret_index, 0);
    // ...the subaccount's key through signature.
    let v = verify_at(&[SUBACCOUNT_KEY], Some(JSON_CT), body.as_bytes(), TS, None).unwrap();
    assert_eq!(v.secret_index, 0);
    // Neither: mismatch.
    let err = verify_at(&["key-other"], Some(JSON_CT), body.as_bytes(), TS, None).unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
}

#[test]
fn second_key_matches_during_rotation() {
    let body = json_body(&php_signature_object());
    let v = verify_at(&["key-new", KEY], Some(JSON_CT), body.as_bytes(), TS, None).unwrap();
    assert_eq!(v.secret_index, 1);
    assert_eq!(&*v.secret_id, "1");
}

#[test]
fn no_default_window_but_a_configured_one_applies_both_ways() {
    assert_eq!(Mailgun.default_tolerance(), None);
    let body = json_body(&php_signature_object());
    let b = body.as_bytes();
    assert!(verify_at(&[KEY], Some(JSON_CT), b, TS + 10 * 365 * 86_400, None).is_ok());
    assert!(verify_at(&[KEY], Some(JSON_CT), b, TS + 300, Some(300)).is_ok());
    assert_eq!(
        verify_at(&[KEY], Some(JSON_CT), b, TS + 301, Some(300)).unwrap_err(),
        VerifyError::TimestampOutsideWindow { skew_secs: 301 }
    );
    assert_eq!(
        verify_at(&[KEY], Some(JSON_CT), b, TS - 301, Some(300)).unwrap_err(),
        VerifyError::TimestampOutsideWindow { skew_secs: -301 }
    );
}

#[test]
fn json_bodies_missing_or_malformed_fields_are_rejected_naming_the_field() {
    let obj = |ts: &str, token: &str, sig: &str| {
        json_body(&format!(
            r#"{{"timestamp":{ts},"token":{token},"signature":{sig}}}"#
        ))
    };
    let ts = format!("\"{TS}\"");
    let token = format!("\"{TOKEN}\"");
    let sig = format!("\"{SIG}\"");
    let cases: Vec<(String, &'static str)> = vec![
        (r#"{"event-data":{}}"#.to_owned(), "\"signature\" object"),
        (json_body("\"not an object\""), "\"signature\" object"),
        ("not json at all".to_owned(), "\"signature\" object"),
        (
            json_body(&format!(r#"{{"token":{token},"signature":{sig}}}"#)),
            "signature.timestamp",
        ),
        (
            json_body(&format!(r#"{{"timestamp":{ts},"signature":{sig}}}"#)),
            "signature.token",
        ),
        (
            json_body(&format!(r#"{{"timestamp":{ts},"token":{token}}}"#)),
            "signature.signature",
        ),
        (obj(&ts, &token, "\"\""), "signature.signature"),
        (
            obj(&ts, &token, &format!("\"{}\"", &SIG[..62])),
            "signature.signature",
        ),
        (
            obj(&ts, &token, &format!("\"{}zz\"", &SIG[..62])),
            "signature.signature",
        ),
        (obj(&ts, &token, "64"), "signature.signature"),
        (obj(&ts, "\"\"", &sig), "signature.token"),
        (obj(&ts, "7", &sig), "signature.token"),
        (obj("\"14036452x0\"", &token, &sig), "signature.timestamp"),
        (obj("-1403645220", &token, &sig), "signature.timestamp"),
        (obj("1403645220.5", &token, &sig), "signature.timestamp"),
        (obj("\"\"", &token, &sig), "signature.timestamp"),
    ];
    for (body, field) in cases {
        let result = verify(Some(JSON_CT), &body);
        assert!(malformed_naming(field)(&result), "{body}: {result:?}");
    }
}

#[test]
fn form_bodies_missing_duplicated_or_malformed_fields_are_rejected_naming_the_field() {
    let cases: Vec<(String, &'static str)> = vec![
        (
            form_body().replace(&format!("&timestamp={TS}"), ""),
            "timestamp",
        ),
        (form_body().replace(&format!("&token={TOKEN}"), ""), "token"),
        (
            form_body().replace(&format!("&signature={SIG}"), ""),
            "signature",
        ),
        (form_body().replace(SIG, ""), "signature"),
        (
            form_body().replace(&TS.to_string(), "1403645220+"),
            "timestamp",
        ),
        (
            format!("{}&timestamp={TS}", form_body()),
            "exactly one timestamp",
        ),
        (
            format!("{}&t%69mestamp={TS}", form_body()),
            "exactly one timestamp",
        ),
        (
            format!("{}&token={TOKEN}", form_body()),
            "exactly one non-empty token",
        ),
        (
            format!("signature={SIG}&{}", form_body()),
            "exactly one signature",
        ),
        (String::new(), "timestamp"),
    ];
    for (body, field) in cases {
        let result = verify(Some(FORM_CT), &body);
        assert!(malformed_naming(field)(&result), "{body}: {result:?}");
    }
}

#[test]
fn multipart_problems_are_rejected() {
    // No boundary parameter.
    let err = verify(Some("multipart/form-data"), "x").unwrap_err();
    assert!(matches!(err, VerifyError::MalformedHeader { header, .. } if header == CONTENT_TYPE));
    // A boundary that does not delimit the body.
    let body = multipart_body(
        "real",
        &[("timestamp", "1"), ("token", TOKEN), ("signature", SIG)],
    );
    let err = verify(Some("multipart/form-data; boundary=other"), &body).unwrap_err();
    assert!(
        matches!(err, VerifyError::MalformedBody { expected } if expected.contains("multipart"))
    );
    // A part never closed.
    let truncated = "--b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nabc";
    assert!(verify(Some("multipart/form-data; boundary=b"), truncated).is_err());
    // A repeated field.
    let ts = TS.to_string();
    let body = multipart_body(
        "b",
        &[
            ("timestamp", &ts),
            ("timestamp", &ts),
            ("token", TOKEN),
            ("signature", SIG),
        ],
    );
    let result = verify(Some("multipart/form-data; boundary=b"), &body);
    assert!(
        malformed_naming("exactly one timestamp")(&result),
        "{result:?}"
    );
    // A field only present as a file does not count.
    let body = multipart_body("b", &[("timestamp", &ts), ("token", TOKEN)]);
    let result = verify(Some("multipart/form-data; boundary=b"), &body);
    assert!(malformed_naming("signature")(&result), "{result:?}");
}

#[test]
fn wrong_key_and_tampered_signed_values_are_mismatches() {
    let body = json_body(&php_signature_object());
    let err = verify_at(&["key-wrong"], Some(JSON_CT), body.as_bytes(), TS, None).unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    let later = body.replace(&TS.to_string(), &(TS + 1).to_string());
    assert_eq!(
        verify(Some(JSON_CT), &later).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let other_token = form_body().replace(TOKEN, &TOKEN.replace('5', "6"));
    assert_eq!(
        verify(Some(FORM_CT), &other_token).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn repeated_content_type_is_refused() {
    let keys = Keyring::from_secrets(&Mailgun, [KEY]).unwrap();
    let h = headers(&[("Content-Type", JSON_CT), ("Content-Type", FORM_CT)]);
    let body = json_body(&php_signature_object());
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &h,
        body: body.as_bytes(),
    };
    let err = Mailgun
        .verify(&request, &keys, &VerifyContext::new(&Mailgun, TS))
        .unwrap_err();
    assert!(matches!(err, VerifyError::DuplicateHeader(_)), "{err:?}");
}

#[test]
fn sign_inserts_the_signature_object_and_keeps_every_other_byte() {
    let body = r#"{ "event-data" : {"event":"opened", "signature":"nested, untouched"} }"#;
    let (h, signed) = sign_with(&Mailgun, KEY, body.as_bytes(), None, TS, Some(TOKEN));
    assert!(h.is_empty());
    let signed = String::from_utf8(signed).unwrap();
    assert_eq!(
        signed,
        format!(
            r#"{{"signature":{{"token":"{TOKEN}","timestamp":"{TS}","signature":"{SIG}"}}, "event-data" : {{"event":"opened", "signature":"nested, untouched"}} }}"#
        )
    );
    let v = verify(Some(JSON_CT), &signed).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some(TOKEN));
}

#[test]
fn sign_replaces_an_existing_signature_object_and_handles_empty_objects() {
    let body =
        r#"{"a":1,"signature" : {"token":"old","timestamp":"1","signature":"00"},"z":[1,2]}"#;
    let (_, signed) = sign_with(&Mailgun, KEY, body.as_bytes(), None, TS, Some(TOKEN));
    let signed = String::from_utf8(signed).unwrap();
    assert_eq!(
        signed,
        format!(
            r#"{{"a":1,"signature" : {},"z":[1,2]}}"#,
            format_args!(r#"{{"token":"{TOKEN}","timestamp":"{TS}","signature":"{SIG}"}}"#)
        )
    );
    assert!(verify(None, &signed).is_ok());
    let (_, signed) = sign_with(&Mailgun, KEY, b"{ }", None, TS, None);
    let v = verify(None, std::str::from_utf8(&signed).unwrap()).unwrap();
    assert_eq!(v.delivery_id.unwrap().len(), 50);
}

#[test]
fn sign_form_replaces_old_fields_and_verifies() {
    let body = "event=delivered&timestamp=1&token=old&signature=00&recipient=a%40b.c";
    let (_, signed) = sign_with(&Mailgun, KEY, body.as_bytes(), None, TS, Some(TOKEN));
    let signed = String::from_utf8(signed).unwrap();
    assert_eq!(
        signed,
        format!("event=delivered&recipient=a%40b.c&timestamp={TS}&token={TOKEN}&signature={SIG}")
    );
    assert!(verify(Some(FORM_CT), &signed).is_ok());
    let (_, signed) = sign_with(&Mailgun, KEY, b"", None, TS, Some("a token+with&symbols"));
    let v = verify(Some(FORM_CT), std::str::from_utf8(&signed).unwrap()).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some("a token+with&symbols"));
}

#[test]
fn sign_multipart_keeps_other_parts_and_verifies() {
    let keys = Mailgun.parse_signing_key(KEY).unwrap();
    let h = headers(&[("Content-Type", "multipart/form-data; boundary=b0undary")]);
    let body = multipart_body("b0undary", &[("subject", "Hello"), ("token", "stale")]);
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &h,
        body: body.as_bytes(),
    };
    let options = SignOptions {
        timestamp: TS,
        id: Some(TOKEN.to_owned()),
    };
    let out = Mailgun.sign(&request, &keys, &options).unwrap();
    let signed = String::from_utf8(out.body.unwrap()).unwrap();
    assert!(
        signed.contains("name=\"subject\"\r\n\r\nHello\r\n"),
        "{signed}"
    );
    assert!(signed.contains("filename=\"signature.txt\""), "{signed}");
    assert!(!signed.contains("stale"), "{signed}");
    assert!(signed.ends_with("--b0undary--\r\n"));
    let v = verify(Some("multipart/form-data; boundary=b0undary"), &signed).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some(TOKEN));
    // A token with a line break would break the part structure.
    let bad = SignOptions {
        timestamp: TS,
        id: Some("a\r\nb".to_owned()),
    };
    assert!(matches!(
        Mailgun.sign(&request, &keys, &bad),
        Err(SignError::Body { .. })
    ));
}

#[test]
fn sign_refuses_json_that_is_not_an_object() {
    let keys = Mailgun.parse_signing_key(KEY).unwrap();
    let h = headers(&[("Content-Type", JSON_CT)]);
    for body in [&b"[1,2]"[..], b"{\"a\":", b""] {
        let request = WebhookRequest {
            method: &Method::POST,
            url: None,
            headers: &h,
            body,
        };
        let err = Mailgun
            .sign(&request, &keys, &SignOptions::default())
            .unwrap_err();
        assert_eq!(
            err,
            SignError::Body {
                expected: "a JSON object"
            }
        );
    }
}

#[test]
fn value_span_finds_only_the_top_level_field() {
    let body = br#" { "x" : {"signature":1}, "n": -1.5e3 ,"signature" :{"a":[1,"}"]} } "#;
    let span = json::value_span(body, "signature").unwrap();
    assert_eq!(&body[span], br#"{"a":[1,"}"]}"#);
    assert!(json::value_span(br#"{"x":{"signature":1}}"#, "signature").is_none());
    assert!(json::value_span(br#"["signature"]"#, "signature").is_none());
    assert!(json::value_span(b"{}", "signature").is_none());
}

#[test]
fn empty_key_is_refused() {
    assert_eq!(Mailgun.parse_key("").unwrap_err().problem, "empty");
}
