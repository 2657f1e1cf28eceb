//! `bitbucket`: Bitbucket Cloud's `X-Hub-Signature: sha256=<hex>`, HMAC-SHA256 over the raw
//! body; delivery id from `X-Request-UUID`. No signed timestamp.

use http::HeaderName;

use super::hmac::{DeliveryId, HmacScheme};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `bitbucket` scheme.
pub fn bitbucket() -> HmacScheme {
    HmacScheme::new(
        "bitbucket",
        HeaderName::from_static("x-hub-signature"),
        MacAlgorithm::Sha256,
        Encoding::Hex,
    )
    .prefix("sha256=")
    .delivery_id(DeliveryId::Header(HeaderName::from_static(
        "x-request-uuid",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};
    use crate::verify::VerifyError;

    // Bitbucket publishes no complete example (its docs show a placeholder signature). This
    // vector was computed independently:
    // `printf '%s' "$BODY" | openssl dgst -sha256 -hmac 'bb-webhook-secret'`.
    const SECRET: &str = "bb-webhook-secret";
    const BODY: &[u8] = br#"{"push":{"changes":[]},"repository":{"full_name":"team/repo"}}"#;
    const SIGNATURE: &str =
        "sha256=6a1256a7f520699ca30f309de2d57474e7c1d91af2c67e80df9db22223b038f5";
    const REQUEST_UUID: &str = "0a8f6d3e-9f2b-4c61-8d1e-3b7a2c5e4f10";

    #[test]
    fn openssl_vector_verifies_with_the_request_uuid() {
        let h = headers(&[
            ("X-Hub-Signature", SIGNATURE),
            ("X-Request-UUID", REQUEST_UUID),
        ]);
        let v = verify_with(&bitbucket(), &[SECRET], &h, BODY, None, 0).unwrap();
        assert_eq!(v.scheme, "bitbucket");
        assert_eq!(v.delivery_id.as_deref(), Some(REQUEST_UUID));
    }

    #[test]
    fn second_secret_matches_during_rotation() {
        let h = headers(&[("X-Hub-Signature", SIGNATURE)]);
        let v = verify_with(&bitbucket(), &["new", SECRET], &h, BODY, None, 0).unwrap();
        assert_eq!(v.secret_index, 1);
    }

    #[test]
    fn bitbucket_rejections() {
        let s = bitbucket();
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
        for value in ["sha256=", &SIGNATURE[7..], "sha1=6a1256a7f520699ca30f"] {
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
        let (h, sent) = sign_with(&bitbucket(), SECRET, BODY, None, 0, Some(REQUEST_UUID));
        assert_eq!(h["x-hub-signature"], SIGNATURE);
        let v = verify_with(&bitbucket(), &[SECRET], &h, &sent, None, 0).unwrap();
        assert_eq!(v.delivery_id.as_deref(), Some(REQUEST_UUID));
    }
}
