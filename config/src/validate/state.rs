//! Checks of `[state]`. The URL may hold a password: no message contains it.

use super::Validator;
use crate::path::FieldPath;
use crate::schema::{Config, FailureModeName, QueueBackend, StateBackend};

const URL_SOURCES: &str = "exactly one of `url`, `url_env` or `url_file`";

impl Validator<'_> {
    pub(super) fn state(&mut self, config: &Config) {
        let at = FieldPath::root().key("state");
        let state = &config.state;
        let sources: Vec<&str> = [
            state.url.as_ref().map(|_| "url"),
            state.url_env.as_ref().map(|_| "url_env"),
            state.url_file.as_ref().map(|_| "url_file"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if state.backend == StateBackend::Memory {
            if let Some(first) = sources.first() {
                self.issues.add(
                    at.key(*first),
                    "a Redis URL is set but `backend` is \"memory\", so it would never be used",
                    "backend = \"redis\", or no URL",
                );
            }
            if state.queue == Some(QueueBackend::Redis) {
                self.issues.add(
                    at.key("queue"),
                    "the queue is to live in Redis but `backend` is \"memory\" (no Redis URL)",
                    "backend = \"redis\" with a URL, or queue = \"embedded\"",
                );
            }
        } else {
            self.redis_url(&at, config, &sources);
        }
        if state.prefix.contains(['{', '}']) {
            self.issues.add(
                at.key("prefix"),
                format!(
                    "prefix {:?} contains a brace, which would break the keys' hash tags",
                    state.prefix
                ),
                "letters, digits and punctuation other than `{` and `}`, e.g. \"shop:\"",
            );
        }
        self.positive(at.key("connect_timeout"), state.connect_timeout);
        self.positive(at.key("command_timeout"), state.command_timeout);
        if state.on_failure.queue == FailureModeName::FailOpen {
            self.issues.add(
                at.key("on_failure").key("queue"),
                "the queue cannot fail open: a message acknowledged without a durable store could be lost",
                "\"fail_closed\" (enqueues are refused with 503 while Redis is down)",
            );
        }
    }

    fn redis_url(&mut self, at: &FieldPath, config: &Config, sources: &[&str]) {
        let state = &config.state;
        if sources.len() != 1 {
            let place = sources.first().map_or_else(|| at.clone(), |s| at.key(*s));
            let problem = if sources.is_empty() {
                "backend = \"redis\" needs Redis's URL".to_owned()
            } else {
                format!(
                    "the URL is given {} times ({})",
                    sources.len(),
                    sources.join(", ")
                )
            };
            self.issues.add(place, problem, URL_SOURCES);
            return;
        }
        let Some(spec) = state.url_spec() else { return };
        let field = at.key(sources[0]);
        match spec.resolve_local(self.env, &self.base_dir) {
            Ok(Some(url)) => {
                let url = url.expose();
                if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                    let scheme = url.split_once("://").map_or("no scheme", |(s, _)| s);
                    self.issues.add(
                        field,
                        format!("the Redis URL has scheme {scheme:?} (the URL is not shown)"),
                        "redis://host:6379/0 or rediss://host:6380/0 (TLS)",
                    );
                }
            }
            Ok(None) => {}
            Err(e) => self.issues.add(
                field,
                format!("cannot read the Redis URL: {e}"),
                "a readable source holding redis://… or rediss://…",
            ),
        }
    }
}
