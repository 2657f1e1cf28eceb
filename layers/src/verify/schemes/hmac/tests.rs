use http::{HeaderMap, Method};

use super::*;
use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};
use crate::verify::VerifyContext;

// Every expected MAC below was computed independently with OpenSSL, e.g.
// `printf '%s' '1700000000.{"event":"ping"}' | openssl dgst -sha256 -hmac s3cret`
// (base64 ones with `-binary | base64`). No provider publishes vectors for a generic scheme.
const SECRET: &str = "s3cret";
const BODY: &[u8] = br#"{"event":"ping"}"#;
const TS: i64 = 1_700_000_000;
/// HMAC-SHA256(s3cret, `1700000000.{"event":"ping"}`).
const DEFAULT_SIG: &str = "sha256=6846770b4cb3a67aa55cb7edb85678c8c36b8caf1022a60693ee1a47db73c48d";
/// HMAC-SHA256(s3cret, `1700000000123.{"event":"ping"}`).
const MILLIS_SIG: &str = "8e4dab5bc101ee8e30edeaf40c99dd08a975d0cc8b6d5ffa650c0ca3f5206675";
/// HMAC-SHA1(k1, `hello world`).
const SHA1_HEX: &str = "cbe001965cd62c6f674c1bf693aedfb4b884dfe9";
/// HMAC-SHA512(k1, `1700000000:hello world`).
const SHA512_HEX: &str = "c7860e42cf8aefdc3aee576053c06117e751d38165e3de42d00c73d92efd2b6d95163ad884d48079c6d450aa386319cdddad2a3453c76eb8cfe916ab4c3eff9a";
/// HMAC-SHA256(k1, `hello world`), standard base64.
const SHA256_B64: &str = "qlb8+7aZTKKU7tzmUQiBzigEnNIm+hBG4oRLpRSSyAA=";
/// HMAC-SHA256(k1, `hello world!!`), standard base64 (it contains a `+`).
const SHA256_B64_PLUS: &str = "vyaQyYUVGaOITTkueOz0iBg8Ga6QIJnGRG+XPuvkkVw=";
/// HMAC-SHA256(s3cret, `msg_1|https://example.com/hook?x=1|{"a":1}`).
const ID_URL_SIG: &str = "89c4e4e7013587d8d80ba5866fc0abf8158754594df92ef3bfcd72c646ac6c94";

fn option_error(options: HmacOptions) -> HmacOptionError {
    HmacScheme::generic(&options).unwrap_err()
}

fn body_only(algorithm: &str, encoding: &str, header: &str) -> HmacScheme {
    HmacScheme::generic(&HmacOptions {
        header: header.into(),
        algorithm: algorithm.into(),
        encoding: encoding.into(),
        prefix: String::new(),
        timestamp_header: None,
        ..HmacOptions::default()
    })
    .unwrap()
}

fn default_headers(signature: &str, timestamp: &str) -> HeaderMap {
    headers(&[
        ("X-Webhook-Signature", signature),
        ("X-Webhook-Timestamp", timestamp),
    ])
}

#[test]
fn unknown_algorithm_is_an_option_error() {
    let err = option_error(HmacOptions {
        algorithm: "md5".into(),
        ..HmacOptions::default()
    });
    assert_eq!(err.option, "algorithm");
    assert!(err.problem.contains("md5"), "{err}");
    assert_eq!(err.expected, "sha1, sha256 or sha512");
    assert!(
        err.to_string().starts_with("hmac scheme option algorithm:"),
        "{err}"
    );
    // Names are case-insensitive.
    assert!(HmacScheme::generic(&HmacOptions {
        algorithm: "SHA512".into(),
        ..HmacOptions::default()
    })
    .is_ok());
}

#[test]
fn unknown_encoding_is_an_option_error() {
    let err = option_error(HmacOptions {
        encoding: "base32".into(),
        ..HmacOptions::default()
    });
    assert_eq!(err.option, "encoding");
    assert!(err.problem.contains("base32"), "{err}");
    assert_eq!(err.expected, "hex or base64");
}

#[test]
fn unknown_or_unclosed_placeholders_are_option_errors() {
    let err = option_error(HmacOptions {
        payload: Some("{timestamp}.{nonce}.{body}".into()),
        ..HmacOptions::default()
    });
    assert_eq!(err.option, "payload");
    assert_eq!(err.problem, "unknown placeholder {nonce}");
    let err = option_error(HmacOptions {
        payload: Some("{body}.{timestamp".into()),
        ..HmacOptions::default()
    });
    assert_eq!(err.option, "payload");
    assert_eq!(err.problem, "unclosed '{' at byte 7");
}

#[test]
fn template_without_body_is_an_option_error() {
    let err = option_error(HmacOptions {
        payload: Some("{timestamp}".into()),
        ..HmacOptions::default()
    });
    assert_eq!(err.option, "payload");
    assert_eq!(err.expected, "a template containing {body}");
    // Parsed on its own, a literal-only template fails the same way.
    assert!(parse_template("static").is_err());
}

#[test]
fn placeholders_need_their_headers() {
    let err = option_error(HmacOptions {
        timestamp_header: None,
        payload: Some("{timestamp}.{body}".into()),
        ..HmacOptions::default()
    });
    assert_eq!(err.option, "payload");
    assert!(err.problem.contains("{timestamp}"), "{err}");
    assert!(err.expected.contains("timestamp_header"), "{err}");
    let err = option_error(HmacOptions {
        payload: Some("{id}.{body}".into()),
        ..HmacOptions::default()
    });
    assert!(err.problem.contains("{id}"), "{err}");
}

#[test]
fn invalid_header_names_are_option_errors() {
    let err = option_error(HmacOptions {
        header: "X Signature".into(),
        ..HmacOptions::default()
    });
    assert_eq!(err.option, "header");
    let err = option_error(HmacOptions {
        timestamp_header: Some("X-Time:".into()),
        ..HmacOptions::default()
    });
    assert_eq!(err.option, "timestamp_header");
    let err = option_error(HmacOptions {
        id_header: Some(String::new()),
        ..HmacOptions::default()
    });
    assert_eq!(err.option, "id_header");
}

#[test]
fn template_parts_are_split_exactly() {
    assert_eq!(
        parse_template("v0:{timestamp}:{body}").unwrap(),
        vec![
            Part::Literal("v0:".into()),
            Part::Timestamp,
            Part::Literal(":".into()),
            Part::Body,
        ]
    );
    assert_eq!(
        parse_template("{id}{url}{body}!").unwrap(),
        vec![Part::Id, Part::Url, Part::Body, Part::Literal("!".into())]
    );
}

#[test]
fn default_form_matches_openssl() {
    let h = default_headers(DEFAULT_SIG, "1700000000");
    for scheme in [
        HmacScheme::generic_default(),
        HmacScheme::generic(&HmacOptions::default()).unwrap(),
    ] {
        assert_eq!(scheme.default_tolerance(), Some(300));
        let v = verify_with(&scheme, &[SECRET], &h, BODY, None, TS + 10).unwrap();
        assert_eq!(v.scheme, "hmac");
        assert_eq!(v.timestamp, Some(TS));
        assert_eq!(v.delivery_id, None);
    }
}

#[test]
fn sign_writes_the_openssl_value_in_the_default_form() {
    let (h, body) = sign_with(&HmacScheme::generic_default(), SECRET, BODY, None, TS, None);
    assert_eq!(body, BODY);
    assert_eq!(h["x-webhook-signature"], DEFAULT_SIG);
    assert_eq!(h["x-webhook-timestamp"], "1700000000");
    assert_eq!(h.len(), 2);
}

#[test]
fn prefix_is_matched_case_insensitively() {
    let h = default_headers(&DEFAULT_SIG.replace("sha256=", "SHA256="), "1700000000");
    assert!(verify_with(
        &HmacScheme::generic_default(),
        &[SECRET],
        &h,
        BODY,
        None,
        TS
    )
    .is_ok());
}

#[test]
fn tolerance_applies_to_the_past_and_the_future_with_skew() {
    let scheme = HmacScheme::generic_default();
    let h = default_headers(DEFAULT_SIG, "1700000000");
    assert!(verify_with(&scheme, &[SECRET], &h, BODY, None, TS + 300).is_ok());
    assert!(verify_with(&scheme, &[SECRET], &h, BODY, None, TS - 300).is_ok());
    let err = verify_with(&scheme, &[SECRET], &h, BODY, None, TS + 301).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: 301 });
    assert!(err.to_string().ends_with("301 s old"), "{err}");
    let err = verify_with(&scheme, &[SECRET], &h, BODY, None, TS - 301).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -301 });
    assert!(err.to_string().ends_with("-301 s in the future"), "{err}");
    // A configured tolerance replaces the default.
    let strict = HmacScheme::generic(&HmacOptions {
        tolerance: Some(60),
        ..HmacOptions::default()
    })
    .unwrap();
    assert_eq!(
        verify_with(&strict, &[SECRET], &h, BODY, None, TS + 61).unwrap_err(),
        VerifyError::TimestampOutsideWindow { skew_secs: 61 }
    );
}

#[test]
fn millisecond_timestamps_are_signed_as_sent_and_checked_in_seconds() {
    let scheme = HmacScheme::generic(&HmacOptions {
        prefix: String::new(),
        timestamp_header: Some("X-Timestamp-Ms".into()),
        timestamp_format: TimestampFormat::UnixMillis,
        ..HmacOptions::default()
    })
    .unwrap();
    let h = headers(&[
        ("X-Webhook-Signature", MILLIS_SIG),
        ("X-Timestamp-Ms", "1700000000123"),
    ]);
    let v = verify_with(&scheme, &[SECRET], &h, BODY, None, TS + 300).unwrap();
    assert_eq!(v.timestamp, Some(TS));
    let err = verify_with(&scheme, &[SECRET], &h, BODY, None, TS - 301).unwrap_err();
    assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -301 });
    // sign writes milliseconds.
    let (signed, _) = sign_with(&scheme, SECRET, BODY, None, TS, None);
    assert_eq!(signed["x-timestamp-ms"], "1700000000000");
    assert!(verify_with(&scheme, &[SECRET], &signed, BODY, None, TS).is_ok());
}

#[test]
fn sha1_and_sha512_variants_match_openssl() {
    let sha1 = body_only("sha1", "hex", "X-Sig");
    let h = headers(&[("X-Sig", SHA1_HEX)]);
    let v = verify_with(&sha1, &["k1"], &h, b"hello world", None, 0).unwrap();
    assert_eq!(v.timestamp, None);
    assert_eq!(sha1.default_tolerance(), None);

    let sha512 = HmacScheme::generic(&HmacOptions {
        header: "X-Sig".into(),
        algorithm: "sha512".into(),
        prefix: "sha512=".into(),
        timestamp_header: Some("X-Ts".into()),
        payload: Some("{timestamp}:{body}".into()),
        ..HmacOptions::default()
    })
    .unwrap();
    let h = headers(&[
        ("X-Sig", &format!("sha512={SHA512_HEX}")),
        ("X-Ts", "1700000000"),
    ]);
    assert!(verify_with(&sha512, &["k1"], &h, b"hello world", None, TS).is_ok());
    // A SHA-256-sized MAC in a SHA-512 scheme is malformed, not a mismatch.
    let h = headers(&[
        ("X-Sig", &format!("sha512={}", &SHA512_HEX[..64])),
        ("X-Ts", "1700000000"),
    ]);
    let err = verify_with(&sha512, &["k1"], &h, b"hello world", None, TS).unwrap_err();
    assert!(
        matches!(err, VerifyError::MalformedHeader { .. }),
        "{err:?}"
    );
}

#[test]
fn base64_variant_accepts_both_alphabets_and_refuses_hex() {
    let scheme = body_only("sha256", "base64", "X-Sig");
    let h = headers(&[("X-Sig", SHA256_B64)]);
    assert!(verify_with(&scheme, &["k1"], &h, b"hello world", None, 0).is_ok());
    let url_safe = SHA256_B64_PLUS.replace('+', "-");
    let h = headers(&[("X-Sig", &url_safe)]);
    assert!(verify_with(&scheme, &["k1"], &h, b"hello world!!", None, 0).is_ok());
    // The hex form of the same MAC is valid base64 of the wrong length.
    let hex_form = "aa56fcfbb6994ca294eedce6510881ce28049cd226fa1046e2844ba51492c800";
    let h = headers(&[("X-Sig", hex_form)]);
    let err = verify_with(&scheme, &["k1"], &h, b"hello world", None, 0).unwrap_err();
    assert!(
        matches!(err, VerifyError::MalformedHeader { .. }),
        "{err:?}"
    );
    let (signed, _) = sign_with(&scheme, "k1", b"hello world", None, 0, None);
    assert_eq!(signed["x-sig"], SHA256_B64);
}

#[test]
fn id_and_url_are_signed_when_the_template_uses_them() {
    let scheme = HmacScheme::generic(&HmacOptions {
        prefix: String::new(),
        timestamp_header: None,
        id_header: Some("X-Webhook-Id".into()),
        payload: Some("{id}|{url}|{body}".into()),
        ..HmacOptions::default()
    })
    .unwrap();
    let url = "https://example.com/hook?x=1";
    let h = headers(&[
        ("X-Webhook-Signature", ID_URL_SIG),
        ("X-Webhook-Id", "msg_1"),
    ]);
    let v = verify_with(&scheme, &[SECRET], &h, br#"{"a":1}"#, Some(url), 0).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some("msg_1"));
    let err = verify_with(&scheme, &[SECRET], &h, br#"{"a":1}"#, None, 0).unwrap_err();
    assert_eq!(err, VerifyError::UrlUnknown);
    let err = verify_with(
        &scheme,
        &[SECRET],
        &h,
        br#"{"a":1}"#,
        Some("https://example.com/hook"),
        0,
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    // Signing needs the URL too.
    let key = scheme.parse_signing_key(SECRET).unwrap();
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &empty,
        body: b"{}",
    };
    assert_eq!(
        scheme
            .sign(&request, &key, &SignOptions::default())
            .unwrap_err(),
        SignError::UrlRequired
    );
}

#[test]
fn delivery_id_can_come_from_a_body_field() {
    let scheme = body_only("sha1", "hex", "X-Sig").delivery_id(DeliveryId::BodyField("id"));
    let (h, body) = sign_with(&scheme, "k1", br#"{"id":"evt_9","x":1}"#, None, 0, None);
    let v = verify_with(&scheme, &["k1"], &h, &body, None, 0).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some("evt_9"));
}

#[test]
fn second_secret_matches_during_rotation() {
    let h = default_headers(DEFAULT_SIG, "1700000000");
    let v = verify_with(
        &HmacScheme::generic_default(),
        &["next", SECRET],
        &h,
        BODY,
        None,
        TS,
    )
    .unwrap();
    assert_eq!(v.secret_index, 1);
    assert_eq!(&*v.secret_id, "1");
}

#[test]
fn sign_then_verify_with_every_option_set() {
    let scheme = HmacScheme::generic(&HmacOptions {
        header: "X-Sig".into(),
        algorithm: "sha512".into(),
        encoding: "base64".into(),
        prefix: "v1,".into(),
        timestamp_header: Some("X-Ts".into()),
        timestamp_format: TimestampFormat::Rfc3339,
        id_header: Some("X-Id".into()),
        payload: Some("{id}.{timestamp}.{url}.{body}".into()),
        tolerance: Some(30),
    })
    .unwrap();
    let url = Some("https://example.com/in");
    let (h, body) = sign_with(&scheme, SECRET, BODY, url, TS, Some("evt_1"));
    assert_eq!(h["x-ts"], "2023-11-14T22:13:20Z");
    let v = verify_with(&scheme, &[SECRET], &h, &body, url, TS + 30).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some("evt_1"));
    assert_eq!(v.timestamp, Some(TS));
    assert_eq!(
        verify_with(&scheme, &[SECRET], &h, &body, url, TS + 31).unwrap_err(),
        VerifyError::TimestampOutsideWindow { skew_secs: 31 }
    );
}

#[test]
fn default_form_rejections() {
    let s = HmacScheme::generic_default();
    let sig = ("X-Webhook-Signature", DEFAULT_SIG);
    let ts = ("X-Webhook-Timestamp", "1700000000");
    let missing = |e: &VerifyError| matches!(e, VerifyError::MissingHeader(_));
    let duplicate = |e: &VerifyError| matches!(e, VerifyError::DuplicateHeader(_));
    let malformed = |e: &VerifyError| matches!(e, VerifyError::MalformedHeader { .. });
    let mismatch = |e: &VerifyError| *e == VerifyError::SignatureMismatch;
    assert_rejects(&s, SECRET, &[ts], BODY, missing);
    assert_rejects(&s, SECRET, &[sig], BODY, missing);
    assert_rejects(
        &s,
        SECRET,
        &[("X-Webhook-Signature", ""), ts],
        BODY,
        missing,
    );
    assert_rejects(&s, SECRET, &[sig, sig, ts], BODY, duplicate);
    assert_rejects(&s, SECRET, &[sig, ts, ts], BODY, duplicate);
    assert_rejects(
        &s,
        SECRET,
        &[("X-Webhook-Signature", "sha256="), ts],
        BODY,
        malformed,
    );
    assert_rejects(
        &s,
        SECRET,
        &[("X-Webhook-Signature", &DEFAULT_SIG[7..]), ts],
        BODY,
        malformed,
    );
    assert_rejects(
        &s,
        SECRET,
        &[("X-Webhook-Signature", &DEFAULT_SIG[..70]), ts],
        BODY,
        malformed,
    );
    for bad in ["+1700000000", "1700000000.0", "17e8", "-1"] {
        assert_rejects(
            &s,
            SECRET,
            &[sig, ("X-Webhook-Timestamp", bad)],
            BODY,
            |e| matches!(e, VerifyError::MalformedHeader { header, .. } if header == "x-webhook-timestamp"),
        );
    }
    assert_rejects(&s, "wrong", &[sig, ts], BODY, mismatch);
    assert_rejects(&s, SECRET, &[sig, ts], br#"{"event":"pong"}"#, mismatch);
    assert_rejects(
        &s,
        SECRET,
        &[sig, ("X-Webhook-Timestamp", "1700000001")],
        BODY,
        mismatch,
    );
}

#[test]
fn keys_for_another_algorithm_are_a_secret_format_error() {
    let sha1 = body_only("sha1", "hex", "X-Sig");
    let keys = Keyring::from_secrets(&sha1, ["k1"]).unwrap();
    let h = default_headers(DEFAULT_SIG, "1700000000");
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &h,
        body: BODY,
    };
    let scheme = HmacScheme::generic_default();
    let err = scheme
        .verify(&request, &keys, &VerifyContext::new(&scheme, TS))
        .unwrap_err();
    assert!(matches!(err, VerifyError::SecretFormat { .. }), "{err:?}");
    assert_eq!(
        scheme.parse_key("").unwrap_err().problem,
        "empty",
        "an empty secret is refused"
    );
}
