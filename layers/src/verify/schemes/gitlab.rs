//! `gitlab`: GitLab sends the webhook's secret token itself in `X-Gitlab-Token`; there is no
//! signature over the body, so the check is a constant-time comparison of the token (and
//! only TLS protects the body). GitLab signs no timestamp.
//!
//! Delivery id: `Idempotency-Key` when present (GitLab 17.4+, "unique ID consistent across
//! webhook retries"), else `X-Gitlab-Event-UUID` (GitLab 14.8+, shared by recursive hooks),
//! as the GitLab docs' "Delivery headers" table describes them.

use http::HeaderName;
use zeroize::Zeroizing;

use super::hmac::default_delivery_id;
use crate::verify::error::{SecretError, SignError, VerifyError};
use crate::verify::scheme::{
    optional_header, single_header, Scheme, SignOptions, SignOutput, Verified, VerifyContext,
    WebhookRequest,
};
use crate::verify::secret::{secret_error, Key, Keyring};

const TOKEN: HeaderName = HeaderName::from_static("x-gitlab-token");
const EVENT_UUID: HeaderName = HeaderName::from_static("x-gitlab-event-uuid");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The `gitlab` scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gitlab;

impl Scheme for Gitlab {
    fn name(&self) -> &'static str {
        "gitlab"
    }

    fn default_tolerance(&self) -> Option<u64> {
        None
    }

    fn delivery_id_source(&self) -> crate::verify::scheme::DeliveryIdSource {
        // GitLab authenticates with a token, not a signature: no header is signed.
        crate::verify::scheme::DeliveryIdSource {
            headers: vec![IDEMPOTENCY_KEY, EVENT_UUID],
            ..crate::verify::scheme::DeliveryIdSource::unsigned_header(EVENT_UUID)
        }
    }

    fn parse_key(&self, secret: &str) -> Result<Key, SecretError> {
        if secret.is_empty() {
            return Err(secret_error("empty", "the webhook's secret token"));
        }
        // A header value is read as visible ASCII and trimmed: any other token could never
        // match, so it is refused here rather than rejecting every delivery.
        let visible = secret.bytes().all(|b| (b' '..=b'~').contains(&b));
        if !visible || secret.trim() != secret {
            return Err(secret_error(
                "not usable in an HTTP header",
                "printable ASCII without leading or trailing spaces",
            ));
        }
        Ok(Key::Token(Zeroizing::new(secret.as_bytes().to_vec())))
    }

    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        keys: &Keyring,
        _ctx: &VerifyContext,
    ) -> Result<Verified, VerifyError> {
        let presented = single_header(request.headers, &TOKEN)?;
        if keys.is_empty() {
            return Err(VerifyError::NoSecret);
        }
        let mut usable = false;
        let mut matched = None;
        for (index, entry) in keys.entries().iter().enumerate() {
            if !matches!(entry.key, Key::Token(_)) {
                continue;
            }
            usable = true;
            if entry.key.token_matches(presented.as_bytes()) {
                matched = Some((index, &entry.id));
                break;
            }
        }
        let Some((secret_index, secret_id)) = matched else {
            return Err(if usable {
                VerifyError::SignatureMismatch
            } else {
                VerifyError::SecretFormat {
                    expected: "a secret token",
                }
            });
        };
        let header_value =
            |name: &HeaderName| optional_header(request.headers, name).ok().flatten();
        let delivery_id = header_value(&IDEMPOTENCY_KEY).or_else(|| header_value(&EVENT_UUID));
        Ok(Verified {
            scheme: "gitlab",
            secret_index,
            secret_id: secret_id.clone(),
            delivery_id: delivery_id.map(str::to_owned),
            timestamp: None,
        })
    }

    fn sign(
        &self,
        request: &WebhookRequest<'_>,
        key: &Key,
        options: &SignOptions,
    ) -> Result<SignOutput, SignError> {
        let cannot_sign = SignError::KeyCannotSign {
            expected: "the webhook's secret token",
        };
        let Key::Token(token) = key else {
            return Err(cannot_sign);
        };
        let token = std::str::from_utf8(token).map_err(|_| cannot_sign.clone())?;
        let id = options
            .id
            .clone()
            .unwrap_or_else(|| default_delivery_id(request.body, options.timestamp));
        // GitLab 17.4+ sends both ids; they differ there, one value is enough here.
        Ok(SignOutput::headers(vec![
            (TOKEN, token.to_owned()),
            (EVENT_UUID, id.clone()),
            (IDEMPOTENCY_KEY, id),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::verify::secret::KeyEntry;
    use crate::verify::testing::{assert_rejects, headers, sign_with, verify_with};

    // GitLab publishes no token example: the token is compared as-is, so any value serves.
    // The ids are the examples of the GitLab docs' "Delivery headers" table.
    const TOKEN_VALUE: &str = "glwht-9f2c1e7a54b3";
    const EVENT: &str = "13792a34-cac6-4fda-95a8-c58e00a3954e";
    const IDEMPOTENCY: &str = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f";
    const BODY: &[u8] = br#"{"object_kind":"push"}"#;

    #[test]
    fn matching_token_verifies_with_the_event_uuid() {
        let h = headers(&[
            ("X-Gitlab-Token", TOKEN_VALUE),
            ("X-Gitlab-Event-UUID", EVENT),
        ]);
        let v = verify_with(&Gitlab, &[TOKEN_VALUE], &h, BODY, None, 0).unwrap();
        assert_eq!(v.scheme, "gitlab");
        assert_eq!(v.secret_index, 0);
        assert_eq!(v.delivery_id.as_deref(), Some(EVENT));
        assert_eq!(v.timestamp, None);
    }

    #[test]
    fn idempotency_key_is_preferred_as_the_delivery_id() {
        let h = headers(&[
            ("X-Gitlab-Token", TOKEN_VALUE),
            ("X-Gitlab-Event-UUID", EVENT),
            ("Idempotency-Key", IDEMPOTENCY),
        ]);
        let v = verify_with(&Gitlab, &[TOKEN_VALUE], &h, BODY, None, 0).unwrap();
        assert_eq!(v.delivery_id.as_deref(), Some(IDEMPOTENCY));
        let h = headers(&[("X-Gitlab-Token", TOKEN_VALUE)]);
        let v = verify_with(&Gitlab, &[TOKEN_VALUE], &h, BODY, None, 0).unwrap();
        assert_eq!(v.delivery_id, None);
    }

    #[test]
    fn second_token_matches_during_rotation() {
        let h = headers(&[("X-Gitlab-Token", TOKEN_VALUE)]);
        let v = verify_with(&Gitlab, &["glwht-new", TOKEN_VALUE], &h, BODY, None, 0).unwrap();
        assert_eq!(v.secret_index, 1);
    }

    #[test]
    fn gitlab_rejections() {
        let s = Gitlab;
        let missing = |e: &VerifyError| matches!(e, VerifyError::MissingHeader(_));
        let mismatch = |e: &VerifyError| *e == VerifyError::SignatureMismatch;
        assert_rejects(&s, TOKEN_VALUE, &[], BODY, missing);
        assert_rejects(&s, TOKEN_VALUE, &[("X-Gitlab-Token", "")], BODY, missing);
        assert_rejects(
            &s,
            TOKEN_VALUE,
            &[
                ("X-Gitlab-Token", TOKEN_VALUE),
                ("X-Gitlab-Token", TOKEN_VALUE),
            ],
            BODY,
            |e| matches!(e, VerifyError::DuplicateHeader(_)),
        );
        // Not visible ASCII: the header cannot be read as a token.
        let mut h = http::HeaderMap::new();
        h.insert(TOKEN, http::HeaderValue::from_bytes(b"glwht-\xff").unwrap());
        let err = verify_with(&s, &[TOKEN_VALUE], &h, BODY, None, 0).unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { .. }),
            "{err:?}"
        );
        // Wrong token, a prefix of it, and it with a suffix.
        for wrong in [
            "glwht-9f2c1e7a54b4",
            "glwht-9f2c1e7a54b",
            "glwht-9f2c1e7a54b3x",
        ] {
            assert_rejects(
                &s,
                TOKEN_VALUE,
                &[("X-Gitlab-Token", wrong)],
                BODY,
                mismatch,
            );
        }
        assert_rejects(
            &s,
            "another-token",
            &[("X-Gitlab-Token", TOKEN_VALUE)],
            BODY,
            mismatch,
        );
    }

    #[test]
    fn the_body_is_not_signed() {
        // Documented limitation: GitLab sends a bearer token, not a MAC of the body.
        let h = headers(&[("X-Gitlab-Token", TOKEN_VALUE)]);
        assert!(verify_with(&Gitlab, &[TOKEN_VALUE], &h, b"anything", None, 0).is_ok());
    }

    #[test]
    fn secrets_that_cannot_travel_in_a_header_are_refused() {
        assert!(Gitlab.parse_key("").is_err());
        assert!(Gitlab.parse_key(" padded ").is_err());
        assert!(Gitlab.parse_key("tab\tinside").is_err());
        assert!(Gitlab.parse_key("naïve").is_err());
        assert!(Gitlab.parse_key("with inner space").is_ok());
    }

    #[test]
    fn keys_of_another_kind_are_a_secret_format_error() {
        let keys = Keyring::from_keys(vec![KeyEntry {
            id: "mac".into(),
            key: Key::mac(
                crate::verify::mac::MacAlgorithm::Sha256,
                TOKEN_VALUE.as_bytes(),
            ),
        }]);
        let h = headers(&[("X-Gitlab-Token", TOKEN_VALUE)]);
        let request = WebhookRequest {
            method: &Method::POST,
            url: None,
            headers: &h,
            body: BODY,
        };
        let ctx = VerifyContext::new(&Gitlab, 0);
        let err = Gitlab.verify(&request, &keys, &ctx).unwrap_err();
        assert!(matches!(err, VerifyError::SecretFormat { .. }), "{err:?}");
        let err = Gitlab
            .verify(&request, &Keyring::from_keys(Vec::new()), &ctx)
            .unwrap_err();
        assert_eq!(err, VerifyError::NoSecret);
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let (h, body) = sign_with(&Gitlab, TOKEN_VALUE, BODY, None, 0, Some(EVENT));
        assert_eq!(h["x-gitlab-token"], TOKEN_VALUE);
        assert_eq!(h["x-gitlab-event-uuid"], EVENT);
        let v = verify_with(&Gitlab, &[TOKEN_VALUE], &h, &body, None, 0).unwrap();
        assert_eq!(v.delivery_id.as_deref(), Some(EVENT));
        assert!(verify_with(&Gitlab, &["other-token"], &h, &body, None, 0).is_err());
        // Without an id, a deterministic UUID-shaped one is sent.
        let (h, _) = sign_with(&Gitlab, TOKEN_VALUE, BODY, None, 7, None);
        assert_eq!(h["x-gitlab-event-uuid"].len(), 36);
    }
}
