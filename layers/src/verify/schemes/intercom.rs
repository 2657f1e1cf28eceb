//! `intercom`: Intercom's `X-Hub-Signature: sha1=<hex>`, HMAC-SHA1 of the raw body keyed
//! with the app's client secret; delivery id from the notification's `id` in the body.
//! No signed timestamp.

use http::HeaderName;

use super::hmac::{DeliveryId, HmacScheme};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `intercom` scheme.
pub fn intercom() -> HmacScheme {
    HmacScheme::new(
        "intercom",
        HeaderName::from_static("x-hub-signature"),
        MacAlgorithm::Sha1,
        Encoding::Hex,
    )
    .prefix("sha1=")
    .delivery_id(DeliveryId::BodyField("id"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};
    use crate::verify::VerifyError;

    // Intercom publishes no example with a secret and a signature. This vector was computed
    // independently: `printf '%s' "$BODY" | openssl dgst -sha1 -hmac 'intercom-client-secret'`.
    const SECRET: &str = "intercom-client-secret";
    const BODY: &[u8] = br#"{"type":"notification_event","id":"notif_ccd8a4d2-c9ac-4f2c-9bcf-3fb4d7ab1e7a","topic":"ping","data":{"item":{"type":"ping","message":"something"}}}"#;
    const SIGNATURE: &str = "sha1=75b51a5823029a596ed657f68d54dfdabe68ede5";

    #[test]
    fn openssl_vector_verifies_with_the_notification_id() {
        let h = headers(&[("X-Hub-Signature", SIGNATURE)]);
        let v = verify_with(&intercom(), &[SECRET], &h, BODY, None, 0).unwrap();
        assert_eq!(v.scheme, "intercom");
        assert_eq!(
            v.delivery_id.as_deref(),
            Some("notif_ccd8a4d2-c9ac-4f2c-9bcf-3fb4d7ab1e7a")
        );
    }

    #[test]
    fn second_secret_matches_during_rotation() {
        let h = headers(&[("X-Hub-Signature", SIGNATURE)]);
        let v = verify_with(&intercom(), &["new", SECRET], &h, BODY, None, 0).unwrap();
        assert_eq!(v.secret_index, 1);
    }

    #[test]
    fn intercom_rejections() {
        let s = intercom();
        let missing = |e: &VerifyError| matches!(e, VerifyError::MissingHeader(_));
        let malformed = |e: &VerifyError| matches!(e, VerifyError::MalformedHeader { .. });
        let mismatch = |e: &VerifyError| *e == VerifyError::SignatureMismatch;
        assert_rejects(&s, SECRET, &[], BODY, missing);
        assert_rejects(&s, SECRET, &[("X-Hub-Signature", "")], BODY, missing);
        assert_rejects(
            &s,
            SECRET,
            &[
                ("X-Hub-Signature", SIGNATURE),
                ("X-Hub-Signature", SIGNATURE),
            ],
            BODY,
            |e| matches!(e, VerifyError::DuplicateHeader(_)),
        );
        // A SHA-256 MAC, no prefix, an empty MAC.
        for value in [
            "sha256=75b51a5823029a596ed657f68d54dfdabe68ede5",
            &SIGNATURE[5..],
            "sha1=",
        ] {
            assert_rejects(&s, SECRET, &[("X-Hub-Signature", value)], BODY, malformed);
        }
        assert_rejects(
            &s,
            "wrong",
            &[("X-Hub-Signature", SIGNATURE)],
            BODY,
            mismatch,
        );
        assert_rejects(
            &s,
            SECRET,
            &[("X-Hub-Signature", SIGNATURE)],
            b"{}",
            mismatch,
        );
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let (h, sent) = sign_with(&intercom(), SECRET, BODY, None, 0, None);
        assert_eq!(h["x-hub-signature"], SIGNATURE);
        assert!(verify_with(&intercom(), &[SECRET], &h, &sent, None, 0).is_ok());
        assert!(verify_with(&intercom(), &["other"], &h, &sent, None, 0).is_err());
    }
}
