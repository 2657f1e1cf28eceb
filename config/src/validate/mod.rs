//! `validate()`: every check that needs more than the schema's types, all problems at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use hookguard_layers::verify::schemes::{self, hmac::HmacScheme, NAMES};
use hookguard_layers::verify::Scheme;

use crate::env::Env;
use crate::error::{ConfigError, Issue, Issues};
use crate::path::FieldPath;
use crate::schema::{Config, Defaults, Rate, Route};
use crate::units::{HumanDuration, Tolerance};

mod alerts;
mod delivery;
mod matches;
mod secrets;
mod state;
mod subscription;

/// Schemes that sign the URL the provider called, so need `public_url`.
const URL_SIGNING_SCHEMES: &[&str] = &["square"];

/// Shortest provider range refresh (the IP layer raises shorter ones to it).
const MIN_REFRESH_SECS: u64 = 10;

impl Config {
    /// Checks the whole configuration and reports every problem, each with its place in the
    /// file (for a configuration loaded from one), what is wrong and what was expected.
    ///
    /// `env` answers for `env` secrets and token variables. Loading already validates; call
    /// this for a configuration built or changed in code.
    pub fn validate(&self, env: &dyn Env) -> Result<(), ConfigError> {
        let base_dir = self
            .source_map()
            .map_or_else(|| PathBuf::from("."), |m| m.base_dir());
        let mut validator = Validator::new(env, base_dir);
        validator.top(self);
        let routes: Vec<(usize, &Route)> = self.routes.iter().enumerate().collect();
        for &(i, route) in &routes {
            validator.route(i, route, &self.defaults);
        }
        validator.across(&routes, routes.len(), Some(self));
        let issues = validator.finish();
        if issues.is_empty() {
            return Ok(());
        }
        Err(ConfigError::new(
            issues
                .into_iter()
                .map(|i| i.locate(self.source_map()))
                .collect(),
        ))
    }
}

pub(crate) struct Validator<'a> {
    env: &'a dyn Env,
    base_dir: PathBuf,
    issues: Issues,
    /// The admin API is on: key routes may get their keys from it.
    api_keys: bool,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(env: &'a dyn Env, base_dir: PathBuf) -> Self {
        Self {
            env,
            base_dir,
            issues: Issues::default(),
            api_keys: false,
        }
    }

    pub(crate) fn finish(self) -> Vec<Issue> {
        self.issues.0
    }

    pub(crate) fn top(&mut self, config: &Config) {
        self.api_keys = !config.admin.tokens.is_empty();
        let root = FieldPath::root();
        let upstream = root.key("upstream");
        check_host_port(
            &mut self.issues,
            upstream.key("address"),
            &config.upstream.address,
        );
        self.positive(
            upstream.key("connect_timeout"),
            config.upstream.connect_timeout,
        );
        self.positive(upstream.key("read_timeout"), config.upstream.read_timeout);
        if config.listen == config.admin_listen {
            self.issues.add(
                root.key("admin_listen"),
                format!(
                    "the admin listener uses the same address as `listen` ({})",
                    config.listen
                ),
                "a different port for the admin listener",
            );
        }
        let defaults = root.key("defaults");
        if config.defaults.body_limit.bytes() == 0 {
            self.issues.add(
                defaults.key("body_limit"),
                "a body limit of 0 refuses every request with a body",
                "a size such as \"1MiB\"",
            );
        }
        self.positive(
            defaults.key("body_read_timeout"),
            config.defaults.body_read_timeout,
        );
        self.tolerance_not_zero(defaults.key("tolerance"), config.defaults.tolerance);
        if let Some(rate) = &config.global_rate_limit {
            check_rate(&mut self.issues, root.key("global_rate_limit"), rate);
        }
        let connections = root.key("connections");
        self.positive(
            connections.key("head_timeout"),
            config.connections.head_timeout,
        );
        self.positive(
            connections.key("idle_timeout"),
            config.connections.idle_timeout,
        );
        for (key, value) in [
            ("max", config.connections.max),
            ("max_per_client", config.connections.max_per_client),
        ] {
            if value == 0 {
                self.issues.add(
                    connections.key(key),
                    "a cap of 0 connections refuses every client",
                    "a number of connections of at least 1",
                );
            }
        }
        self.queue_settings(config);
        self.outbound(config);
        self.alerts(config);
        self.state(config);
    }

    pub(crate) fn route(&mut self, index: usize, route: &Route, defaults: &Defaults) {
        let p = FieldPath::root().key("routes").index(index);
        check_identifier(&mut self.issues, p.key("id"), &route.id, "route id");
        matches::check_route_match(
            &mut self.issues,
            &p.key("match"),
            &route.matches,
            self.api_keys,
        );
        let scheme = self.scheme(&p, route);
        self.secrets(&p, route, scheme.as_deref());
        self.tolerance(&p, route, scheme.as_deref());
        self.public_url(&p, route);
        if let Some(ip) = &route.ip {
            self.ip(&p.key("ip"), ip);
        }
        if let Some(limits) = &route.rate_limit {
            if let Some(rate) = &limits.per_route {
                check_rate(&mut self.issues, p.key("rate_limit").key("per_route"), rate);
            }
            if let Some(rate) = &limits.per_client {
                check_rate(
                    &mut self.issues,
                    p.key("rate_limit").key("per_client"),
                    rate,
                );
            }
        }
        if route.body_limit.is_some_and(|b| b.bytes() == 0) {
            self.issues.add(
                p.key("body_limit"),
                "a body limit of 0 refuses every request with a body",
                "a size such as \"1MiB\"",
            );
        }
        if let Some(timeout) = route.body_read_timeout {
            self.positive(p.key("body_read_timeout"), timeout);
        }
        self.replay(&p, route, defaults, scheme.as_deref());
        if let Some(rewrite) = &route.rewrite {
            matches::check_path(&mut self.issues, p.key("rewrite"), rewrite);
        }
        self.route_queue(&p, route);
        if let Some(rules) = &route.rules {
            // The same build the sidecar runs: a JSONPath, pattern or schema file that
            // would fail there fails here, at its own field.
            if let Err(problems) = rules.build(&route.scheme, &self.base_dir, &p.key("rules")) {
                for (at, e) in problems {
                    self.issues.add(at, e.problem, e.expected);
                }
            }
        }
    }

    /// Checks across routes; `top` (when it could be read) for what routes share ids with.
    pub(crate) fn across(
        &mut self,
        routes: &[(usize, &Route)],
        total: usize,
        top: Option<&Config>,
    ) {
        let outbound_only = top.is_some_and(|c| c.outbound.is_some());
        if let Some(top) = top {
            self.subscription_ids(routes, &top.subscriptions);
            self.capture_routes(routes, &top.admin);
            self.alert_routes(routes, top);
        }
        if total == 0 && !outbound_only {
            self.issues.add(
                FieldPath::root().key("routes"),
                "the configuration has no routes, so every request would be answered 404",
                "at least one route (a `[[routes]]` table in TOML)",
            );
        }
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(routes.len());
        for &(i, route) in routes {
            if let Some(first) = seen.get(route.id.as_str()) {
                self.issues.add(
                    FieldPath::root().key("routes").index(i).key("id"),
                    format!("route id {:?} is already used by routes[{first}]", route.id),
                    "route ids unique in the file",
                );
            } else {
                seen.insert(&route.id, i);
            }
        }
        matches::check_across(&mut self.issues, routes);
    }

    /// The route's scheme, built with its options; reports why when it cannot be.
    fn scheme(&mut self, p: &FieldPath, route: &Route) -> Option<Arc<dyn Scheme>> {
        if route.hmac.is_some() && route.scheme != "hmac" {
            self.issues.push(
                Issue::new(
                    p.key("hmac"),
                    format!(
                        "the `hmac` table has no effect with scheme {:?}",
                        route.scheme
                    ),
                )
                .expected("scheme = \"hmac\", or no `hmac` table")
                .at_key(),
            );
        }
        if route.scheme == "hmac" {
            let options = route.hmac.clone().unwrap_or_default().options();
            return match HmacScheme::generic(&options) {
                Ok(scheme) => Some(Arc::new(scheme)),
                Err(e) => {
                    let at = if route.hmac.is_some() {
                        p.key("hmac").key(e.option)
                    } else {
                        p.key("scheme")
                    };
                    self.issues.add(at, e.problem, e.expected);
                    None
                }
            };
        }
        let scheme = schemes::by_name(&route.scheme);
        if scheme.is_none() {
            self.issues.add(
                p.key("scheme"),
                format!("unknown scheme {:?}", route.scheme),
                format!("one of {}", NAMES.join(", ")),
            );
        }
        scheme
    }

    fn tolerance(&mut self, p: &FieldPath, route: &Route, scheme: Option<&dyn Scheme>) {
        self.tolerance_not_zero(p.key("tolerance"), route.tolerance);
        if let (Some(Tolerance::Within(_)), Some(scheme)) = (route.tolerance, scheme) {
            if scheme.default_tolerance().is_none() {
                self.issues.add(
                    p.key("tolerance"),
                    format!(
                        "scheme {} signs no timestamp, so a tolerance has no effect",
                        route.scheme
                    ),
                    "no tolerance on this route (the replay guard still stops replays)",
                );
            }
        }
    }

    fn replay(
        &mut self,
        p: &FieldPath,
        route: &Route,
        defaults: &Defaults,
        scheme: Option<&dyn Scheme>,
    ) {
        let replay = &route.replay;
        let at = p.key("replay");
        if !matches!(replay.duplicate_status, 200 | 409) {
            self.issues.add(
                at.key("duplicate_status"),
                format!(
                    "{} is not a status for a duplicate delivery",
                    replay.duplicate_status
                ),
                "200 (acknowledge, the provider stops retrying) or 409",
            );
        }
        if !replay.enabled {
            return;
        }
        let Some(window) = replay.window else {
            // Unset: derived from the tolerance, so always long enough.
            return;
        };
        self.positive(at.key("window"), window);
        let tolerance = match route.tolerance(defaults) {
            Some(t) => t.as_secs(),
            None => scheme.and_then(|s| s.default_tolerance()),
        };
        if let Some(tolerance) = tolerance.filter(|&t| t > 0) {
            if window.get().as_secs() < 2 * tolerance {
                self.issues.add(
                    at.key("window"),
                    format!(
                        "the replay window ({window}) is shorter than twice the tolerance ({}): a delivery could be replayed after its record is forgotten while its timestamp is still accepted",
                        HumanDuration::secs(tolerance)
                    ),
                    format!("a window of at least {}, or no window (then twice the tolerance)", HumanDuration::secs(2 * tolerance)),
                );
            }
        }
    }

    fn public_url(&mut self, p: &FieldPath, route: &Route) {
        let signs_url = URL_SIGNING_SCHEMES.contains(&route.scheme.as_str())
            || (route.scheme == "hmac"
                && route
                    .hmac
                    .as_ref()
                    .and_then(|h| h.payload.as_deref())
                    .is_some_and(|t| t.contains("{url}")));
        match &route.public_url {
            None if signs_url => self.issues.add(
                p.key("public_url"),
                format!(
                    "scheme {} signs the URL the provider called, and it is not set",
                    route.scheme
                ),
                "public_url = \"https://…\" as configured at the provider",
            ),
            None => {}
            Some(url) => check_url(&mut self.issues, p.key("public_url"), url),
        }
    }

    fn ip(&mut self, p: &FieldPath, ip: &crate::schema::IpRules) {
        for (key, list) in [
            ("allow", &ip.allow),
            ("deny", &ip.deny),
            ("trusted_proxies", &ip.trusted_proxies),
        ] {
            for (i, entry) in list.iter().enumerate() {
                if let Err(problem) = crate::schema::parse_network(entry) {
                    self.issues.add(
                        p.key(key).index(i),
                        problem,
                        "an IP address or a CIDR network such as \"192.30.252.0/22\"",
                    );
                }
            }
        }
        let Some(ranges) = &ip.provider_ranges else {
            return;
        };
        let at = p.key("provider_ranges");
        match (&ranges.file, &ranges.url) {
            (Some(_), Some(_)) => self.issues.add(
                at.key("url"),
                "both `file` and `url` are set",
                "at most one of them",
            ),
            (Some(file), None) => {
                let path = self.base_dir.join(file);
                if !path.is_file() {
                    self.issues.add(
                        at.key("file"),
                        format!("{} is not a readable file", path.display()),
                        "the path of the provider's range list",
                    );
                }
            }
            (None, Some(url)) => check_url(&mut self.issues, at.key("url"), url),
            (None, None) => {}
        }
        if ranges.refresh.get().as_secs() < MIN_REFRESH_SECS {
            self.issues.add(
                at.key("refresh"),
                format!("a refresh every {} is more often than providers allow", ranges.refresh),
                format!("at least {MIN_REFRESH_SECS}s (providers announce changes days ahead; \"1h\" is plenty)"),
            );
        }
    }

    fn positive(&mut self, path: FieldPath, duration: HumanDuration) {
        if duration.get().is_zero() {
            self.issues.add(
                path,
                "a duration of 0 leaves no time at all",
                "a duration above 0, such as \"10s\"",
            );
        }
    }

    fn tolerance_not_zero(&mut self, path: FieldPath, tolerance: Option<Tolerance>) {
        if let Some(Tolerance::Within(d)) = tolerance {
            if d.get().as_secs() == 0 {
                self.issues.add(
                    path,
                    "a tolerance under 1s refuses nearly every request",
                    "at least \"1s\" (\"5m\" is usual), or \"off\"",
                );
            }
        }
    }
}

pub(super) fn check_rate(issues: &mut Issues, path: FieldPath, rate: &Rate) {
    if rate.requests == 0 {
        issues.add(
            path.key("requests"),
            "a rate of 0 requests refuses every request",
            "at least 1 (to allow everything, remove the limit)",
        );
    }
    if rate.per.get().is_zero() {
        issues.add(
            path.key("per"),
            "the period is 0",
            "a period such as \"1s\" or \"1m\"",
        );
    }
    if rate.burst == Some(0) {
        issues.add(
            path.key("burst"),
            "a burst of 0 refuses every request",
            "at least 1, or unset (then equal to `requests`)",
        );
    }
}

/// Route and secret ids end up in metric labels and headers: keep them plain.
pub(crate) fn check_identifier(issues: &mut Issues, path: FieldPath, id: &str, what: &str) {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        issues.add(
            path,
            format!("{what} {id:?} is not a plain name"),
            "1 to 64 letters, digits, `-` or `_`, starting with a letter or digit",
        );
    }
}

fn check_host_port(issues: &mut Issues, path: FieldPath, address: &str) {
    const EXPECTED: &str = "host:port, such as \"127.0.0.1:3000\" or \"app:3000\"";
    if address.contains("://") {
        issues.add(
            path,
            format!("{address:?} is a URL, not an address"),
            EXPECTED,
        );
        return;
    }
    let split = if let Some(rest) = address.strip_prefix('[') {
        rest.split_once("]:")
            .filter(|(host, _)| host.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        address.rsplit_once(':').filter(|(host, _)| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        })
    };
    match split {
        Some((_, port)) if port.parse::<u16>().is_ok_and(|p| p > 0) => {}
        Some((_, port)) => issues.add(path, format!("{port:?} is not a port number"), EXPECTED),
        None => issues.add(
            path,
            format!("{address:?} is not a host and port"),
            EXPECTED,
        ),
    }
}

fn check_url(issues: &mut Issues, path: FieldPath, url: &str) {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(u) => issues.add(
            path,
            format!("{url:?} is a {} URL", u.scheme()),
            "an http:// or https:// URL",
        ),
        Err(e) => issues.add(
            path,
            format!("{url:?} is not a URL ({e})"),
            "an https:// URL",
        ),
    }
}

#[cfg(test)]
mod tests;
