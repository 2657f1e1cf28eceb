//! Where notifications go: one file per kind. A channel is built from its config (secrets
//! fetched from their sources), then only sends; it never logs a secret, and its errors
//! name no URL (a Slack webhook URL is a credential: reqwest errors are stripped of it).

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use hookguard_config::AlertChannel;
use secrecy::SecretString;

use super::rules::Notification;

mod email;
mod log;
pub(crate) mod mqtt;
mod pagerduty;
mod slack;
mod webhook;

/// How long one send may take.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends notifications of one kind.
#[async_trait]
pub(crate) trait Notify: Send + Sync {
    async fn notify(&self, notification: &Notification) -> Result<(), String>;
}

/// A channel, ready to send.
pub(crate) struct Channel {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    notify: Box<dyn Notify>,
    /// The MQTT channel's stream of request outcomes, when configured.
    pub(crate) outcomes: Option<mqtt::OutcomeSink>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Builds the channel `spec` describes (relative paths against `base_dir`). Must run in
    /// a tokio runtime (the MQTT channel starts its connection task).
    pub(crate) async fn build(spec: &AlertChannel, base_dir: &Path) -> Result<Self, String> {
        let mut outcomes = None;
        let (kind, notify): (&'static str, Box<dyn Notify>) = if let Some(c) = &spec.slack {
            (
                "slack",
                Box::new(slack::Slack::new(
                    secret(&c.webhook_url, base_dir, "slack.webhook_url").await?,
                )?),
            )
        } else if let Some(c) = &spec.webhook {
            (
                "webhook",
                Box::new(webhook::Webhook::new(c, base_dir).await?),
            )
        } else if let Some(c) = &spec.email {
            ("email", Box::new(email::Email::new(c, base_dir).await?))
        } else if let Some(c) = &spec.pagerduty {
            let key = secret(&c.routing_key, base_dir, "pagerduty.routing_key").await?;
            (
                "pagerduty",
                Box::new(pagerduty::PagerDuty::new(key, &c.url)?),
            )
        } else if let Some(c) = &spec.mqtt {
            let password = match &c.password {
                Some(p) => Some(secret(p, base_dir, "mqtt.password").await?),
                None => None,
            };
            let mqtt = mqtt::Mqtt::connect(c, password)?;
            outcomes = mqtt.outcome_sink(c);
            ("mqtt", Box::new(mqtt))
        } else if spec.log.is_some() {
            ("log", Box::new(log::Log))
        } else {
            return Err(format!("channel {}: no kind", spec.id));
        };
        Ok(Self {
            id: spec.id.clone(),
            kind,
            notify,
            outcomes,
        })
    }

    /// Sends one notification, within [`SEND_TIMEOUT`].
    pub(crate) async fn send(&self, notification: &Notification) -> Result<(), String> {
        match tokio::time::timeout(SEND_TIMEOUT, self.notify.notify(notification)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {}s", SEND_TIMEOUT.as_secs())),
        }
    }
}

/// The value of one secret source.
async fn secret(
    spec: &hookguard_config::SecretSpec,
    base_dir: &Path,
    what: &str,
) -> Result<SecretString, String> {
    crate::outbound::fetch_secrets(std::slice::from_ref(spec), base_dir, what)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{what}: no value"))
}

/// The HTTP client of the HTTP channels: no redirects (a redirect could carry the body
/// elsewhere), a bounded time.
fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(SEND_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// POSTs `body` and wants a 2xx; the error names the status, never the URL.
async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    service: &str,
) -> Result<(), String> {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{service}: {}", e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let text: String = text.chars().take(200).collect();
    Err(format!("{service} answered {status}: {text}"))
}
