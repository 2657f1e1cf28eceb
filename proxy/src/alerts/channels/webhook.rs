//! A JSON POST to any URL, signed at each send with the scheme the channel names — the
//! same `Scheme::sign` as outbound webhooks and `hookguard sign` (Standard Webhooks by
//! default: `webhook-id`, `webhook-timestamp`, `webhook-signature`).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use hookguard_config::WebhookChannel;
use hookguard_layers::verify::{Key, Scheme, SignOptions, WebhookRequest};
use secrecy::ExposeSecret as _;
use sha2::Digest as _;

use super::{http_client, post, Notify};
use crate::alerts::rules::Notification;

pub(super) struct Webhook {
    url: String,
    scheme: Arc<dyn Scheme>,
    key: Key,
    headers: Vec<(String, String)>,
    client: reqwest::Client,
}

impl Webhook {
    pub(super) async fn new(spec: &WebhookChannel, base_dir: &Path) -> Result<Self, String> {
        let scheme = spec
            .build_scheme()
            .map_err(|e| format!("webhook.scheme: {e}"))?;
        let secrets =
            crate::outbound::fetch_secrets(&spec.secrets, base_dir, "webhook.secrets").await?;
        let first = secrets
            .first()
            .ok_or("webhook.secrets: no signing secret")?;
        let key = scheme
            .parse_signing_key(first.expose_secret())
            .map_err(|e| format!("webhook.secrets[0]: {}: expected {}", e.problem, e.expected))?;
        Ok(Self {
            url: spec.url.clone(),
            scheme,
            key,
            headers: spec
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            client: http_client()?,
        })
    }
}

#[async_trait]
impl Notify for Webhook {
    async fn notify(&self, n: &Notification) -> Result<(), String> {
        let body = n.to_json().to_string().into_bytes();
        // One id per notification: a receiver drops a retried one as a duplicate.
        let digest = sha2::Sha256::digest(format!(
            "{}|{}|{}",
            n.alert_key(),
            n.status.as_str(),
            n.at_ms
        ));
        let id = format!("alert_{}", hex::encode(&digest[..12]));
        let headers = http::HeaderMap::new();
        let request = WebhookRequest {
            method: &http::Method::POST,
            url: Some(&self.url),
            headers: &headers,
            body: &body,
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signed = self
            .scheme
            .sign(
                &request,
                &self.key,
                &SignOptions {
                    timestamp: now,
                    id: Some(id),
                },
            )
            .map_err(|e| format!("signing failed: {e}"))?;
        let mut all = self.headers.clone();
        for (name, value) in signed.headers {
            all.push((name.as_str().to_owned(), value));
        }
        post(&self.client, &self.url, all, body, "the webhook endpoint").await
    }
}
