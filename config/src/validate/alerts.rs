//! Checks of `[alerts]`: rules that name channels and routes that exist, thresholds that
//! can be crossed, channels with exactly one kind and usable settings.

use super::subscription::Signing;
use super::{check_host_port, check_identifier, Validator};
use crate::path::FieldPath;
use crate::schema::{AlertChannel, AlertKind, AlertRule, Alerts, Config, Route};

const CHANNEL_KINDS: &str = "exactly one of slack, webhook, email, pagerduty, mqtt, log";

impl Validator<'_> {
    pub(super) fn alerts(&mut self, config: &Config) {
        let Some(alerts) = &config.alerts else {
            return;
        };
        let at = FieldPath::root().key("alerts");
        self.positive(at.key("evaluate_every"), alerts.evaluate_every);
        self.positive(at.key("repeat_interval"), alerts.repeat_interval);
        for (i, channel) in alerts.channels.iter().enumerate() {
            let cp = at.key("channels").index(i);
            check_identifier(&mut self.issues, cp.key("id"), &channel.id, "channel id");
            if let Some(first) = alerts.channels[..i].iter().position(|c| c.id == channel.id) {
                self.issues.add(
                    cp.key("id"),
                    format!(
                        "channel id {:?} is already used by channels[{first}]",
                        channel.id
                    ),
                    "channel ids unique in the file",
                );
            }
            self.channel(&cp, channel);
        }
        for (i, rule) in alerts.rules.iter().enumerate() {
            let rp = at.key("rules").index(i);
            check_identifier(&mut self.issues, rp.key("id"), &rule.id, "rule id");
            if let Some(first) = alerts.rules[..i].iter().position(|r| r.id == rule.id) {
                self.issues.add(
                    rp.key("id"),
                    format!("rule id {:?} is already used by rules[{first}]", rule.id),
                    "rule ids unique in the file",
                );
            }
            self.rule(&rp, rule, alerts);
        }
    }

    /// Rules' `routes` name routes or subscriptions (the routes are read apart from the rest
    /// of the file, so this runs with the checks across routes).
    pub(super) fn alert_routes(&mut self, routes: &[(usize, &Route)], top: &Config) {
        let Some(alerts) = &top.alerts else {
            return;
        };
        for (i, rule) in alerts.rules.iter().enumerate() {
            for (j, id) in rule.routes.iter().enumerate() {
                let known = routes.iter().any(|(_, r)| &r.id == id)
                    || top.subscriptions.iter().any(|s| &s.id == id);
                if !known {
                    self.issues.add(
                        FieldPath::root()
                            .key("alerts")
                            .key("rules")
                            .index(i)
                            .key("routes")
                            .index(j),
                        format!("no route or subscription has the id {id:?}"),
                        "the id of a route (or, for dead_letters, of a subscription)",
                    );
                }
            }
        }
    }

    fn rule(&mut self, rp: &FieldPath, rule: &AlertRule, alerts: &Alerts) {
        if rule.channels.is_empty() {
            self.issues.add(
                rp.key("channels"),
                "the rule notifies no channel",
                "at least one channel id, e.g. channels = [\"log\"]",
            );
        }
        for (j, id) in rule.channels.iter().enumerate() {
            if !alerts.channels.iter().any(|c| &c.id == id) {
                let known: Vec<&str> = alerts.channels.iter().map(|c| c.id.as_str()).collect();
                self.issues.add(
                    rp.key("channels").index(j),
                    format!("no channel has the id {id:?}"),
                    if known.is_empty() {
                        "a channel defined under [[alerts.channels]]".to_owned()
                    } else {
                        format!("one of {}", known.join(", "))
                    },
                );
            }
        }
        if rule.kind == AlertKind::SecretSourceDown && !rule.routes.is_empty() {
            self.issues.add(
                rp.key("routes"),
                "secret_source_down watches secret sources, not routes",
                "no `routes` for this kind",
            );
        }
        let threshold = rule.threshold();
        let uses_threshold = !matches!(
            rule.kind,
            AlertKind::SecretTooOld | AlertKind::SecretSourceDown
        );
        if rule.threshold.is_some() && !uses_threshold {
            self.issues.add(
                rp.key("threshold"),
                format!("{} has no threshold", rule.kind.as_str()),
                "no `threshold` for this kind",
            );
        }
        let (ok, expected) = match rule.kind {
            AlertKind::FailureRate => (
                threshold > 0.0 && threshold < 1.0,
                "a fraction between 0 and 1, e.g. 0.10 for 10 %",
            ),
            AlertKind::LatencyP95 => (threshold > 0.0, "seconds above 0, e.g. 5"),
            _ => (threshold >= 0.0, "a number of 0 or more"),
        };
        if uses_threshold && (!ok || !threshold.is_finite()) {
            self.issues.add(
                rp.key("threshold"),
                format!("{threshold} cannot be a {} threshold", rule.kind.as_str()),
                expected,
            );
        }
        if let Some(window) = rule.window {
            if window.get() < std::time::Duration::from_secs(1) {
                self.issues.add(
                    rp.key("window"),
                    format!("a window of {window} is too short to count anything"),
                    "1s or more, e.g. \"5m\"",
                );
            }
        }
        if let Some(repeat) = rule.repeat_interval {
            self.positive(rp.key("repeat_interval"), repeat);
        }
    }

    fn channel(&mut self, cp: &FieldPath, channel: &AlertChannel) {
        let kinds = channel.kinds();
        if kinds.len() != 1 {
            let problem = if kinds.is_empty() {
                "the channel has no kind".to_owned()
            } else {
                format!("the channel has several kinds: {}", kinds.join(", "))
            };
            let at = kinds.get(1).map_or_else(|| cp.clone(), |k| cp.key(*k));
            self.issues.add(at, problem, CHANNEL_KINDS);
            return;
        }
        if let Some(slack) = &channel.slack {
            self.secret(
                &cp.key("slack").key("webhook_url"),
                "",
                &slack.webhook_url,
                None,
            );
        }
        if let Some(webhook) = &channel.webhook {
            let wp = cp.key("webhook");
            check_url(self, wp.key("url"), &webhook.url);
            self.signing(
                &wp,
                &Signing {
                    scheme_name: &webhook.scheme,
                    hmac: webhook.hmac.is_some(),
                    scheme: webhook.build_scheme(),
                    secrets: &webhook.secrets,
                    url: &webhook.url,
                    example_env: "ALERT_WEBHOOK_SECRET",
                },
            );
            self.extra_headers(&wp.key("headers"), &webhook.headers);
        }
        if let Some(email) = &channel.email {
            let ep = cp.key("email");
            check_host_port(&mut self.issues, ep.key("server"), &email.server);
            check_mailbox(self, ep.key("from"), &email.from);
            if email.to.is_empty() {
                self.issues.add(
                    ep.key("to"),
                    "no recipient",
                    "at least one address, e.g. [\"oncall@example.com\"]",
                );
            }
            for (j, to) in email.to.iter().enumerate() {
                check_mailbox(self, ep.key("to").index(j), to);
            }
            if email.username.is_some() != email.password.is_some() {
                self.issues.add(
                    ep.key(if email.username.is_some() {
                        "password"
                    } else {
                        "username"
                    }),
                    "SMTP authentication needs both a user name and a password",
                    "both `username` and `password`, or neither",
                );
            }
            if let Some(password) = &email.password {
                self.secret(&ep.key("password"), "", password, None);
            }
            if let Some(ca) = &email.ca_file {
                let path = self.base_dir.join(ca);
                if let Err(e) = std::fs::read(&path) {
                    self.issues.add(
                        ep.key("ca_file"),
                        format!("cannot read {}: {e}", path.display()),
                        "a PEM file of CA certificates",
                    );
                }
            }
        }
        if let Some(pd) = &channel.pagerduty {
            let pp = cp.key("pagerduty");
            self.secret(&pp.key("routing_key"), "", &pd.routing_key, None);
            check_url(self, pp.key("url"), &pd.url);
        }
        if let Some(mqtt) = &channel.mqtt {
            let mp = cp.key("mqtt");
            check_host_port(&mut self.issues, mp.key("broker"), &mqtt.broker);
            check_topic(self, mp.key("topic"), &mqtt.topic);
            if let Some(topic) = &mqtt.outcomes_topic {
                check_topic(self, mp.key("outcomes_topic"), topic);
            }
            if mqtt.client_id.is_empty() || mqtt.client_id.len() > 23 {
                self.issues.add(
                    mp.key("client_id"),
                    "MQTT 3.1.1 brokers need a client id of 1 to 23 characters",
                    "a short name such as \"hookguard\"",
                );
            }
            if mqtt.password.is_some() && mqtt.username.is_none() {
                self.issues.add(
                    mp.key("username"),
                    "an MQTT password needs a user name",
                    "`username` with `password`",
                );
            }
            if let Some(password) = &mqtt.password {
                self.secret(&mp.key("password"), "", password, None);
            }
        }
    }
}

fn check_url(v: &mut Validator<'_>, at: FieldPath, url: &str) {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {}
        // Not echoed: a URL may carry a token.
        _ => v
            .issues
            .add(at, "not an http(s) URL with a host", "an https:// URL"),
    }
}

fn check_mailbox(v: &mut Validator<'_>, at: FieldPath, mailbox: &str) {
    let address = match (mailbox.rfind('<'), mailbox.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => mailbox,
    };
    let valid = address.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && (domain.contains('.') || domain == "localhost")
    }) && !address.contains(char::is_whitespace);
    if !valid {
        v.issues.add(
            at,
            format!("{mailbox:?} is not an email address"),
            "an address such as \"alerts@example.com\" or \"hookguard <alerts@example.com>\"",
        );
    }
}

fn check_topic(v: &mut Validator<'_>, at: FieldPath, topic: &str) {
    if topic.is_empty() || topic.contains(['+', '#', '\0']) {
        v.issues.add(
            at,
            format!("{topic:?} cannot be published to"),
            "a topic without wildcards (+, #), e.g. \"hookguard/alerts\"",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::{Config, Format};

    const ROUTE: &str = r#"
upstream.address = "127.0.0.1:3000"
[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{ id = "primary", value = "s3cret" }]
"#;

    fn load(alerts: &str) -> Result<Config, String> {
        let env = HashMap::from([(
            "SLACK_URL".to_owned(),
            "https://hooks.slack.test/x".to_owned(),
        )]);
        Config::from_text(
            &format!("{ROUTE}\n{alerts}"),
            Format::Toml,
            "hookguard.toml".as_ref(),
            &env,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_complete_alerts_section_loads_with_its_defaults() {
        let config = load(
            r#"
[alerts]
[[alerts.rules]]
id = "failing"
kind = "failure_rate"
channels = ["slack", "log"]
[[alerts.channels]]
id = "slack"
slack = { webhook_url = { id = "url", env = "SLACK_URL" } }
[[alerts.channels]]
id = "log"
log = {}
"#,
        )
        .unwrap();
        let alerts = config.alerts.unwrap();
        assert_eq!(alerts.evaluate_every.get().as_secs(), 15);
        assert_eq!(alerts.repeat_interval.get().as_secs(), 3600);
        let rule = &alerts.rules[0];
        assert_eq!(rule.threshold(), 0.10);
        assert_eq!(rule.window().get().as_secs(), 300);
        assert_eq!(rule.severity().as_str(), "critical");
    }

    #[test]
    fn every_alerts_problem_is_reported_at_its_place() {
        let err = load(
            r#"
[alerts]
[[alerts.rules]]
id = "failing"
kind = "failure_rate"
threshold = 1.5
routes = ["gitlab"]
channels = ["pager"]
[[alerts.rules]]
id = "down"
kind = "secret_source_down"
threshold = 3
routes = ["github"]
channels = []
[[alerts.channels]]
id = "twice"
log = {}
slack = { webhook_url = { id = "url", env = "SLACK_URL" } }
[[alerts.channels]]
id = "mail"
email = { server = "smtp.example.com", from = "not an address", to = [], username = "u" }
[[alerts.channels]]
id = "mq"
mqtt = { broker = "127.0.0.1:1883", topic = "alerts/#" }
[[alerts.channels]]
id = "pd"
pagerduty = { routing_key = { id = "k", env = "PD_KEY" }, url = "ftp://pd" }
"#,
        )
        .unwrap_err();
        for expected in [
            "alerts.rules[0].threshold: 1.5 cannot be a failure_rate threshold; expected a fraction between 0 and 1",
            "alerts.rules[0].routes[0]: no route or subscription has the id \"gitlab\"",
            "alerts.rules[0].channels[0]: no channel has the id \"pager\"; expected one of twice, mail, mq, pd",
            "alerts.rules[1].routes: secret_source_down watches secret sources, not routes",
            "alerts.rules[1].threshold: secret_source_down has no threshold",
            "alerts.rules[1].channels: the rule notifies no channel",
            "alerts.channels[0].log: the channel has several kinds: slack, log",
            "alerts.channels[1].email.server:",
            "alerts.channels[1].email.from: \"not an address\" is not an email address",
            "alerts.channels[1].email.to: no recipient",
            "alerts.channels[1].email.password: SMTP authentication needs both a user name and a password",
            "alerts.channels[2].mqtt.topic: \"alerts/#\" cannot be published to",
            "alerts.channels[3].pagerduty.routing_key.env: environment variable PD_KEY is not set",
            "alerts.channels[3].pagerduty.url: not an http(s) URL with a host",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
        }
    }
}
