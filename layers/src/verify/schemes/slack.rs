//! `slack`: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 over `v0:{timestamp}:{body}` with
//! `X-Slack-Request-Timestamp` (Unix seconds); Slack asks to refuse requests more than five
//! minutes off (300 s). Slack sends no delivery id.

use http::HeaderName;

use super::hmac::{HmacScheme, TimestampFormat};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `slack` scheme.
pub fn slack() -> HmacScheme {
    HmacScheme::new(
        "slack",
        HeaderName::from_static("x-slack-signature"),
        MacAlgorithm::Sha256,
        Encoding::Hex,
    )
    .prefix("v0=")
    .timestamp_header(
        HeaderName::from_static("x-slack-request-timestamp"),
        TimestampFormat::UnixSeconds,
    )
    .template("v0:{timestamp}:{body}")
    .expect("static template is valid")
    .tolerance(Some(300))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_rejects, headers, verify_with};
    use crate::verify::VerifyError;

    // Slack docs, "Verifying requests from Slack", worked example.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slack_docs_example_verifies() {
        let h = headers(&[
            ("X-Slack-Signature", SIG),
            ("X-Slack-Request-Timestamp", TS),
        ]);
        let v = verify_with(&slack(), &[SECRET], &h, BODY, None, 1531420618 + 10).unwrap();
        assert_eq!(v.timestamp, Some(1531420618));
    }

    #[test]
    fn slack_docs_example_too_old_reports_skew() {
        let h = headers(&[
            ("X-Slack-Signature", SIG),
            ("X-Slack-Request-Timestamp", TS),
        ]);
        let err = verify_with(&slack(), &[SECRET], &h, BODY, None, 1531420618 + 301).unwrap_err();
        assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: 301 });
        let err = verify_with(&slack(), &[SECRET], &h, BODY, None, 1531420618 - 400).unwrap_err();
        assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -400 });
    }

    #[test]
    fn slack_rejections() {
        let s = slack();
        assert_rejects(&s, SECRET, &[("X-Slack-Signature", SIG)], BODY, |e| {
            matches!(e, VerifyError::MissingHeader(_))
        });
        assert_rejects(
            &s,
            SECRET,
            &[
                ("X-Slack-Signature", SIG),
                ("X-Slack-Request-Timestamp", "12a"),
            ],
            BODY,
            |e| matches!(e, VerifyError::MalformedHeader { .. }),
        );
        assert_rejects(
            &s,
            SECRET,
            &[
                ("X-Slack-Signature", SIG),
                ("X-Slack-Request-Timestamp", "1531420619"),
            ],
            BODY,
            |e| *e == VerifyError::SignatureMismatch,
        );
    }
}
