use hookguard_layers::verify::mac::MacAlgorithm;
use hookguard_layers::verify::{schemes, SignOptions};
use http::HeaderName;

use super::*;

/// GitHub's documented test vector (docs.github.com, "Validating webhook deliveries").
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_BODY: &[u8] = b"Hello, World!";
const GITHUB_HEX: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

fn run(
    scheme: &str,
    secrets: &[Candidate],
    others: &[Candidate],
    url: Option<&str>,
    h: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Vec<Hypothesis> {
    let scheme = schemes::by_name(scheme).unwrap();
    let suspect = Suspect {
        scheme: &*scheme,
        secrets,
        others,
        method: &Method::POST,
        url,
        headers: h,
        body,
        now,
        tolerance: scheme.default_tolerance(),
    };
    likely_mistakes(&suspect)
}

fn fitting(found: &[Hypothesis]) -> Vec<&'static str> {
    found.iter().filter(|h| h.fits).map(|h| h.mistake).collect()
}

/// Signs `body` the way a sender holding `key` would, with the scheme's own signer.
fn signed(scheme: &str, key: &Key, url: Option<&str>, body: &[u8], ts: i64) -> HeaderMap {
    let scheme = schemes::by_name(scheme).unwrap();
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url,
        headers: &empty,
        body,
    };
    let options = SignOptions {
        timestamp: ts,
        id: Some("msg_1".into()),
    };
    scheme
        .sign(&request, key, &options)
        .unwrap()
        .headers
        .into_iter()
        .map(|(n, v)| (n, HeaderValue::from_str(&v).unwrap()))
        .collect()
}

#[test]
fn a_trailing_newline_added_to_the_body_is_found() {
    let h = headers(&[("x-hub-signature-256", &format!("sha256={GITHUB_HEX}"))]);
    let found = run(
        "github",
        &[Candidate::new("secret primary", GITHUB_SECRET)],
        &[],
        None,
        &h,
        b"Hello, World!\n",
        0,
    );
    assert_eq!(fitting(&found), ["body_changed"], "{found:#?}");
    assert!(found[0].detail.contains("trailing newline"), "{found:#?}");
}

#[test]
fn re_serialised_json_is_found() {
    let sent = br#"{"b": 1, "a": [1, 2]}"#;
    let key = schemes::by_name("github")
        .unwrap()
        .parse_key(GITHUB_SECRET)
        .unwrap();
    let h = signed("github", &key, None, sent, 0);
    // The receiver parsed and re-wrote it before checking: keys sorted, no spaces.
    let received = br#"{"a":[1,2],"b":1}"#;
    let found = run(
        "github",
        &[Candidate::new("secret primary", GITHUB_SECRET)],
        &[],
        None,
        &h,
        received,
        0,
    );
    // Undoing a re-serialisation is impossible in general; what fits is the other
    // direction: the sender signed the compact form. So this case must NOT claim a fit.
    assert!(fitting(&found).is_empty(), "{found:#?}");
    // The sender signed compact JSON, the receiver got it pretty-printed by a proxy.
    let h = signed("github", &key, None, received, 0);
    let pretty = serde_json::to_vec_pretty(&serde_json::json!({"a": [1, 2], "b": 1})).unwrap();
    let found = run(
        "github",
        &[Candidate::new("secret primary", GITHUB_SECRET)],
        &[],
        None,
        &h,
        &pretty,
        0,
    );
    assert_eq!(fitting(&found), ["body_changed"], "{found:#?}");
    assert!(found[0].detail.contains("compact JSON"), "{found:#?}");
}

#[test]
fn a_base64_mac_where_hex_is_expected_is_found() {
    let b64 = STANDARD.encode(hex::decode(GITHUB_HEX).unwrap());
    let h = headers(&[("x-hub-signature-256", &format!("sha256={b64}"))]);
    let found = run(
        "github",
        &[Candidate::new("secret primary", GITHUB_SECRET)],
        &[],
        None,
        &h,
        GITHUB_BODY,
        0,
    );
    assert_eq!(fitting(&found), ["signature_encoding"], "{found:#?}");
    assert!(
        found[0]
            .detail
            .contains("in base64, the scheme expects hex"),
        "{found:#?}"
    );
}

#[test]
fn a_stripe_secret_used_base64_decoded_is_found() {
    let secret = "whsec_c2VjcmV0LWJ5dGVzLWZvci10ZXN0aW5n";
    let decoded = STANDARD.decode("c2VjcmV0LWJ5dGVzLWZvci10ZXN0aW5n").unwrap();
    let now = 1_700_000_000;
    let h = signed(
        "stripe",
        &Key::mac(MacAlgorithm::Sha256, &decoded),
        None,
        b"{}",
        now,
    );
    let found = run(
        "stripe",
        &[Candidate::new("secret primary", secret)],
        &[],
        None,
        &h,
        b"{}",
        now,
    );
    assert_eq!(fitting(&found), ["secret_encoding"], "{found:#?}");
    assert!(found[0].detail.contains("base64-decoded"), "{found:#?}");
}

#[test]
fn a_standard_webhooks_secret_used_as_literal_text_is_found() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let now = 1_700_000_000;
    let h = signed(
        "standard-webhooks",
        &Key::mac(MacAlgorithm::Sha256, secret.as_bytes()),
        None,
        b"{}",
        now,
    );
    let found = run(
        "standard-webhooks",
        &[Candidate::new("secret primary", secret)],
        &[],
        None,
        &h,
        b"{}",
        now,
    );
    assert_eq!(fitting(&found), ["secret_encoding"], "{found:#?}");
    assert!(found[0].detail.contains("literal"), "{found:#?}");
}

#[test]
fn clock_skew_names_the_seconds_and_says_the_signature_is_valid() {
    let scheme = schemes::by_name("stripe").unwrap();
    let key = scheme.parse_key("whsec_test").unwrap();
    let signed_at = 1_700_000_000;
    let h = signed("stripe", &key, None, b"{}", signed_at);
    let found = run(
        "stripe",
        &[Candidate::new("secret primary", "whsec_test")],
        &[],
        None,
        &h,
        b"{}",
        signed_at + 420,
    );
    assert_eq!(fitting(&found), ["clock_skew"], "{found:#?}");
    assert!(
        found[0].detail.contains("clock skew of 420 s"),
        "{found:#?}"
    );
    assert!(found[0].detail.contains("signature itself is valid"));
    assert_eq!(
        found.len(),
        1,
        "nothing else is tried when only the clock is off"
    );
}

#[test]
fn the_wrong_url_for_a_url_signing_scheme_is_found() {
    let scheme = schemes::by_name("square").unwrap();
    let key = scheme.parse_key("square-key").unwrap();
    let signed_url = "https://example.com/webhooks/square";
    let h = signed("square", &key, Some(signed_url), br#"{"event_id":"e1"}"#, 0);
    let found = run(
        "square",
        &[Candidate::new("secret primary", "square-key")],
        &[],
        Some("http://example.com/webhooks/square"),
        &h,
        br#"{"event_id":"e1"}"#,
        0,
    );
    assert_eq!(fitting(&found), ["wrong_url"], "{found:#?}");
    assert!(found[0].detail.contains(signed_url), "{found:#?}");
}

#[test]
fn an_old_secret_is_named_by_its_label() {
    let scheme = schemes::by_name("github").unwrap();
    let old = scheme.parse_key("the-old-one").unwrap();
    let h = signed("github", &old, None, b"{}", 0);
    let found = run(
        "github",
        &[Candidate::new("secret primary", "the-new-one")],
        &[Candidate::new("--old-secret 1", "the-old-one")],
        None,
        &h,
        b"{}",
        0,
    );
    assert_eq!(fitting(&found), ["old_secret"], "{found:#?}");
    assert!(found[0].detail.contains("--old-secret 1"));
    assert!(
        !format!("{found:?}").contains("the-old-one"),
        "no secret value in reports"
    );
}

#[test]
fn an_unrelated_secret_fits_nothing_and_every_hypothesis_is_reported() {
    let scheme = schemes::by_name("github").unwrap();
    let h = signed(
        "github",
        &scheme.parse_key("someone-else").unwrap(),
        None,
        b"{}",
        0,
    );
    let found = run(
        "github",
        &[Candidate::new("secret primary", "ours")],
        &[],
        None,
        &h,
        b"{}",
        0,
    );
    assert!(fitting(&found).is_empty(), "{found:#?}");
    let tried: Vec<_> = found.iter().map(|h| h.mistake).collect();
    for mistake in [
        "body_changed",
        "secret_encoding",
        "signature_encoding",
        "old_secret",
    ] {
        assert!(tried.contains(&mistake), "{mistake} not tried: {tried:?}");
    }
}
