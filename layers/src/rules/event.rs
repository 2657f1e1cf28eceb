//! The event filter: which event types a route takes.

use std::sync::Arc;

use http::{HeaderMap, HeaderName};
use serde_json::Value;
use serde_json_path::JsonPath;

use super::cost::{PathCost, Shape};
use super::RuleError;

/// Where a delivery's event type is read.
///
/// With a header and a path, the event type is `<header>.<path>` when the path matches a
/// string, else the header alone: GitHub's `X-GitHub-Event: pull_request` with a body
/// `{"action": "opened"}` is `pull_request.opened` (and `push`, which has no action, is
/// `push`).
#[derive(Debug, Clone)]
pub struct EventSource {
    header: Option<HeaderName>,
    path: Option<Arc<JsonPath>>,
    cost: PathCost,
}

impl EventSource {
    /// The event type is this header's value.
    pub fn header(name: &str) -> Result<Self, RuleError> {
        Ok(Self {
            header: Some(parse_header_name(name)?),
            path: None,
            cost: PathCost::default(),
        })
    }

    /// The event type is the string this JSONPath (RFC 9535) selects in the body.
    pub fn path(path: &str) -> Result<Self, RuleError> {
        Ok(Self {
            header: None,
            path: Some(Arc::new(parse_path(path)?)),
            cost: PathCost::of(path),
        })
    }

    /// The header's value, followed by `.` and the string at `path` when there is one.
    pub fn header_then_path(name: &str, path: &str) -> Result<Self, RuleError> {
        Ok(Self {
            header: Some(parse_header_name(name)?),
            path: Some(Arc::new(parse_path(path)?)),
            cost: PathCost::of(path),
        })
    }

    /// The source for a provider whose event type is known, by scheme name (`github`,
    /// `github-sha1`, `stripe`, `standard-webhooks`, `gitlab`, `shopify`, `bitbucket`,
    /// `twitch`, `intercom`, `zoom`, `square`, `paddle`, `linear`); see [`PRESETS`].
    pub fn preset(provider: &str) -> Option<Self> {
        let (_, header, path) = PRESETS.iter().find(|(name, _, _)| *name == provider)?;
        let source = match (header, path) {
            (Some(h), Some(p)) => Self::header_then_path(h, p),
            (Some(h), None) => Self::header(h),
            (None, Some(p)) => Self::path(p),
            (None, None) => return None,
        };
        source.ok()
    }

    /// Whether reading the event type needs the parsed body.
    pub fn needs_body(&self) -> bool {
        self.path.is_some()
    }

    /// The delivery's event type; `None` when the request does not carry one. A path with
    /// `..` whose worst case on this body exceeds the body's work budget (see
    /// [`PathCost`]) is not evaluated: the body has no event type, as a body that is not
    /// JSON.
    pub fn event_type(&self, headers: &HeaderMap, body: Option<&Value>) -> Option<String> {
        let from_path = || {
            let path = self.path.as_ref()?;
            let body = body?;
            if self.cost.has_descendants() {
                let shape = Shape::of(body);
                if self.cost.worst_case(shape) > shape.budget() {
                    return None;
                }
            }
            match path.query(body).at_most_one() {
                Ok(Some(Value::String(s))) => Some(s.clone()),
                _ => None,
            }
        };
        match &self.header {
            Some(name) => {
                let header = headers.get(name)?.to_str().ok()?.trim();
                match from_path() {
                    Some(suffix) => Some(format!("{header}.{suffix}")),
                    None => Some(header.to_owned()),
                }
            }
            None => from_path(),
        }
    }
}

/// The providers whose event type is known: (scheme name, header, JSONPath). Each is from
/// the provider's documentation:
/// GitHub `X-GitHub-Event` (+ the payload's `action`); Stripe, Standard Webhooks and Square
/// the body's `type`; GitLab `X-Gitlab-Event` (`Push Hook`); Shopify `X-Shopify-Topic`
/// (`orders/create`); Bitbucket `X-Event-Key` (`repo:push`); Twitch
/// `Twitch-Eventsub-Subscription-Type` (`channel.follow`); Intercom the body's `topic`;
/// Zoom the body's `event`; Paddle the body's `event_type`; Linear `Linear-Event`.
pub const PRESETS: &[(&str, Option<&str>, Option<&str>)] = &[
    ("github", Some("X-GitHub-Event"), Some("$.action")),
    ("github-sha1", Some("X-GitHub-Event"), Some("$.action")),
    ("stripe", None, Some("$.type")),
    ("standard-webhooks", None, Some("$.type")),
    ("gitlab", Some("X-Gitlab-Event"), None),
    ("shopify", Some("X-Shopify-Topic"), None),
    ("bitbucket", Some("X-Event-Key"), None),
    ("twitch", Some("Twitch-Eventsub-Subscription-Type"), None),
    ("intercom", None, Some("$.topic")),
    ("zoom", None, Some("$.event")),
    ("square", None, Some("$.type")),
    ("paddle", None, Some("$.event_type")),
    ("linear", Some("Linear-Event"), None),
];

/// One configured pattern: `push` (exactly), `pull_request.*` (`pull_request.` followed
/// by anything) or `*` (everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPattern(Arc<str>);

impl EventPattern {
    /// Parses a pattern. A `*` may only stand alone or end the pattern after a `.`.
    pub fn new(pattern: &str) -> Result<Self, RuleError> {
        let stars = pattern.matches('*').count();
        let valid = !pattern.is_empty()
            && (stars == 0 || pattern == "*" || (stars == 1 && pattern.ends_with(".*")));
        if !valid {
            return Err(RuleError::new(
                format!("{pattern:?} is not an event pattern"),
                "an event type (\"push\"), a prefix and a wildcard (\"pull_request.*\"), or \"*\"",
            ));
        }
        Ok(Self(Arc::from(pattern)))
    }

    /// The pattern as configured (a metric label value).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some("") => true,
            Some(prefix) => event.len() > prefix.len() && event.starts_with(prefix),
            None => *self.0 == *event,
        }
    }
}

/// The decision: forward, or acknowledge without forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDecision {
    /// Forward. `pattern` is the allow pattern that matched, if any.
    Forward,
    /// Filtered; `label` is the configured pattern that decided (an `ignore` pattern that
    /// matched) or `other` (no `events` pattern matched): a bounded metric label.
    Filter {
        /// The configured pattern, or `other`.
        label: Arc<str>,
    },
}

/// The label of deliveries filtered because no `events` pattern matched them.
pub const OTHER: &str = "other";

/// Allow (`events`) and deny (`ignore`) lists of event patterns. `ignore` wins; no
/// `events` list means every event not ignored is forwarded.
#[derive(Debug, Clone)]
pub struct EventFilter {
    source: EventSource,
    events: Vec<EventPattern>,
    ignore: Vec<EventPattern>,
    other: Arc<str>,
}

impl EventFilter {
    /// A filter reading the event type from `source`.
    pub fn new(source: EventSource) -> Self {
        Self {
            source,
            events: Vec::new(),
            ignore: Vec::new(),
            other: Arc::from(OTHER),
        }
    }

    /// The event types forwarded (all others are filtered).
    pub fn events<'a>(
        mut self,
        patterns: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, RuleError> {
        self.events = patterns
            .into_iter()
            .map(EventPattern::new)
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// The event types filtered even when `events` takes them.
    pub fn ignore<'a>(
        mut self,
        patterns: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, RuleError> {
        self.ignore = patterns
            .into_iter()
            .map(EventPattern::new)
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Where the event type comes from.
    pub fn source(&self) -> &EventSource {
        &self.source
    }

    /// Every label [`EventDecision::Filter`] can carry: the `ignore` patterns, and `other`
    /// when there is an `events` list (for pre-registering metric labels).
    pub fn labels(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = self.ignore.iter().map(EventPattern::as_str).collect();
        if !self.events.is_empty() {
            labels.push(OTHER);
        }
        labels
    }

    /// Decides for the delivery's event type (`None`: the request carries none, which no
    /// `events` pattern takes).
    pub fn decide(&self, event: Option<&str>) -> EventDecision {
        let event = event.unwrap_or("");
        if let Some(pattern) = self.ignore.iter().find(|p| p.matches(event)) {
            return EventDecision::Filter {
                label: Arc::clone(&pattern.0),
            };
        }
        if self.events.is_empty() || self.events.iter().any(|p| p.matches(event)) {
            EventDecision::Forward
        } else {
            EventDecision::Filter {
                label: Arc::clone(&self.other),
            }
        }
    }
}

fn parse_header_name(name: &str) -> Result<HeaderName, RuleError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        RuleError::new(
            format!("{name:?} is not a header name"),
            "a header name such as \"X-GitHub-Event\"",
        )
    })
}

pub(super) fn parse_path(path: &str) -> Result<JsonPath, RuleError> {
    JsonPath::parse(path).map_err(|e| {
        RuleError::new(
            format!(
                "{path:?} is not a JSONPath: {} at character {}",
                e.message(),
                e.position()
            ),
            "an RFC 9535 JSONPath such as \"$.pull_request.id\"",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(events: &[&str], ignore: &[&str]) -> EventFilter {
        EventFilter::new(EventSource::header("X-Event").unwrap())
            .events(events.iter().copied())
            .unwrap()
            .ignore(ignore.iter().copied())
            .unwrap()
    }

    fn filtered(label: &str) -> EventDecision {
        EventDecision::Filter {
            label: Arc::from(label),
        }
    }

    #[test]
    fn allow_list_takes_exact_and_prefix_patterns_and_labels_the_rest_other() {
        let f = filter(&["push", "pull_request.*"], &[]);
        assert_eq!(f.decide(Some("push")), EventDecision::Forward);
        assert_eq!(
            f.decide(Some("pull_request.opened")),
            EventDecision::Forward
        );
        assert_eq!(f.decide(Some("pull_request")), filtered("other"));
        assert_eq!(f.decide(Some("pushx")), filtered("other"));
        assert_eq!(f.decide(None), filtered("other"));
    }

    #[test]
    fn ignore_wins_and_is_labelled_with_the_configured_pattern() {
        let f = filter(&["pull_request.*"], &["pull_request.labeled"]);
        assert_eq!(
            f.decide(Some("pull_request.labeled")),
            filtered("pull_request.labeled")
        );
        let only_ignore = filter(&[], &["ping", "check_run"]);
        assert_eq!(only_ignore.decide(Some("ping")), filtered("ping"));
        assert_eq!(only_ignore.decide(Some("issues")), EventDecision::Forward);
        assert_eq!(only_ignore.decide(None), EventDecision::Forward);
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", "pull_*", "*.opened", "a.*.*", "**"] {
            assert!(EventPattern::new(bad).is_err(), "{bad:?}");
        }
        assert!(EventPattern::new("*").unwrap().matches("anything"));
    }

    #[test]
    fn github_preset_joins_the_header_and_the_action() {
        let source = EventSource::preset("github").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-github-event", "pull_request".parse().unwrap());
        let body = serde_json::json!({ "action": "opened" });
        assert_eq!(
            source.event_type(&headers, Some(&body)).as_deref(),
            Some("pull_request.opened")
        );
        headers.insert("x-github-event", "push".parse().unwrap());
        let push = serde_json::json!({ "ref": "refs/heads/main" });
        assert_eq!(
            source.event_type(&headers, Some(&push)).as_deref(),
            Some("push")
        );
        assert_eq!(source.event_type(&HeaderMap::new(), Some(&push)), None);
    }

    #[test]
    fn body_presets_read_a_string_only() {
        let stripe = EventSource::preset("stripe").unwrap();
        let body = serde_json::json!({ "type": "invoice.paid" });
        assert_eq!(
            stripe.event_type(&HeaderMap::new(), Some(&body)).as_deref(),
            Some("invoice.paid")
        );
        let number = serde_json::json!({ "type": 7 });
        assert_eq!(stripe.event_type(&HeaderMap::new(), Some(&number)), None);
        assert_eq!(stripe.event_type(&HeaderMap::new(), None), None);
    }

    #[test]
    fn every_preset_builds() {
        for (name, _, _) in PRESETS {
            assert!(EventSource::preset(name).is_some(), "{name}");
        }
        assert!(EventSource::preset("hmac").is_none());
    }
}
