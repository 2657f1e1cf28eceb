//! `shopify`: `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the raw body keyed with the
//! app's client secret; delivery id from `X-Shopify-Webhook-Id`. No signed timestamp.
//! Events webhooks send the signature as `shopify-hmac-sha256` (no `X-`), read as well;
//! both present with different values is refused. The webhook id is not signed, and events
//! webhooks may come without it: the replay guard stops exact resends of those that have one.

use http::HeaderName;

use super::hmac::{DeliveryId, HmacScheme};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `shopify` scheme.
pub fn shopify() -> HmacScheme {
    HmacScheme::new(
        "shopify",
        HeaderName::from_static("x-shopify-hmac-sha256"),
        MacAlgorithm::Sha256,
        Encoding::Base64,
    )
    .header_alias(HeaderName::from_static("shopify-hmac-sha256"))
    .delivery_id(DeliveryId::Header(HeaderName::from_static(
        "x-shopify-webhook-id",
    )))
    // Events webhooks have been seen without `X-Shopify-Webhook-Id`: refusing those would
    // refuse genuine deliveries, so they pass the replay guard untracked.
    .delivery_id_optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};
    use crate::verify::VerifyError;

    // Shopify/shopify-app-js `packages/apps/shopify-api/lib/webhooks/__tests__/validate.test.ts`
    // ("returns true for valid request"): api secret key `test_secret_key` (from
    // `lib/__tests__/test-config.ts`), raw body `{"foo": "bar"}`, webhook id 123456789.
    const SECRET: &str = "test_secret_key";
    const BODY: &[u8] = br#"{"foo": "bar"}"#;
    const HMAC: &str = "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=";

    #[test]
    fn shopify_api_js_vector_verifies() {
        let h = headers(&[
            ("X-Shopify-Hmac-Sha256", HMAC),
            ("X-Shopify-Webhook-Id", "123456789"),
        ]);
        let v = verify_with(&shopify(), &[SECRET], &h, BODY, None, 0).unwrap();
        assert_eq!(v.scheme, "shopify");
        assert_eq!(v.secret_index, 0);
        assert_eq!(v.delivery_id.as_deref(), Some("123456789"));
        assert_eq!(v.timestamp, None);
    }

    #[test]
    fn sign_reproduces_the_shopify_api_js_vector() {
        let (h, _) = sign_with(&shopify(), SECRET, BODY, None, 0, Some("123456789"));
        assert_eq!(h["x-shopify-hmac-sha256"], HMAC);
        assert_eq!(h["x-shopify-webhook-id"], "123456789");
    }

    #[test]
    fn second_secret_matches_during_rotation() {
        let h = headers(&[("X-Shopify-Hmac-Sha256", HMAC)]);
        let v = verify_with(&shopify(), &["new_secret", SECRET], &h, BODY, None, 0).unwrap();
        assert_eq!(v.secret_index, 1);
    }

    #[test]
    fn shopify_rejections() {
        let s = shopify();
        let missing = |e: &VerifyError| matches!(e, VerifyError::MissingHeader(_));
        let malformed = |e: &VerifyError| matches!(e, VerifyError::MalformedHeader { .. });
        let mismatch = |e: &VerifyError| *e == VerifyError::SignatureMismatch;
        assert_rejects(&s, SECRET, &[], BODY, missing);
        assert_rejects(&s, SECRET, &[("X-Shopify-Hmac-Sha256", "")], BODY, missing);
        assert_rejects(
            &s,
            SECRET,
            &[
                ("X-Shopify-Hmac-Sha256", HMAC),
                ("X-Shopify-Hmac-Sha256", HMAC),
            ],
            BODY,
            |e| matches!(e, VerifyError::DuplicateHeader(_)),
        );
        // shopify-app-js "returns false on invalid HMAC" sends `invalid`; a hex MAC and a
        // truncated one are malformed too.
        for value in [
            "invalid",
            "0776ed5cdebad7823d2a858d46b82dcc113d5d20e8e7269bbac1f9a1bb76bb8",
            &HMAC[..20],
        ] {
            assert_rejects(
                &s,
                SECRET,
                &[("X-Shopify-Hmac-Sha256", value)],
                BODY,
                malformed,
            );
        }
        assert_rejects(
            &s,
            "wrong",
            &[("X-Shopify-Hmac-Sha256", HMAC)],
            BODY,
            mismatch,
        );
        assert_rejects(
            &s,
            SECRET,
            &[("X-Shopify-Hmac-Sha256", HMAC)],
            br#"{"foo":"bar"}"#,
            mismatch,
        );
    }

    // Shopify's events webhooks name the header without `X-`: shopify-app-js
    // `WebhookType.NextGen` (`hmac: 'shopify-hmac-sha256'`) and shopify-app-php
    // (`HMAC_HEADER_NAMES = ['x-shopify-hmac-sha256', 'shopify-hmac-sha256']`).
    #[test]
    fn events_webhooks_header_without_x_prefix_verifies() {
        let h = headers(&[("shopify-hmac-sha256", HMAC)]);
        let v = verify_with(&shopify(), &[SECRET], &h, BODY, None, 0).unwrap();
        assert_eq!(v.secret_index, 0);
        let h = headers(&[
            ("Shopify-Hmac-Sha256", HMAC),
            ("X-Shopify-Hmac-Sha256", HMAC),
        ]);
        assert!(verify_with(&shopify(), &[SECRET], &h, BODY, None, 0).is_ok());
        assert_rejects(
            &shopify(),
            "wrong",
            &[("shopify-hmac-sha256", HMAC)],
            BODY,
            |e| *e == VerifyError::SignatureMismatch,
        );
    }

    #[test]
    fn both_signature_headers_disagreeing_fail_closed() {
        let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        for (first, second) in [(HMAC, wrong), (wrong, HMAC)] {
            assert_rejects(
                &shopify(),
                SECRET,
                &[
                    ("X-Shopify-Hmac-Sha256", first),
                    ("shopify-hmac-sha256", second),
                ],
                BODY,
                |e| matches!(e, VerifyError::MalformedHeader { .. }),
            );
        }
        assert_rejects(
            &shopify(),
            SECRET,
            &[("shopify-hmac-sha256", HMAC), ("shopify-hmac-sha256", HMAC)],
            BODY,
            |e| matches!(e, VerifyError::DuplicateHeader(_)),
        );
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let body = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
        let (h, sent) = sign_with(&shopify(), "shpss_0123", body, None, 0, None);
        let v = verify_with(&shopify(), &["shpss_0123"], &h, &sent, None, 0).unwrap();
        assert!(v.delivery_id.is_some());
        assert!(verify_with(&shopify(), &["shpss_9999"], &h, &sent, None, 0).is_err());
    }
}
