//! A route's payload rules: event filter, JSON Schema, mapping, headers.

use std::collections::BTreeMap;
use std::path::Path;

use hookguard_layers::rules::{
    EventFilter, EventPattern, EventSource, HeaderRules, OnMissing, PayloadPolicy, PayloadSchema,
    RuleError, Template, TemplateKey,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::path::FieldPath;

/// What the app receives of a verified delivery. Rules run after signature verification
/// and the replay guard, in this order: event filter, schema, mapping, headers.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayloadRules {
    /// Where the event type is read: `{ preset = "gitlab" }`, `{ header = "X-Event" }`,
    /// `{ path = "$.type" }`, or a header and a path (`<header>.<path>`, as GitHub's
    /// `pull_request.opened`). Unset: the preset of the route's scheme (github, stripe,
    /// standard-webhooks, gitlab, shopify, bitbucket, twitch, intercom, zoom, square,
    /// paddle, linear).
    #[serde(default)]
    pub event_source: Option<EventSourceSpec>,
    /// Event types forwarded: exact (`"push"`), a prefix (`"pull_request.*"`) or `"*"`.
    /// Others are acknowledged with 200 ("filtered") and never reach the app. Unset: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Event types acknowledged and not forwarded even when `events` takes them.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// A JSON Schema file (draft 2020-12, self-contained) the payload must match; a
    /// mismatch gets 422 with the first errors, a body that is not JSON 415. In shadow mode
    /// mismatches are only counted.
    #[serde(default)]
    pub payload_schema: Option<String>,
    /// The body the app receives instead of the payload: a JSON template whose strings
    /// starting with `$` are JSONPaths (RFC 9535) into the payload, and whose other strings
    /// may hold `{{ route }}`, `{{ delivery_id }}`, `{{ received_at }}` and
    /// `{{ client_ip }}`. The app also gets `x-hookguard-original-sha256`. A path with
    /// `..` costs values × depth of the payload per `..`; a mapping that would work more
    /// than 16 units per payload value (+10,000) is refused with 422 before it runs.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub transform: Option<serde_json::Value>,
    /// What a JSONPath of `transform` that selects nothing becomes: `null` (default),
    /// `error` (422) or `original` (the app receives the payload untransformed).
    #[serde(default)]
    pub on_missing: OnMissingName,
    /// Headers set on the request the app receives (replacing any of the same name). Not
    /// `x-hookguard-*` nor framing headers.
    #[serde(default)]
    pub add_headers: BTreeMap<String, String>,
    /// Headers removed from the request the app receives. Not `x-hookguard-*` nor framing
    /// headers.
    #[serde(default)]
    pub remove_headers: Vec<String>,
}

/// Where the event type is read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSourceSpec {
    /// A provider whose event type is known (a scheme name, e.g. `gitlab`).
    #[serde(default)]
    pub preset: Option<String>,
    /// A request header, e.g. `X-GitHub-Event`.
    #[serde(default)]
    pub header: Option<String>,
    /// A JSONPath into the body, e.g. `$.type`.
    #[serde(default)]
    pub path: Option<String>,
}

/// What a missing JSONPath becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnMissingName {
    /// `null`.
    #[default]
    Null,
    /// The delivery is refused with 422.
    Error,
    /// The app receives the payload as sent.
    Original,
}

impl PayloadRules {
    /// Builds the layers' policy. `scheme` picks the default event source; `base_dir`
    /// resolves `payload_schema`. Every problem is returned with its place under `at`.
    pub fn build(
        &self,
        scheme: &str,
        base_dir: &Path,
        at: &FieldPath,
    ) -> Result<PayloadPolicy, Vec<(FieldPath, RuleError)>> {
        let mut problems = Vec::new();
        let mut policy = PayloadPolicy::new();
        if !self.events.is_empty() || !self.ignore.is_empty() {
            if let Some(filter) = self.filter(scheme, at, &mut problems) {
                policy = policy.events(filter);
            }
        }
        if let Some(file) = &self.payload_schema {
            match PayloadSchema::from_file(&base_dir.join(file)) {
                Ok(schema) => policy = policy.schema(schema),
                Err(e) => problems.push((at.key("payload_schema"), e)),
            }
        }
        if let Some(template) = &self.transform {
            match Template::compile(template) {
                Ok(template) => policy = policy.transform(template, self.on_missing.into()),
                Err(e) => {
                    let mut place = at.key("transform");
                    for key in &e.at {
                        place = match key {
                            TemplateKey::Key(k) => place.key(k.clone()),
                            TemplateKey::Index(i) => place.index(*i),
                        };
                    }
                    problems.push((place, e.error));
                }
            }
        }
        let mut headers = HeaderRules::new();
        for (i, name) in self.remove_headers.iter().enumerate() {
            match headers.clone().remove(name) {
                Ok(h) => headers = h,
                Err(e) => problems.push((at.key("remove_headers").index(i), e)),
            }
        }
        for (name, value) in &self.add_headers {
            match headers.clone().add(name, value) {
                Ok(h) => headers = h,
                Err(e) => problems.push((at.key("add_headers").key(name.clone()), e)),
            }
        }
        if problems.is_empty() {
            Ok(policy.headers(headers))
        } else {
            Err(problems)
        }
    }

    fn filter(
        &self,
        scheme: &str,
        at: &FieldPath,
        problems: &mut Vec<(FieldPath, RuleError)>,
    ) -> Option<EventFilter> {
        let mut valid = true;
        for (key, list) in [("events", &self.events), ("ignore", &self.ignore)] {
            for (i, pattern) in list.iter().enumerate() {
                if let Err(e) = EventPattern::new(pattern) {
                    problems.push((at.key(key).index(i), e));
                    valid = false;
                }
            }
        }
        let spec_at = at.key("event_source");
        let source = match &self.event_source {
            Some(spec) => spec.source(&spec_at),
            None => EventSource::preset(scheme).ok_or_else(|| {
                (
                    spec_at,
                    rule_error(
                        format!("scheme {scheme} has no known event type, and `event_source` is not set"),
                        "event_source = { header = \"…\" } or { path = \"$.…\" }",
                    ),
                )
            }),
        };
        let source = match source {
            Ok(source) => source,
            Err(problem) => {
                problems.push(problem);
                return None;
            }
        };
        if !valid {
            return None;
        }
        EventFilter::new(source)
            .events(self.events.iter().map(String::as_str))
            .and_then(|f| f.ignore(self.ignore.iter().map(String::as_str)))
            .ok()
    }
}

impl EventSourceSpec {
    fn source(&self, at: &FieldPath) -> Result<EventSource, (FieldPath, RuleError)> {
        match (&self.preset, &self.header, &self.path) {
            (Some(preset), None, None) => EventSource::preset(preset).ok_or_else(|| {
                (
                    at.key("preset"),
                    rule_error(
                        format!("no preset for {preset:?}"),
                        format!(
                            "one of {}",
                            hookguard_layers::rules::PRESETS
                                .iter()
                                .map(|(name, _, _)| *name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                )
            }),
            (None, Some(h), None) => EventSource::header(h).map_err(|e| (at.key("header"), e)),
            (None, None, Some(p)) => EventSource::path(p).map_err(|e| (at.key("path"), e)),
            (None, Some(h), Some(p)) => EventSource::header(h)
                .map_err(|e| (at.key("header"), e))
                .and_then(|_| {
                    EventSource::header_then_path(h, p).map_err(|e| (at.key("path"), e))
                }),
            _ => Err((
                at.clone(),
                rule_error(
                    "`preset` cannot be combined with `header` or `path`, and one must be set",
                    "{ preset = \"…\" }, { header = \"…\" }, { path = \"$.…\" } or a header and a path",
                ),
            )),
        }
    }
}

impl From<OnMissingName> for OnMissing {
    fn from(name: OnMissingName) -> Self {
        match name {
            OnMissingName::Null => OnMissing::Null,
            OnMissingName::Error => OnMissing::Error,
            OnMissingName::Original => OnMissing::Original,
        }
    }
}

fn rule_error(problem: impl Into<String>, expected: impl Into<String>) -> RuleError {
    RuleError {
        problem: problem.into(),
        expected: expected.into(),
    }
}

#[cfg(test)]
mod tests;
