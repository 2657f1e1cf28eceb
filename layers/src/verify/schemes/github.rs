//! `github` (`X-Hub-Signature-256: sha256=<hex>`) and `github-sha1`
//! (`X-Hub-Signature: sha1=<hex>`): HMAC over the raw body; delivery id from
//! `X-GitHub-Delivery`. GitHub signs no timestamp.

use http::HeaderName;

use super::hmac::{DeliveryId, HmacScheme};
use crate::verify::mac::{Encoding, MacAlgorithm};

fn delivery() -> DeliveryId {
    DeliveryId::Header(HeaderName::from_static("x-github-delivery"))
}

/// `github`: HMAC-SHA256, hex, `sha256=` prefix.
pub fn github() -> HmacScheme {
    HmacScheme::new(
        "github",
        HeaderName::from_static("x-hub-signature-256"),
        MacAlgorithm::Sha256,
        Encoding::Hex,
    )
    .prefix("sha256=")
    .delivery_id(delivery())
}

/// `github-sha1`: the legacy HMAC-SHA1 header.
pub fn github_sha1() -> HmacScheme {
    HmacScheme::new(
        "github-sha1",
        HeaderName::from_static("x-hub-signature"),
        MacAlgorithm::Sha1,
        Encoding::Hex,
    )
    .prefix("sha1=")
    .delivery_id(delivery())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_rejects, headers, verify_with};
    use crate::verify::VerifyError;

    // GitHub docs, "Validating webhook deliveries", testing the webhook payload
    // validation: secret "It's a Secret to Everybody", payload "Hello, World!".
    const DOCS_SECRET: &str = "It's a Secret to Everybody";
    const DOCS_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_docs_example_verifies() {
        let h = headers(&[
            ("X-Hub-Signature-256", DOCS_SIGNATURE),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ]);
        let v = verify_with(&github(), &[DOCS_SECRET], &h, b"Hello, World!", None, 0).unwrap();
        assert_eq!(v.secret_index, 0);
        assert_eq!(
            v.delivery_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
    }

    #[test]
    fn github_docs_example_matches_second_secret_during_rotation() {
        let h = headers(&[("X-Hub-Signature-256", DOCS_SIGNATURE)]);
        let v = verify_with(
            &github(),
            &["new-secret", DOCS_SECRET],
            &h,
            b"Hello, World!",
            None,
            0,
        )
        .unwrap();
        assert_eq!(v.secret_index, 1);
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let h = headers(&[(
            "X-Hub-Signature-256",
            &DOCS_SIGNATURE.to_uppercase().replace("SHA256=", "sha256="),
        )]);
        assert!(verify_with(&github(), &[DOCS_SECRET], &h, b"Hello, World!", None, 0).is_ok());
    }

    #[test]
    fn github_rejections() {
        let s = github();
        assert_rejects(&s, DOCS_SECRET, &[], b"Hello, World!", |e| {
            matches!(e, VerifyError::MissingHeader(_))
        });
        assert_rejects(
            &s,
            DOCS_SECRET,
            &[("X-Hub-Signature-256", "sha256=")],
            b"Hello, World!",
            |e| matches!(e, VerifyError::MalformedHeader { .. }),
        );
        assert_rejects(
            &s,
            DOCS_SECRET,
            &[("X-Hub-Signature-256", &DOCS_SIGNATURE[7..])],
            b"Hello, World!",
            |e| matches!(e, VerifyError::MalformedHeader { .. }),
        );
        assert_rejects(
            &s,
            DOCS_SECRET,
            &[("X-Hub-Signature-256", "sha256=abcd")],
            b"Hello, World!",
            |e| matches!(e, VerifyError::MalformedHeader { .. }),
        );
        assert_rejects(
            &s,
            DOCS_SECRET,
            &[
                ("X-Hub-Signature-256", DOCS_SIGNATURE),
                ("X-Hub-Signature-256", DOCS_SIGNATURE),
            ],
            b"Hello, World!",
            |e| matches!(e, VerifyError::DuplicateHeader(_)),
        );
        assert_rejects(
            &s,
            DOCS_SECRET,
            &[("X-Hub-Signature-256", DOCS_SIGNATURE)],
            b"Hello, World?",
            |e| *e == VerifyError::SignatureMismatch,
        );
        assert_rejects(
            &s,
            "wrong",
            &[("X-Hub-Signature-256", DOCS_SIGNATURE)],
            b"Hello, World!",
            |e| *e == VerifyError::SignatureMismatch,
        );
    }

    #[test]
    fn github_sha1_rfc_style_vector() {
        // HMAC-SHA1("It's a Secret to Everybody", "Hello, World!") computed independently
        // with `openssl dgst -sha1 -hmac`.
        let h = headers(&[(
            "X-Hub-Signature",
            "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59",
        )]);
        assert!(verify_with(
            &github_sha1(),
            &[DOCS_SECRET],
            &h,
            b"Hello, World!",
            None,
            0
        )
        .is_ok());
    }
}
