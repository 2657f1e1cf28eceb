//! PagerDuty Events API v2: `trigger` when an alert fires (again: the same `dedup_key`
//! keeps one incident), `resolve` when it ends.
//! <https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};

use super::{http_client, post, Notify};
use crate::alerts::rules::{Notification, Status};
use crate::rfc3339::unix_ms;

/// PagerDuty's limit on `payload.summary`.
const SUMMARY_MAX: usize = 1024;

pub(super) struct PagerDuty {
    routing_key: SecretString,
    url: String,
    client: reqwest::Client,
}

impl PagerDuty {
    pub(super) fn new(routing_key: SecretString, url: &str) -> Result<Self, String> {
        Ok(Self {
            routing_key,
            url: url.to_owned(),
            client: http_client()?,
        })
    }
}

/// The event PagerDuty receives.
pub(super) fn event(n: &Notification, routing_key: &str) -> serde_json::Value {
    match n.status {
        Status::Firing => serde_json::json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": n.alert_key(),
            "payload": {
                "summary": n.title().chars().take(SUMMARY_MAX).collect::<String>(),
                "source": "hookguard",
                "severity": n.severity.as_str(),
                "timestamp": unix_ms(n.started_at_ms),
                "component": n.labels.get("route"),
                "group": "hookguard",
                "class": n.kind.as_str(),
                "custom_details": n.to_json(),
            },
        }),
        Status::Resolved => serde_json::json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": n.alert_key(),
        }),
    }
}

#[async_trait]
impl Notify for PagerDuty {
    async fn notify(&self, n: &Notification) -> Result<(), String> {
        let body = event(n, self.routing_key.expose_secret());
        post(
            &self.client,
            &self.url,
            Vec::new(),
            body.to_string().into_bytes(),
            "PagerDuty",
        )
        .await
    }
}
