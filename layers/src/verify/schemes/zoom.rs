//! `zoom`: `x-zm-signature: v0=<hex>`, HMAC-SHA256 over `v0:{timestamp}:{body}` with
//! `x-zm-request-timestamp` (Unix seconds), keyed with the app's secret token. Zoom
//! publishes no window; hookguard uses 300 s (configurable per route).

use http::HeaderName;

use super::hmac::{HmacScheme, TimestampFormat};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `zoom` scheme.
pub fn zoom() -> HmacScheme {
    HmacScheme::new(
        "zoom",
        HeaderName::from_static("x-zm-signature"),
        MacAlgorithm::Sha256,
        Encoding::Hex,
    )
    .prefix("v0=")
    .timestamp_header(
        HeaderName::from_static("x-zm-request-timestamp"),
        TimestampFormat::UnixSeconds,
    )
    .template("v0:{timestamp}:{body}")
    .expect("static template is valid")
    .tolerance(Some(300))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};
    use crate::verify::{Keyring, Scheme, Verified, VerifyContext, VerifyError, WebhookRequest};

    fn verify_without_window(
        secret: &str,
        pairs: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        let scheme = zoom();
        let keys = Keyring::from_secrets(&scheme, [secret]).unwrap();
        let h = headers(pairs);
        let request = WebhookRequest {
            method: &http::Method::POST,
            url: None,
            headers: &h,
            body,
        };
        scheme.verify(
            &request,
            &keys,
            &VerifyContext::new(&scheme, 0).with_tolerance(None),
        )
    }

    #[test]
    fn published_library_vectors_verify() {
        // Zoom's docs show the algorithm but no signed example. These are the test vectors of
        // seguri/x-zm-signature (src/test/java/.../ZoomWebhookValidatorTest.java), secret
        // "secret"; re-checked with `openssl dgst -sha256 -hmac secret`. Their timestamp
        // is only signed text there, so the window is disabled.
        for (sig, body) in [
            (
                "v0=4fbb75111d585a4c58bc193aba49b007ddd7170f9191b0286d9413c1a07a44e8",
                r#"{"foo": "bar"}"#,
            ),
            (
                "v0=f46042d159828f787589618793a3f535b54de02da06ea660545e46c8960b70bf",
                r#"{"foo":"bar"}"#,
            ),
        ] {
            let pairs = [
                ("x-zm-signature", sig),
                ("x-zm-request-timestamp", "1697204592920"),
            ];
            assert!(verify_without_window("secret", &pairs, body.as_bytes()).is_ok());
            // The two bodies differ by one space: each signature fits only its own.
            let other = if body.contains(": ") {
                r#"{"foo":"bar"}"#
            } else {
                r#"{"foo": "bar"}"#
            };
            assert_eq!(
                verify_without_window("secret", &pairs, other.as_bytes()).unwrap_err(),
                VerifyError::SignatureMismatch
            );
        }
    }

    // A meeting.started event signed at 1700000000 with "zm_secret_token_123", computed with
    // `printf '%s' 'v0:1700000000:BODY' | openssl dgst -sha256 -hmac zm_secret_token_123`.
    const SECRET: &str = "zm_secret_token_123";
    const BODY: &[u8] = br#"{"event":"meeting.started","payload":{"account_id":"AAAA","object":{"id":"85432165432","topic":"Standup"}},"event_ts":1700000000123}"#;
    const SIG: &str = "v0=8f20763c58f615140f2c9858a255dc151252045b0ec750160ab356502b6c201a";
    const TS: i64 = 1_700_000_000;

    fn signed() -> http::HeaderMap {
        headers(&[
            ("x-zm-signature", SIG),
            ("x-zm-request-timestamp", "1700000000"),
        ])
    }

    #[test]
    fn openssl_vector_verifies_inside_the_window_both_ways() {
        let s = zoom();
        let v = verify_with(&s, &[SECRET], &signed(), BODY, None, TS + 300).unwrap();
        assert_eq!(v.timestamp, Some(TS));
        assert_eq!(v.delivery_id, None);
        assert!(verify_with(&s, &[SECRET], &signed(), BODY, None, TS - 300).is_ok());
        let err = verify_with(&s, &[SECRET], &signed(), BODY, None, TS + 301).unwrap_err();
        assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: 301 });
        let err = verify_with(&s, &[SECRET], &signed(), BODY, None, TS - 301).unwrap_err();
        assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -301 });
    }

    #[test]
    fn second_secret_matches_during_rotation() {
        let v = verify_with(&zoom(), &["new_token", SECRET], &signed(), BODY, None, TS).unwrap();
        assert_eq!(v.secret_index, 1);
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let (h, body) = sign_with(&zoom(), SECRET, BODY, None, TS, None);
        assert_eq!(h["x-zm-signature"], SIG);
        assert_eq!(h["x-zm-request-timestamp"], "1700000000");
        assert!(verify_with(&zoom(), &[SECRET], &h, &body, None, TS).is_ok());
    }

    #[test]
    fn zoom_rejections() {
        let s = zoom();
        let sig = ("x-zm-signature", SIG);
        let ts = ("x-zm-request-timestamp", "1700000000");
        let missing = |e: &VerifyError| matches!(e, VerifyError::MissingHeader(_));
        let malformed = |e: &VerifyError| matches!(e, VerifyError::MalformedHeader { .. });
        let mismatch = |e: &VerifyError| *e == VerifyError::SignatureMismatch;
        assert_rejects(&s, SECRET, &[ts], BODY, missing);
        assert_rejects(&s, SECRET, &[sig], BODY, missing);
        assert_rejects(&s, SECRET, &[("x-zm-signature", ""), ts], BODY, missing);
        assert_rejects(&s, SECRET, &[sig, sig, ts], BODY, |e| {
            matches!(e, VerifyError::DuplicateHeader(_))
        });
        assert_rejects(
            &s,
            SECRET,
            &[("x-zm-signature", &SIG[3..]), ts],
            BODY,
            malformed,
        );
        assert_rejects(
            &s,
            SECRET,
            &[("x-zm-signature", "v0="), ts],
            BODY,
            malformed,
        );
        assert_rejects(
            &s,
            SECRET,
            &[sig, ("x-zm-request-timestamp", "2023-11-14T22:13:20Z")],
            BODY,
            malformed,
        );
        assert_rejects(&s, "wrong_token", &[sig, ts], BODY, mismatch);
        assert_rejects(&s, SECRET, &[sig, ts], &BODY[..BODY.len() - 1], mismatch);
        assert_rejects(
            &s,
            SECRET,
            &[sig, ("x-zm-request-timestamp", "1700000001")],
            BODY,
            mismatch,
        );
    }
}
