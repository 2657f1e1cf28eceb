//! Checks of `[state]`. The URL may hold a password: no message contains it.

use super::Validator;
use crate::path::FieldPath;
use crate::schema::{Config, FailureModeName, QueueBackend, StateBackend};

const URL_SOURCES: &str =
    "exactly one of `url`, `url_env` or `url_file` (with `sentinel` or `cluster`: at most one)";

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
            for (set, name) in [
                (state.sentinel.is_some(), "sentinel"),
                (state.cluster.is_some(), "cluster"),
            ] {
                if set {
                    self.issues.add(
                        at.key(name),
                        format!("`{name}` is set but `backend` is \"memory\", so it would never be used"),
                        "backend = \"redis\", or no `sentinel` / `cluster`",
                    );
                }
            }
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
            self.topology(&at, config);
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

    /// `sentinel` and `cluster`: one topology at most, names and addresses well formed,
    /// the sentinels' password readable.
    fn topology(&mut self, at: &FieldPath, config: &Config) {
        let state = &config.state;
        if state.sentinel.is_some() && state.cluster.is_some() {
            self.issues.add(
                at.key("cluster"),
                "both `sentinel` and `cluster` are set",
                "one of them: `[state.sentinel]` for a master and its replicas watched by sentinels, `cluster` for a Redis Cluster",
            );
        }
        if let Some(sentinel) = &state.sentinel {
            let at = at.key("sentinel");
            let name = sentinel.master_name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                self.issues.add(
                    at.key("master_name"),
                    format!(
                        "master name {:?} is empty or has spaces",
                        sentinel.master_name
                    ),
                    "the name of the sentinels' `sentinel monitor NAME …` line, e.g. \"mymaster\"",
                );
            }
            self.node_addresses(
                &at.key("nodes"),
                &sentinel.nodes,
                "sentinel",
                "26379",
                "`password_env`/`password_file`",
            );
            if sentinel.password_env.is_some() && sentinel.password_file.is_some() {
                self.issues.add(
                    at.key("password_file"),
                    "the sentinels' password is given twice (password_env and password_file)",
                    "one of `password_env` or `password_file`",
                );
            } else if let Some(spec) = sentinel.password_spec() {
                let field = if sentinel.password_env.is_some() {
                    "password_env"
                } else {
                    "password_file"
                };
                if let Err(e) = spec.resolve_local(self.env, &self.base_dir) {
                    self.issues.add(
                        at.key(field),
                        format!("cannot read the sentinels' password: {e}"),
                        "a readable source holding the sentinels' requirepass",
                    );
                }
            }
        }
        if let Some(nodes) = &state.cluster {
            self.node_addresses(
                &at.key("cluster"),
                nodes,
                "cluster node",
                "6379",
                "`url_env`/`url_file`",
            );
        }
    }

    /// A non-empty list of `host:port` or `redis[s]://host:port[/]`, without credentials.
    fn node_addresses(
        &mut self,
        at: &FieldPath,
        nodes: &[String],
        what: &str,
        port: &str,
        credentials: &str,
    ) {
        let expected = format!(
            "a {what} address, \"host:{port}\" or \"redis://host:{port}\" (\"rediss://\" for TLS), the password in {credentials}"
        );
        if nodes.is_empty() {
            self.issues.add(
                at.clone(),
                format!("no {what} address is given"),
                format!("at least one: {expected}"),
            );
            return;
        }
        for (i, node) in nodes.iter().enumerate() {
            if let Err(problem) = node_address(node) {
                self.issues.add(
                    at.index(i),
                    format!("{what} address {problem}"),
                    expected.as_str(),
                );
            }
        }
    }

    fn redis_url(&mut self, at: &FieldPath, config: &Config, sources: &[&str]) {
        let state = &config.state;
        // With Sentinel or Cluster the URL only carries credentials: optional.
        let topology = state.sentinel.is_some() || state.cluster.is_some();
        if sources.len() > 1 || (sources.is_empty() && !topology) {
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
        if sources.is_empty() {
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

/// Checks one node address: `host:port`, or a `redis://` / `rediss://` URL of one. The
/// problem, if any, never repeats credentials.
fn node_address(node: &str) -> Result<(), String> {
    let (scheme, rest) = match node.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, node),
    };
    if let Some(scheme) = scheme {
        if scheme != "redis" && scheme != "rediss" {
            return Err(format!("{node:?} has scheme {scheme:?}"));
        }
    }
    if rest.contains('@') {
        return Err("holds credentials (not shown)".into());
    }
    let address = rest.strip_suffix('/').unwrap_or(rest);
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!("{node:?} has no port"));
    };
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err(format!("{node:?} has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{node:?} has port {port:?}, not 1 to 65535")),
    }
}
