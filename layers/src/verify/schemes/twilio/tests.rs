use http::{HeaderMap, Method};

use super::*;
use crate::verify::secret::KeyEntry;
use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};

// Published vectors. The example request is Twilio's own ("Validating requests", also in
// twilio-php's docs/usage/validation.rst) and is the fixture of twilio-python
// `tests/unit/test_request_validator.py` and twilio-node `spec/validation.spec.js`:
// auth token 12345, URL https://mycompany.com/myapp.php?foo=1&bar=2, five POST parameters.
const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
// The five parameters, form-encoded (`+` is `%2B`) and deliberately out of order: the
// signature sorts them.
const FORM_BODY: &[u8] = b"To=%2B18005551212&From=%2B14158675309&Digits=1234&Caller=%2B14158675309&CallSid=CA1234567890ABCDE";
const EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
// twilio-python/twilio-node: the JSON body, its SHA-256 and the signature of URL + bodySHA256.
const JSON_BODY: &[u8] = br#"{"property": "value", "boolean": true}"#;
const JSON_BODY_SHA256: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const JSON_SIGNATURE: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";

fn form(signature: &str) -> HeaderMap {
    headers(&[("X-Twilio-Signature", signature), ("Content-Type", FORM)])
}

fn verify_form(url: &str, signature: &str, body: &[u8]) -> Result<Verified, VerifyError> {
    verify_with(&Twilio, &[TOKEN], &form(signature), body, Some(url), 0)
}

fn json_url() -> String {
    format!("{URL}&{BODY_HASH_PARAM}={JSON_BODY_SHA256}")
}

fn verify_json(url: &str, signature: &str, body: &[u8]) -> Result<Verified, VerifyError> {
    let h = headers(&[
        ("X-Twilio-Signature", signature),
        ("Content-Type", "application/json"),
    ]);
    verify_with(&Twilio, &[TOKEN], &h, body, Some(url), 0)
}

#[test]
fn twilio_docs_example_verifies() {
    let v = verify_form(URL, EXPECTED, FORM_BODY).unwrap();
    assert_eq!(v.scheme, "twilio");
    assert_eq!(v.secret_index, 0);
    assert_eq!(v.timestamp, None);
    assert_eq!(v.delivery_id, None);
}

#[test]
fn twilio_docs_example_is_what_sign_produces() {
    let (h, body) = sign_with(&Twilio, TOKEN, FORM_BODY, Some(URL), 0, Some("idem-1"));
    assert_eq!(h["x-twilio-signature"], EXPECTED);
    assert_eq!(h["content-type"], FORM);
    assert_eq!(h["i-twilio-idempotency-token"], "idem-1");
    assert_eq!(body, FORM_BODY);
}

#[test]
fn delivery_id_is_the_idempotency_token() {
    let mut h = form(EXPECTED);
    h.insert("i-twilio-idempotency-token", "c0ffee-1".parse().unwrap());
    let v = verify_with(&Twilio, &[TOKEN], &h, FORM_BODY, Some(URL), 0).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some("c0ffee-1"));
}

#[test]
fn content_type_parameters_and_case_are_accepted() {
    let h = headers(&[
        ("X-Twilio-Signature", EXPECTED),
        (
            "Content-Type",
            "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        ),
    ]);
    assert!(verify_with(&Twilio, &[TOKEN], &h, FORM_BODY, Some(URL), 0).is_ok());
}

// Port handling, vectors from twilio-python `test_validation_*_port_*` and twilio-node
// "should validate … urls with(out) ports …".
#[test]
fn https_url_with_a_port_verifies_against_the_signature_without_it() {
    let url = URL.replace(".com", ".com:1234");
    assert!(verify_form(&url, EXPECTED, FORM_BODY).is_ok());
}

#[test]
fn http_url_with_a_port_verifies_as_given() {
    // "hash of http url with port 1234"
    let url = URL.replace(".com", ".com:1234").replace("https", "http");
    assert!(verify_form(&url, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", FORM_BODY).is_ok());
}

#[test]
fn https_url_without_a_port_also_tries_443() {
    // "hash of uri with port 443"
    assert!(verify_form(URL, "kvajT1Ptam85bY51eRf/AJRuM3w=", FORM_BODY).is_ok());
}

#[test]
fn http_url_without_a_port_also_tries_80() {
    // "hash of uri with port 80"
    let url = URL.replace("https", "http");
    assert!(verify_form(&url, "0ZXoZLH/DfblKGATFgpif+LLRf4=", FORM_BODY).is_ok());
}

#[test]
fn urls_with_credentials_verify_with_and_without_the_port() {
    // twilio-node "should validate urls with credentials (by adding port)" and "with just
    // username".
    let creds = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
    assert!(verify_form(creds, "CukzLTc1tT5dXEDIHm/tKBanW10=", FORM_BODY).is_ok());
    assert!(verify_form(creds, "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=", FORM_BODY).is_ok());
    let user = "https://user@mycompany.com/myapp.php?foo=1&bar=2";
    assert!(verify_form(user, "2YRLlVAflCqxaNicjMpJcSTgzSs=", FORM_BODY).is_ok());
}

#[test]
fn url_with_special_characters_is_signed_as_given() {
    // twilio-node "should validate urls with special characters".
    let url = format!("{URL}&Body=It's+amazing");
    assert!(verify_form(&url, "dsq4Ehbj6cs+KdTkpF5sSSplOWw=", FORM_BODY).is_ok());
}

#[test]
fn candidate_urls_cover_the_port_forms() {
    assert_eq!(
        candidate_urls("https://h.com/p?q=1"),
        ["https://h.com/p?q=1", "https://h.com:443/p?q=1"]
    );
    assert_eq!(
        candidate_urls("HTTP://u:p@h.com:8080?x"),
        ["HTTP://u:p@h.com:8080?x", "HTTP://u:p@h.com?x"]
    );
    assert_eq!(
        candidate_urls("https://[::1]/hook"),
        ["https://[::1]/hook", "https://[::1]:443/hook"]
    );
    assert_eq!(
        candidate_urls("https://[::1]:9/hook"),
        ["https://[::1]:9/hook", "https://[::1]/hook"]
    );
    assert_eq!(candidate_urls("not a url"), ["not a url"]);
}

// Repeated keys: twilio-node "should validate request body with an array parameter" (both
// orders) and "… with multiple params and values"; twilio-python
// `test_compute_signature_duplicate_query_dict`.
#[test]
fn repeated_parameters_sign_each_distinct_value_once_in_order() {
    let array = b"MessagingBinding.Address=%2B1415xxxxxxx&MessagingBinding.Address=%2B1325xxxxxxx";
    assert!(verify_form(URL, "83O6e2vORAoJHUNzJjDWN1jz+BA=", array).is_ok());
    let swapped =
        b"MessagingBinding.Address=%2B1325xxxxxxx&MessagingBinding.Address=%2B1415xxxxxxx";
    assert!(verify_form(URL, "83O6e2vORAoJHUNzJjDWN1jz+BA=", swapped).is_ok());
    let duplicates = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234";
    assert!(verify_form(URL, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", duplicates).is_ok());
}

#[test]
fn form_decoding_handles_plus_escapes_and_empty_values() {
    assert_eq!(
        decode_form(b"a=1+2&&b=%41%zz&c&=v").unwrap(),
        [
            ("a".to_owned(), "1 2".to_owned()),
            ("b".to_owned(), "A%zz".to_owned()),
            ("c".to_owned(), String::new()),
            (String::new(), "v".to_owned()),
        ]
    );
    assert!(decode_form(b"a=%FF").is_none());
}

// JSON bodies: twilio-python `test_validation_of_body_succeeds`, twilio-node "should
// validate request body when given / when empty / with only sha param".
#[test]
fn json_body_verifies_through_body_sha256() {
    assert!(verify_json(&json_url(), JSON_SIGNATURE, JSON_BODY).is_ok());
    let empty = format!(
        "{URL}&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert!(verify_json(&empty, "Ldidvp12m26NI7eqEvxnEpkd9Hc=", b"{}").is_ok());
    let only = format!("https://mycompany.com/myapp.php?bodySHA256={JSON_BODY_SHA256}");
    assert!(verify_json(&only, "y77kIzt2vzLz71DgmJGsen2scGs=", JSON_BODY).is_ok());
}

#[test]
fn json_body_that_does_not_match_body_sha256_is_rejected() {
    let err = verify_json(&json_url(), JSON_SIGNATURE, br#"{"property": "evil"}"#).unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
}

#[test]
fn json_body_without_body_sha256_is_rejected_not_signed_as_url_alone() {
    // Signing the URL alone would leave this body unauthenticated.
    let err = verify_json(URL, EXPECTED, JSON_BODY).unwrap_err();
    assert!(matches!(err, VerifyError::MalformedBody { .. }), "{err:?}");
    let no_type = headers(&[("X-Twilio-Signature", EXPECTED)]);
    let err = verify_with(&Twilio, &[TOKEN], &no_type, FORM_BODY, Some(URL), 0).unwrap_err();
    assert!(matches!(err, VerifyError::MalformedBody { .. }), "{err:?}");
}

#[test]
fn repeated_body_sha256_in_the_url_is_rejected() {
    // The SDKs check only the first bodySHA256; here it is the JSON body's and the second is
    // the hash of `{}`, so which body was meant is ambiguous. The signature over this URL
    // was computed independently: `printf '%s' "$url" | openssl dgst -sha1 -hmac 12345
    // -binary | base64`.
    let url = format!(
        "{}&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        json_url()
    );
    let signature = "UizmqOyY/H8qXxkUWrH9gwh3PyM=";
    let err = verify_json(&url, signature, JSON_BODY).unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    assert_eq!(body_hash_param(&url), Err(Unsignable::RepeatedBodyHash));
    // A single bodySHA256 is read as sent.
    assert_eq!(
        body_hash_param(&json_url()),
        Ok(Some(JSON_BODY_SHA256.to_owned()))
    );
}

#[test]
fn form_body_that_is_not_utf8_is_rejected() {
    let err = verify_form(URL, EXPECTED, b"Digits=%FF").unwrap_err();
    assert!(matches!(err, VerifyError::MalformedBody { .. }), "{err:?}");
}

#[test]
fn wrong_url_is_rejected() {
    let other = "https://mycompany.com/myapp.php?foo=1&bar=3";
    assert_eq!(
        verify_form(other, EXPECTED, FORM_BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let other_host = "https://mycompany.org/myapp.php?foo=1&bar=2";
    assert_eq!(
        verify_form(other_host, EXPECTED, FORM_BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn unknown_url_is_a_configuration_error() {
    let err = verify_with(&Twilio, &[TOKEN], &form(EXPECTED), FORM_BODY, None, 0).unwrap_err();
    assert_eq!(err, VerifyError::UrlUnknown);
    let key = Twilio.parse_signing_key(TOKEN).unwrap();
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &empty,
        body: FORM_BODY,
    };
    let err = Twilio
        .sign(&request, &key, &SignOptions::default())
        .unwrap_err();
    assert_eq!(err, SignError::UrlRequired);
}

#[test]
fn second_token_matches_during_rotation() {
    let v = verify_with(
        &Twilio,
        &["new-token", TOKEN],
        &form(EXPECTED),
        FORM_BODY,
        Some(URL),
        0,
    )
    .unwrap();
    assert_eq!(v.secret_index, 1);
    assert_eq!(&*v.secret_id, "1");
}

#[test]
fn twilio_rejections() {
    let s = Twilio;
    let ct = ("Content-Type", FORM);
    // assert_rejects calls https://example.com/hook; the docs signature is for another URL.
    // Missing, and present but empty.
    for pairs in [vec![ct], vec![("X-Twilio-Signature", ""), ct]] {
        assert_rejects(&s, TOKEN, &pairs, FORM_BODY, |e| {
            matches!(e, VerifyError::MissingHeader(_))
        });
    }
    assert_rejects(
        &s,
        TOKEN,
        &[
            ("X-Twilio-Signature", EXPECTED),
            ("X-Twilio-Signature", EXPECTED),
            ct,
        ],
        FORM_BODY,
        |e| matches!(e, VerifyError::DuplicateHeader(_)),
    );
    for malformed in ["not base64!", "q80=", "sha1=RSOYDt4T1cUTdK1PDd93/VVr8B8="] {
        assert_rejects(
            &s,
            TOKEN,
            &[("X-Twilio-Signature", malformed), ct],
            FORM_BODY,
            |e| matches!(e, VerifyError::MalformedHeader { .. }),
        );
    }
    // Tampered body and wrong token, against the published vector's URL.
    let tampered = b"To=%2B18005551212&From=%2B14158675309&Digits=9999&Caller=%2B14158675309&CallSid=CA1234567890ABCDE";
    assert_eq!(
        verify_form(URL, EXPECTED, tampered).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let extra = [FORM_BODY, b"&Extra=1"].concat();
    assert_eq!(
        verify_form(URL, EXPECTED, &extra).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let err = verify_with(&s, &["54321"], &form(EXPECTED), FORM_BODY, Some(URL), 0).unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
}

#[test]
fn keys_of_another_kind_are_a_secret_format_error() {
    let keys = Keyring::from_keys(vec![KeyEntry {
        id: "token".into(),
        key: Key::Token(zeroize::Zeroizing::new(b"12345".to_vec())),
    }]);
    let h = form(EXPECTED);
    let request = WebhookRequest {
        method: &Method::POST,
        url: Some(URL),
        headers: &h,
        body: FORM_BODY,
    };
    let err = Twilio
        .verify(&request, &keys, &VerifyContext::new(&Twilio, 0))
        .unwrap_err();
    assert!(matches!(err, VerifyError::SecretFormat { .. }), "{err:?}");
    let none = Keyring::from_keys(Vec::new());
    let err = Twilio
        .verify(&request, &none, &VerifyContext::new(&Twilio, 0))
        .unwrap_err();
    assert_eq!(err, VerifyError::NoSecret);
    assert!(Twilio.parse_key("").is_err());
}

#[test]
fn sign_then_verify_round_trips_form_and_json_bodies() {
    let url = "https://hooks.example.com:8443/twilio?route=sms";
    let body = b"Body=caf%C3%A9+au+lait&From=%2B15005550006&Body=second";
    let (h, sent) = sign_with(&Twilio, "s3cret", body, Some(url), 0, None);
    let v = verify_with(&Twilio, &["s3cret"], &h, &sent, Some(url), 0).unwrap();
    assert!(v.delivery_id.is_some());
    assert!(verify_with(&Twilio, &["other"], &h, &sent, Some(url), 0).is_err());

    let json = br#"{"event":"message.delivered"}"#;
    let json_url = format!("{url}&bodySHA256={}", hex_sha256(json));
    let (h, sent) = sign_with(&Twilio, "s3cret", json, Some(&json_url), 0, Some("d-1"));
    assert!(h.get("content-type").is_none());
    let v = verify_with(&Twilio, &["s3cret"], &h, &sent, Some(&json_url), 0).unwrap();
    assert_eq!(v.delivery_id.as_deref(), Some("d-1"));
}

#[test]
fn sign_refuses_a_body_it_cannot_cover() {
    let key = Twilio.parse_signing_key(TOKEN).unwrap();
    let json_type = headers(&[("Content-Type", "application/json")]);
    let mut request = WebhookRequest {
        method: &Method::POST,
        url: Some(URL),
        headers: &json_type,
        body: JSON_BODY,
    };
    let sign = |r: &WebhookRequest<'_>| Twilio.sign(r, &key, &SignOptions::default());
    assert!(matches!(sign(&request), Err(SignError::Body { .. })));
    // A bodySHA256 that is not the body's hash.
    let url = format!("{URL}&bodySHA256={}", "0".repeat(64));
    request.url = Some(&url);
    assert!(matches!(sign(&request), Err(SignError::Body { .. })));
    // The right one signs the URL alone: the published JSON vector.
    let url = json_url();
    request.url = Some(&url);
    let out = sign(&request).unwrap();
    assert_eq!(out.headers[0], (SIGNATURE, JSON_SIGNATURE.to_owned()));
}
