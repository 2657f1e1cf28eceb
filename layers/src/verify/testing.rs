//! Helpers for the schemes' unit tests.

use http::{HeaderMap, HeaderValue, Method};

use super::{Keyring, Scheme, SignOptions, Verified, VerifyContext, VerifyError, WebhookRequest};
pub(crate) use crate::testing::headers;

/// Verifies with the scheme's default tolerance at `now`.
pub(crate) fn verify_with(
    scheme: &dyn Scheme,
    secrets: &[&str],
    headers: &HeaderMap,
    body: &[u8],
    url: Option<&str>,
    now: i64,
) -> Result<Verified, VerifyError> {
    let keys = Keyring::from_secrets(scheme, secrets).expect("test secrets parse");
    let request = WebhookRequest {
        method: &Method::POST,
        url,
        headers,
        body,
    };
    scheme.verify(&request, &keys, &VerifyContext::new(scheme, now))
}

/// Asserts a rejection (at time 0, tolerance disabled) matching `expected`.
pub(crate) fn assert_rejects(
    scheme: &dyn Scheme,
    secret: &str,
    header_pairs: &[(&str, &str)],
    body: &[u8],
    expected: impl Fn(&VerifyError) -> bool,
) {
    let keys = Keyring::from_secrets(scheme, [secret]).expect("test secret parses");
    let h = headers(header_pairs);
    let request = WebhookRequest {
        method: &Method::POST,
        url: Some("https://example.com/hook"),
        headers: &h,
        body,
    };
    let ctx = VerifyContext::new(scheme, 0).with_tolerance(None);
    match scheme.verify(&request, &keys, &ctx) {
        Ok(v) => panic!("{} accepted {header_pairs:?}: {v:?}", scheme.name()),
        Err(e) => assert!(
            expected(&e),
            "{}: unexpected rejection {e:?} for {header_pairs:?}",
            scheme.name()
        ),
    }
}

/// Signs with `secret`, returning the headers as a map and the body to send.
pub(crate) fn sign_with(
    scheme: &dyn Scheme,
    secret: &str,
    body: &[u8],
    url: Option<&str>,
    timestamp: i64,
    id: Option<&str>,
) -> (HeaderMap, Vec<u8>) {
    let key = scheme
        .parse_signing_key(secret)
        .expect("signing secret parses");
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url,
        headers: &empty,
        body,
    };
    let out = scheme
        .sign(
            &request,
            &key,
            &SignOptions {
                timestamp,
                id: id.map(str::to_owned),
            },
        )
        .expect("sign succeeds");
    let map = out
        .headers
        .into_iter()
        .map(|(n, v)| (n, HeaderValue::from_str(&v).unwrap()))
        .collect();
    (map, out.body.unwrap_or_else(|| body.to_vec()))
}
