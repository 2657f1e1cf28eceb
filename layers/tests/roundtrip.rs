//! Property tests over every scheme: what `sign` produces, `verify` accepts; any one-byte
//! change of the body, a signed timestamp, a signed id or the signature is refused.

use hookguard_layers::verify::{
    schemes, Key, KeyEntry, Keyring, Scheme, SignError, SignOptions, VerifyContext, WebhookRequest,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;

const URL: &str = "https://hooks.example.com/webhooks/in?team=7";
const NOW: i64 = 1_700_000_000;

/// Signing secrets tried in order until one parses: a Standard Webhooks secret, a hex
/// Ed25519 seed (RFC 8032 test 1), a plain shared secret.
const SIGNING_SECRETS: &[&str] = &[
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "s3cret-for-round-trips",
];

/// Headers that a provider sends but does not sign (delivery ids): changing them cannot
/// break the signature, by the provider's design.
fn unsigned_header(scheme: &str, header: &str) -> bool {
    matches!(
        (scheme, header),
        ("github" | "github-sha1", "x-github-delivery")
            | ("bitbucket", "x-request-uuid")
            | ("shopify", "x-shopify-webhook-id")
            | (
                "gitlab",
                "x-gitlab-event-uuid" | "idempotency-key" | "x-gitlab-webhook-uuid"
            )
            | ("twilio", "i-twilio-idempotency-token" | "content-type")
            | (
                "linear",
                "linear-delivery" | "linear-event" | "linear-timestamp"
            )
            | ("mailgun", "content-type")
            | (_, "content-type")
    )
}

/// Schemes whose signature does not cover the whole body, by the provider's design
/// (GitLab sends a shared token; Mailgun signs timestamp + token inside the body).
fn body_fully_signed(scheme: &str) -> bool {
    !matches!(scheme, "gitlab" | "mailgun")
}

struct Signed {
    scheme: std::sync::Arc<dyn Scheme>,
    keys: std::sync::Arc<Keyring>,
    headers: Vec<(HeaderName, String)>,
    body: Vec<u8>,
}

/// Signs `body`; `None` when the scheme cannot carry such a body (e.g. Twilio: bytes that
/// are neither a form nor JSON) — a refusal that `sign` must explain, never a panic.
fn sign(name: &str, body: &[u8], id: &str) -> Option<Signed> {
    let scheme = schemes::by_name(name).unwrap();
    let key: Key = SIGNING_SECRETS
        .iter()
        .find_map(|s| scheme.parse_signing_key(s).ok())
        .unwrap_or_else(|| panic!("{name}: no candidate signing secret parses"));
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url: Some(URL),
        headers: &empty,
        body,
    };
    let options = SignOptions {
        timestamp: NOW,
        id: Some(id.into()),
    };
    let out = match scheme.sign(&request, &key, &options) {
        Ok(out) => out,
        Err(SignError::Body { .. }) => return None,
        Err(e) => panic!("{name}: sign failed: {e}"),
    };
    // Verify with the signing key itself: for Ed25519 it carries the public key.
    let keys = Keyring::from_keys(vec![KeyEntry {
        id: "k".into(),
        key,
    }]);
    Some(Signed {
        scheme,
        keys,
        headers: out.headers,
        body: out.body.unwrap_or_else(|| body.to_vec()),
    })
}

fn verify(s: &Signed, headers: &[(HeaderName, String)], body: &[u8]) -> bool {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        match HeaderValue::from_str(v) {
            Ok(v) => {
                map.append(n.clone(), v);
            }
            Err(_) => return false, // a mutation that is not even a header value
        }
    }
    let request = WebhookRequest {
        method: &Method::POST,
        url: Some(URL),
        headers: &map,
        body,
    };
    s.scheme
        .verify(&request, &s.keys, &VerifyContext::new(&*s.scheme, NOW + 1))
        .is_ok()
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // JSON objects (what most providers send), with an id first.
        "[a-z0-9 ]{0,200}".prop_map(|s| format!(
            r#"{{"id":"evt_1","event_id":"e1","notification_id":"n1","text":"{s}"}}"#
        )
        .into_bytes()),
        // Form bodies (Slack commands, Twilio, Mailgun routes).
        ("[a-zA-Z0-9]{1,8}", "[a-zA-Z0-9+%]{0,20}")
            .prop_map(|(k, v)| format!("{k}={v}&Body=hello&From=%2B1555").into_bytes()),
        // Arbitrary bytes.
        proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sign_then_verify_round_trips_and_one_byte_changes_fail(
        body in body_strategy(),
        id in "[a-zA-Z0-9_]{1,24}",
        pick in any::<prop::sample::Index>(),
    ) {
        for name in schemes::NAMES {
            let Some(s) = sign(name, &body, &id) else { continue };
            prop_assert!(verify(&s, &s.headers, &s.body), "{name}: signed request refused");

            if body_fully_signed(name) && !s.body.is_empty() {
                let mut tampered = s.body.clone();
                let i = pick.index(tampered.len());
                tampered[i] ^= 1;
                prop_assert!(!verify(&s, &s.headers, &tampered), "{name}: body byte {i} changed and still accepted");
            }
            for (h, (header, value)) in s.headers.iter().enumerate() {
                if unsigned_header(name, header.as_str()) || value.is_empty() {
                    continue;
                }
                let mut bytes = value.clone().into_bytes();
                let i = pick.index(bytes.len());
                bytes[i] ^= 1; // never a case change (those differ by 0x20)
                let Ok(mutated) = String::from_utf8(bytes) else { continue };
                let mut headers = s.headers.clone();
                headers[h].1 = mutated.clone();
                prop_assert!(!verify(&s, &headers, &s.body), "{name}: {header} changed to {mutated:?} and still accepted");
            }
        }
    }
}

#[test]
fn every_scheme_refuses_a_request_with_no_headers() {
    // Mailgun carries its signature inside the body, not in headers.
    for name in schemes::NAMES.iter().filter(|n| **n != "mailgun") {
        let s = sign(name, br#"{"id":"evt_1"}"#, "id1").expect("every scheme signs a JSON body");
        assert!(
            !verify(&s, &[], &s.body),
            "{name} accepted a request without headers"
        );
    }
}
