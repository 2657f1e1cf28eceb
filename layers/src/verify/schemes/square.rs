//! `square`: `x-square-hmacsha256-signature: <base64>`, HMAC-SHA256 over the notification
//! URL (exactly as configured in Square) followed by the raw body, keyed with the
//! subscription's signature key. Delivery id: the body's `event_id`. No signed timestamp.

use http::HeaderName;

use super::hmac::{DeliveryId, HmacScheme};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `square` scheme.
pub fn square() -> HmacScheme {
    HmacScheme::new(
        "square",
        HeaderName::from_static("x-square-hmacsha256-signature"),
        MacAlgorithm::Sha256,
        Encoding::Base64,
    )
    .template("{url}{body}")
    .expect("static template is valid")
    .delivery_id(DeliveryId::BodyField("event_id"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};
    use crate::verify::VerifyError;

    // square/square-nodejs-sdk `test/utilities/webhooksHelper.test.ts`
    // ("test signature validation pass"): signature key, notification URL, body, signature.
    const KEY: &str = "Ibxx_5AKakO-3qeNVR61Dw";
    const URL: &str = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";
    const BODY: &[u8] = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
    const SIGNATURE: &str = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
    const HEADER: &str = "x-square-hmacsha256-signature";

    fn verify(key: &str, url: Option<&str>, sig: &str, body: &[u8]) -> Result<(), VerifyError> {
        let h = headers(&[(HEADER, sig)]);
        verify_with(&square(), &[key], &h, body, url, 0).map(|_| ())
    }

    #[test]
    fn square_sdk_vector_verifies_with_the_event_id() {
        let h = headers(&[(HEADER, SIGNATURE)]);
        let v = verify_with(&square(), &[KEY], &h, BODY, Some(URL), 0).unwrap();
        assert_eq!(v.scheme, "square");
        assert_eq!(
            v.delivery_id.as_deref(),
            Some("ac3ac95b-f97d-458c-a6e6-18981597e05f")
        );
    }

    #[test]
    fn square_sdk_vectors_with_special_characters_verify() {
        // "test signature unescaped chars validation pass" / "… with escaped characters".
        let url = "https://webhook.site/webhooks";
        let plain = br#"{"data":{"type":"webhooks","id":"fake_id"}}"#;
        assert_eq!(
            verify(
                "signature-key",
                Some(url),
                "W3FlCNk5IA3ZQ2LHTWoajvzfaDu/OwY2tNHIHC3IUOA=",
                plain
            ),
            Ok(())
        );
        let escaped = br#"{"data":{"type":"webhooks","id":">id<"}}"#;
        assert_eq!(
            verify(
                "signature-key",
                Some(url),
                "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U=",
                escaped
            ),
            Ok(())
        );
    }

    #[test]
    fn square_sdk_negative_vectors_are_rejected() {
        // "fails on notification url mismatch", "… invalid signature key", "… request body
        // mismatch" (another created_at) and "… request body formatted".
        let wrong_url = "https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9";
        let mismatch = Err(VerifyError::SignatureMismatch);
        assert_eq!(verify(KEY, Some(wrong_url), SIGNATURE, BODY), mismatch);
        assert_eq!(
            verify("MCmhFRxGX82xMwg5FsaoQA", Some(URL), SIGNATURE, BODY),
            mismatch
        );
        let other = String::from_utf8_lossy(BODY).replace("2022-07-13", "2022-06-13");
        assert_eq!(
            verify(KEY, Some(URL), SIGNATURE, other.as_bytes()),
            mismatch
        );
        let formatted =
            serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(BODY).unwrap())
                .unwrap();
        assert_eq!(verify(KEY, Some(URL), SIGNATURE, &formatted), mismatch);
        // "fails on invalid signature header": a 20-byte MAC cannot be an HMAC-SHA256.
        assert!(matches!(
            verify(KEY, Some(URL), "1z2n3DEJJiUPKcPzQo1ftvbxGdw=", BODY),
            Err(VerifyError::MalformedHeader { .. })
        ));
        // The URL is signed: without it, nothing can be checked.
        assert_eq!(
            verify(KEY, None, SIGNATURE, BODY),
            Err(VerifyError::UrlUnknown)
        );
    }

    #[test]
    fn second_key_matches_during_rotation() {
        let h = headers(&[(HEADER, SIGNATURE)]);
        let v = verify_with(&square(), &["new-key", KEY], &h, BODY, Some(URL), 0).unwrap();
        assert_eq!(v.secret_index, 1);
    }

    #[test]
    fn square_rejections() {
        let s = square();
        let missing = |e: &VerifyError| matches!(e, VerifyError::MissingHeader(_));
        assert_rejects(&s, KEY, &[], BODY, missing);
        assert_rejects(&s, KEY, &[(HEADER, "")], BODY, missing);
        assert_rejects(
            &s,
            KEY,
            &[(HEADER, SIGNATURE), (HEADER, SIGNATURE)],
            BODY,
            |e| matches!(e, VerifyError::DuplicateHeader(_)),
        );
        assert_rejects(&s, KEY, &[(HEADER, "not base64!")], BODY, |e| {
            matches!(e, VerifyError::MalformedHeader { .. })
        });
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let body = br#"{"event_id":"evt-1","type":"payment.updated"}"#;
        let url = "https://example.com/square";
        let (h, sent) = sign_with(&square(), "sig-key", body, Some(url), 0, None);
        let v = verify_with(&square(), &["sig-key"], &h, &sent, Some(url), 0).unwrap();
        assert_eq!(v.delivery_id.as_deref(), Some("evt-1"));
        let elsewhere = Some("https://example.com/square2");
        assert!(verify_with(&square(), &["sig-key"], &h, &sent, elsewhere, 0).is_err());
    }
}
