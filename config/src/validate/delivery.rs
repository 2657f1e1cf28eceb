//! Checks of queue mode, the queue's settings and the admin API's tokens.

use base64::Engine as _;

use super::{check_identifier, Validator};
use crate::path::FieldPath;
use crate::schema::{Admin, Config, DeliveryMode, OrderingKey, Route, SecretSpec};

/// Attempt timeouts a queued route may set, in seconds.
const TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 5..=300;
/// Retries a queued route may set.
const RETRIES: std::ops::RangeInclusive<u32> = 1..=10;

impl Validator<'_> {
    pub(super) fn queue_settings(&mut self, config: &Config) {
        let q = FieldPath::root().key("queue");
        let settings = &config.queue;
        if settings.retry_schedule.is_empty() {
            self.issues.add(
                q.key("retry_schedule"),
                "the retry schedule is empty",
                "at least one delay, e.g. [\"5s\", \"30s\", \"2m\"]",
            );
        }
        for (i, delay) in settings.retry_schedule.iter().enumerate() {
            self.positive(q.key("retry_schedule").index(i), *delay);
        }
        if settings.max_messages == 0 {
            self.issues.add(
                q.key("max_messages"),
                "a bound of 0 messages refuses every queued request",
                "a number above 0, e.g. 100000",
            );
        }
        if settings.max_bytes.bytes() == 0 {
            self.issues.add(
                q.key("max_bytes"),
                "a bound of 0 bytes refuses every queued request",
                "a size such as \"256MiB\"",
            );
        }
        let breaker = q.key("breaker");
        if !(settings.breaker.failure_rate > 0.0 && settings.breaker.failure_rate <= 1.0) {
            self.issues.add(
                breaker.key("failure_rate"),
                format!(
                    "{} is not a share of attempts",
                    settings.breaker.failure_rate
                ),
                "a number above 0 and at most 1, e.g. 0.5",
            );
        }
        if settings.breaker.consecutive_failures == 0 {
            self.issues.add(
                breaker.key("consecutive_failures"),
                "0 failures would keep the breaker open",
                "a number above 0, e.g. 5",
            );
        }
        self.positive(breaker.key("window"), settings.breaker.window);
        self.positive(breaker.key("cooldown"), settings.breaker.cooldown);
        self.named_secrets(
            &q.key("encryption_keys"),
            &settings.encryption_keys,
            "key id",
        );
        for (i, key) in settings.encryption_keys.iter().enumerate() {
            let Ok(Some(value)) = key.resolve_local(self.env, &self.base_dir) else {
                continue; // remote, or already reported
            };
            let decoded = base64::engine::general_purpose::STANDARD.decode(value.expose().trim());
            if !matches!(&decoded, Ok(bytes) if bytes.len() == 32) {
                // The value is never echoed.
                self.issues.add(
                    q.key("encryption_keys").index(i),
                    match decoded {
                        Ok(bytes) => format!("the key decodes to {} bytes", bytes.len()),
                        Err(_) => "the key is not base64".to_owned(),
                    },
                    "32 random bytes in base64, e.g. from `openssl rand -base64 32`",
                );
            }
        }
        let tokens = FieldPath::root().key("admin").key("tokens");
        self.named_secrets(&tokens, &config.admin.tokens, "token id");
        let events = FieldPath::root().key("admin").key("events");
        if !(1..=10_000_000).contains(&config.admin.events.max_events) {
            self.issues.add(
                events.key("max_events"),
                format!("{} events", config.admin.events.max_events),
                "from 1 to 10000000",
            );
        }
        self.positive(events.key("max_age"), config.admin.events.max_age);
    }

    /// `admin.events.capture` names routes of the file.
    pub(super) fn capture_routes(&mut self, routes: &[(usize, &Route)], admin: &Admin) {
        let events = FieldPath::root().key("admin").key("events");
        for (i, id) in admin.events.capture.iter().enumerate() {
            if !routes.iter().any(|(_, r)| r.id == *id) {
                let ids: Vec<&str> = routes.iter().map(|(_, r)| r.id.as_str()).collect();
                self.issues.add(
                    events.key("capture").index(i),
                    format!("no route {id:?}"),
                    format!("a route id: one of {ids:?}"),
                );
            }
        }
    }

    /// Secrets that are not a route's signing secrets: ids unique, one source each.
    pub(super) fn named_secrets(&mut self, at: &FieldPath, secrets: &[SecretSpec], what: &str) {
        for (j, secret) in secrets.iter().enumerate() {
            let sp = at.index(j);
            check_identifier(&mut self.issues, sp.key("id"), &secret.id, what);
            if let Some(first) = secrets[..j].iter().position(|s| s.id == secret.id) {
                self.issues.add(
                    sp.key("id"),
                    format!("{what} {:?} is already used by [{first}]", secret.id),
                    format!("{what}s unique in the list"),
                );
            }
            self.secret(&sp, "", secret, None);
        }
    }

    pub(super) fn route_queue(&mut self, p: &FieldPath, route: &Route) {
        let Some(queue) = &route.queue else {
            return;
        };
        let q = p.key("queue");
        if route.delivery != DeliveryMode::Queue {
            self.issues.add(
                q.clone(),
                "the `queue` table has no effect on a route that forwards",
                "delivery = \"queue\" on this route, or no `queue` table",
            );
        }
        if !RETRIES.contains(&queue.max_retries) {
            self.issues.add(
                q.key("max_retries"),
                format!("{} retries is out of range", queue.max_retries),
                "1 to 10",
            );
        }
        if !TIMEOUT_SECS.contains(&queue.timeout.get().as_secs()) {
            self.issues.add(
                q.key("timeout"),
                format!("an attempt timeout of {} is out of range", queue.timeout),
                "5s to 300s",
            );
        }
        if queue.concurrency == 0 {
            self.issues.add(
                q.key("concurrency"),
                "a concurrency of 0 would never deliver",
                "a number above 0, e.g. 8",
            );
        }
        if queue.max_messages == Some(0) || queue.max_bytes.is_some_and(|b| b.bytes() == 0) {
            self.issues.add(
                q.clone(),
                "a bound of 0 refuses every queued request",
                "max_messages and max_bytes above 0",
            );
        }
        if let Some(key) = &queue.ordering_key {
            self.ordering_key(&q.key("ordering_key"), key);
        }
    }

    fn ordering_key(&mut self, at: &FieldPath, key: &OrderingKey) {
        match (&key.header, &key.json_path) {
            (Some(header), None) => {
                if http_header_name_invalid(header) {
                    self.issues.add(
                        at.key("header"),
                        format!("{header:?} is not a header name"),
                        "a header name such as \"X-Shopify-Product-Id\"",
                    );
                }
            }
            (None, Some(path)) => {
                if let Err(e) = serde_json_path::JsonPath::parse(path) {
                    self.issues.add(
                        at.key("json_path"),
                        format!("{path:?} is not a JSONPath: {e}"),
                        "an RFC 9535 JSONPath such as \"$.data.object.id\"",
                    );
                }
            }
            _ => self.issues.add(
                at.clone(),
                "the ordering key needs exactly one source",
                "exactly one of `header` or `json_path`",
            ),
        }
    }
}

fn http_header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
