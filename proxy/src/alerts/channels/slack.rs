//! Slack incoming webhooks: `POST {"text": …}` to the webhook URL (a secret).
//! <https://api.slack.com/messaging/webhooks>

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};

use super::{http_client, post, Notify};
use crate::alerts::rules::{Notification, Status};
use crate::rfc3339::unix_ms;

pub(super) struct Slack {
    url: SecretString,
    client: reqwest::Client,
}

impl Slack {
    pub(super) fn new(url: SecretString) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url.expose_secret())
            .map_err(|_| "slack.webhook_url: the secret is not a URL".to_owned())?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err("slack.webhook_url: the secret is not an http(s) URL".into());
        }
        Ok(Self {
            url,
            client: http_client()?,
        })
    }
}

/// The message's text (Slack's mrkdwn).
pub(super) fn text(n: &Notification) -> String {
    let (icon, status) = match n.status {
        Status::Firing => (":rotating_light:", "FIRING"),
        Status::Resolved => (":white_check_mark:", "RESOLVED"),
    };
    format!(
        "{icon} *{status}* hookguard `{}` ({})\n{}\nsince {}",
        n.rule,
        n.severity.as_str(),
        n.summary,
        unix_ms(n.started_at_ms)
    )
}

#[async_trait]
impl Notify for Slack {
    async fn notify(&self, n: &Notification) -> Result<(), String> {
        let body = serde_json::json!({ "text": text(n) });
        post(
            &self.client,
            self.url.expose_secret(),
            Vec::new(),
            body.to_string().into_bytes(),
            "Slack",
        )
        .await
    }
}
