//! The log channel: one line on stderr (target `hookguard::alerts`) per notification.

use async_trait::async_trait;

use super::Notify;
use crate::alerts::rules::{Notification, Status};

pub(super) struct Log;

#[async_trait]
impl Notify for Log {
    async fn notify(&self, n: &Notification) -> Result<(), String> {
        let labels = serde_json::to_string(&n.labels).unwrap_or_default();
        match n.status {
            Status::Firing => tracing::warn!(
                target: "hookguard::alerts",
                rule = %n.rule, kind = n.kind.as_str(), severity = n.severity.as_str(),
                status = "firing", labels = %labels, value = n.value, threshold = n.threshold,
                repeat = n.repeat, "{}", n.summary
            ),
            Status::Resolved => tracing::info!(
                target: "hookguard::alerts",
                rule = %n.rule, kind = n.kind.as_str(), severity = n.severity.as_str(),
                status = "resolved", labels = %labels, value = n.value, threshold = n.threshold,
                "{}", n.summary
            ),
        }
        Ok(())
    }
}
