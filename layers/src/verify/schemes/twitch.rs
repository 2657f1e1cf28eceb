//! `twitch`: EventSub's `Twitch-Eventsub-Message-Signature: sha256=<hex>`, HMAC-SHA256 over
//! message id + timestamp (RFC 3339, signed as sent) + raw body. Twitch asks to refuse
//! messages older than 10 minutes (600 s). Delivery id: `Twitch-Eventsub-Message-Id`.

use http::HeaderName;

use super::hmac::{HmacScheme, TimestampFormat};
use crate::verify::mac::{Encoding, MacAlgorithm};

/// The `twitch` scheme.
pub fn twitch() -> HmacScheme {
    HmacScheme::new(
        "twitch",
        HeaderName::from_static("twitch-eventsub-message-signature"),
        MacAlgorithm::Sha256,
        Encoding::Hex,
    )
    .prefix("sha256=")
    .timestamp_header(
        HeaderName::from_static("twitch-eventsub-message-timestamp"),
        TimestampFormat::Rfc3339,
    )
    .id_header(HeaderName::from_static("twitch-eventsub-message-id"))
    .template("{id}{timestamp}{body}")
    .expect("static template is valid")
    .tolerance(Some(600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};
    use crate::verify::VerifyError;

    // twitch-rs/twitch_api, src/eventsub/mod.rs, test `verify_request`: a channel.follow
    // notification as the Twitch CLI sends it, secret "secretabcd". The timestamp has seven
    // fractional digits. Re-checked with `printf '%s' ID TIMESTAMP BODY | openssl dgst
    // -sha256 -hmac secretabcd`.
    const SECRET: &str = "secretabcd";
    const ID: &str = "ae2ff348-e102-16be-a3eb-6830c1bf38d2";
    const TS: &str = "2021-02-19T23:47:00.8091512Z";
    const TS_SECS: i64 = 1_613_778_420;
    const BODY: &[u8] = br#"{"subscription":{"id":"ae2ff348-e102-16be-a3eb-6830c1bf38d2","status":"enabled","type":"channel.follow","version":"1","condition":{"broadcaster_user_id":"44429626"},"transport":{"method":"webhook","callback":"null"},"created_at":"2021-02-19T23:47:00.7621315Z"},"event":{"user_id":"28408015","user_login":"testFromUser","user_name":"testFromUser","broadcaster_user_id":"44429626","broadcaster_user_login":"44429626","broadcaster_user_name":"testBroadcaster"}}"#;
    const SIG: &str = "sha256=d10f5bd9474b7ac7bd7105eb79c2d52768b4d0cd2a135982c3bf5a1d59a78823";

    // Nanosecond timestamps, as the EventSub docs write them: the message id and timestamp of
    // the docs' webhook_callback_verification example, the challenge body of the docs (as
    // twitch_api's `test_verification_response` has it, compacted), secret
    // "thisisthesecret1". Twitch publishes no secret for it, so the signatures were computed
    // with `openssl dgst -sha256 -hmac thisisthesecret1`.
    const NS_SECRET: &str = "thisisthesecret1";
    const NS_ID: &str = "e76c6bd4-55c9-4987-8304-da1588d8988b";
    const NS_TS: &str = "2019-11-16T10:11:12.634234626Z";
    const NS_BODY: &[u8] = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"1","condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
    const NS_SIG: &str = "sha256=263eebe6cd76640e7bee81daff50dbfb7d65bf279bbb6139c533b2554f947693";
    // The same instant written with a numeric offset, signed as sent.
    const NS_OFFSET_SIG: &str =
        "sha256=714839bd20072f55187d542cf74a26702702b706c132618115d2f0d6a8e14af8";

    fn cli_headers() -> http::HeaderMap {
        headers(&[
            ("Twitch-Eventsub-Message-Id", ID),
            ("Twitch-Eventsub-Message-Retry", "0"),
            ("Twitch-Eventsub-Message-Signature", SIG),
            ("Twitch-Eventsub-Message-Timestamp", TS),
            ("Twitch-Eventsub-Message-Type", "notification"),
        ])
    }

    #[test]
    fn twitch_cli_notification_verifies() {
        let v = verify_with(
            &twitch(),
            &[SECRET],
            &cli_headers(),
            BODY,
            None,
            TS_SECS + 5,
        )
        .unwrap();
        assert_eq!(v.scheme, "twitch");
        assert_eq!(v.timestamp, Some(TS_SECS));
        assert_eq!(v.delivery_id.as_deref(), Some(ID));
    }

    #[test]
    fn nanosecond_and_offset_rfc3339_timestamps_verify() {
        let h = headers(&[
            ("Twitch-Eventsub-Message-Id", NS_ID),
            ("Twitch-Eventsub-Message-Signature", NS_SIG),
            ("Twitch-Eventsub-Message-Timestamp", NS_TS),
        ]);
        let v = verify_with(&twitch(), &[NS_SECRET], &h, NS_BODY, None, 1_573_899_072).unwrap();
        assert_eq!(v.timestamp, Some(1_573_899_072));
        let h = headers(&[
            ("Twitch-Eventsub-Message-Id", NS_ID),
            ("Twitch-Eventsub-Message-Signature", NS_OFFSET_SIG),
            (
                "Twitch-Eventsub-Message-Timestamp",
                "2019-11-16T10:11:12.634234626+00:00",
            ),
        ]);
        let v = verify_with(&twitch(), &[NS_SECRET], &h, NS_BODY, None, 1_573_899_100).unwrap();
        assert_eq!(v.timestamp, Some(1_573_899_072));
    }

    #[test]
    fn ten_minute_window_applies_both_ways() {
        let h = cli_headers();
        let s = twitch();
        assert!(verify_with(&s, &[SECRET], &h, BODY, None, TS_SECS + 600).is_ok());
        assert!(verify_with(&s, &[SECRET], &h, BODY, None, TS_SECS - 600).is_ok());
        let err = verify_with(&s, &[SECRET], &h, BODY, None, TS_SECS + 601).unwrap_err();
        assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: 601 });
        let err = verify_with(&s, &[SECRET], &h, BODY, None, TS_SECS - 601).unwrap_err();
        assert_eq!(err, VerifyError::TimestampOutsideWindow { skew_secs: -601 });
    }

    #[test]
    fn second_secret_matches_during_rotation() {
        let v = verify_with(
            &twitch(),
            &["newsecret123", SECRET],
            &cli_headers(),
            BODY,
            None,
            TS_SECS,
        )
        .unwrap();
        assert_eq!(v.secret_index, 1);
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let (h, body) = sign_with(&twitch(), SECRET, BODY, None, TS_SECS, Some(ID));
        assert_eq!(h["twitch-eventsub-message-id"], ID);
        assert_eq!(
            h["twitch-eventsub-message-timestamp"],
            "2021-02-19T23:47:00Z"
        );
        let v = verify_with(&twitch(), &[SECRET], &h, &body, None, TS_SECS + 1).unwrap();
        assert_eq!(v.delivery_id.as_deref(), Some(ID));
        assert_eq!(v.timestamp, Some(TS_SECS));
    }

    #[test]
    fn twitch_rejections() {
        let s = twitch();
        let id = ("Twitch-Eventsub-Message-Id", ID);
        let ts = ("Twitch-Eventsub-Message-Timestamp", TS);
        let sig = ("Twitch-Eventsub-Message-Signature", SIG);
        let missing = |e: &VerifyError| matches!(e, VerifyError::MissingHeader(_));
        let malformed = |e: &VerifyError| matches!(e, VerifyError::MalformedHeader { .. });
        let mismatch = |e: &VerifyError| *e == VerifyError::SignatureMismatch;
        assert_rejects(&s, SECRET, &[id, ts], BODY, missing);
        assert_rejects(&s, SECRET, &[sig, ts], BODY, missing);
        assert_rejects(&s, SECRET, &[id, sig], BODY, missing);
        assert_rejects(
            &s,
            SECRET,
            &[id, ts, ("Twitch-Eventsub-Message-Signature", "")],
            BODY,
            missing,
        );
        assert_rejects(&s, SECRET, &[id, ts, sig, sig], BODY, |e| {
            matches!(e, VerifyError::DuplicateHeader(_))
        });
        assert_rejects(&s, SECRET, &[id, id, ts, sig], BODY, |e| {
            matches!(e, VerifyError::DuplicateHeader(_))
        });
        assert_rejects(
            &s,
            SECRET,
            &[id, ts, ("Twitch-Eventsub-Message-Signature", &SIG[7..])],
            BODY,
            malformed,
        );
        // (RFC 3339 lets a space replace the `T`; `time` accepts it, and it is signed as sent.)
        for bad in ["1613778420", "2021-02-19T23:47:00", "2021-02-30T23:47:00Z"] {
            assert_rejects(
                &s,
                SECRET,
                &[id, sig, ("Twitch-Eventsub-Message-Timestamp", bad)],
                BODY,
                |e| {
                    matches!(e, VerifyError::MalformedHeader { header, .. }
                        if header == "twitch-eventsub-message-timestamp")
                },
            );
        }
        assert_rejects(&s, "wrongsecret", &[id, ts, sig], BODY, mismatch);
        assert_rejects(&s, SECRET, &[id, ts, sig], &BODY[1..], mismatch);
        assert_rejects(
            &s,
            SECRET,
            &[("Twitch-Eventsub-Message-Id", NS_ID), ts, sig],
            BODY,
            mismatch,
        );
    }
}
