//! Checks of `[outbound]` and of each subscription (from the file, or posted to the admin
//! API, which runs the same checks through [`Subscription::validate`]).

use std::path::PathBuf;

use hookguard_layers::verify::{SignOptions, WebhookRequest};

use super::{check_identifier, check_rate, Validator};
use crate::env::Env;
use crate::error::{ConfigError, Issue};
use crate::path::FieldPath;
use crate::schema::{AuthKind, Config, Outbound, Route, Subscription};

/// Attempt timeouts a subscription may set, in seconds.
const TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 5..=300;
/// Retries a subscription may set.
const RETRIES: std::ops::RangeInclusive<u32> = 1..=10;

impl Subscription {
    /// Checks one subscription as the admin API receives it, against `config` (ids of
    /// routes and of the file's subscriptions, `[outbound]`'s rules). Paths in the problems
    /// are relative to the subscription (`events[0]`).
    pub fn validate(&self, config: &Config, env: &dyn Env) -> Result<(), ConfigError> {
        let base_dir = config
            .source_map()
            .map_or_else(|| PathBuf::from("."), |m| m.base_dir());
        let mut validator = Validator::new(env, base_dir);
        let outbound = config.outbound.clone().unwrap_or_default();
        validator.subscription(&FieldPath::root(), self, &outbound);
        if config.route(&self.id).is_some() {
            validator.issues.add(
                FieldPath::root().key("id"),
                format!("{:?} is the id of a route", self.id),
                "a subscription id that no route uses",
            );
        }
        let issues: Vec<Issue> = validator.finish();
        if issues.is_empty() {
            return Ok(());
        }
        Err(ConfigError::new(
            issues.into_iter().map(|i| i.locate(None)).collect(),
        ))
    }
}

impl Validator<'_> {
    pub(super) fn outbound(&mut self, config: &Config) {
        let root = FieldPath::root();
        let Some(outbound) = &config.outbound else {
            if !config.subscriptions.is_empty() {
                self.issues.add(
                    root.key("subscriptions"),
                    "subscriptions without an `[outbound]` table are never used",
                    "an `[outbound]` table (its defaults listen on 127.0.0.1:8081)",
                );
            }
            return;
        };
        let at = root.key("outbound");
        if [config.listen, config.admin_listen].contains(&outbound.listen) {
            self.issues.add(
                at.key("listen"),
                format!("{} is already used by another listener", outbound.listen),
                "a port of its own",
            );
        }
        if !outbound.listen.ip().is_loopback() && outbound.tokens.is_empty() {
            self.issues.add(
                at.key("tokens"),
                format!(
                    "the outbound listener on {} is reachable beyond this host and takes events from anyone",
                    outbound.listen
                ),
                "at least one token (tokens = [{ id = \"app\", env = \"HOOKGUARD_OUTBOUND_TOKEN\" }]), or a loopback listen address",
            );
        }
        self.named_secrets(&at.key("tokens"), &outbound.tokens, "token id");
        for (i, entry) in outbound.allow_networks.iter().enumerate() {
            if let Err(problem) = crate::schema::parse_network(entry) {
                self.issues.add(
                    at.key("allow_networks").index(i),
                    problem,
                    "an IP address or a CIDR network such as \"10.20.0.0/16\"",
                );
            }
        }
        self.positive(at.key("dedup_window"), outbound.dedup_window);
        if outbound.max_event_bytes.bytes() == 0 {
            self.issues.add(
                at.key("max_event_bytes"),
                "a limit of 0 bytes refuses every event",
                "a size such as \"256KiB\"",
            );
        }
        for (i, subscription) in config.subscriptions.iter().enumerate() {
            let sp = root.key("subscriptions").index(i);
            self.subscription(&sp, subscription, outbound);
            if let Some(first) = config.subscriptions[..i]
                .iter()
                .position(|s| s.id == subscription.id)
            {
                self.issues.add(
                    sp.key("id"),
                    format!(
                        "subscription id {:?} is already used by subscriptions[{first}]",
                        subscription.id
                    ),
                    "subscription ids unique in the file",
                );
            }
        }
    }

    /// Routes and subscriptions are destinations of the one queue: their ids must differ,
    /// or their messages would mix.
    pub(super) fn subscription_ids(
        &mut self,
        routes: &[(usize, &Route)],
        subscriptions: &[Subscription],
    ) {
        if subscriptions.is_empty() {
            return;
        }
        let route_ids: std::collections::HashMap<&str, usize> = routes
            .iter()
            .map(|&(i, r)| (r.id.as_str(), i))
            .rev()
            .collect();
        for (i, subscription) in subscriptions.iter().enumerate() {
            if let Some(r) = route_ids.get(subscription.id.as_str()) {
                self.issues.add(
                    FieldPath::root().key("subscriptions").index(i).key("id"),
                    format!("{:?} is also the id of routes[{r}]", subscription.id),
                    "a subscription id that no route uses",
                );
            }
        }
    }

    fn subscription(&mut self, sp: &FieldPath, sub: &Subscription, outbound: &Outbound) {
        check_identifier(&mut self.issues, sp.key("id"), &sub.id, "subscription id");
        match url::Url::parse(&sub.url) {
            Ok(url) if url.scheme() == "https" && url.host().is_some() => {}
            Ok(url) if url.scheme() == "http" && url.host().is_some() => {
                if !outbound.allow_http {
                    self.issues.add(
                        sp.key("url"),
                        "a plain http:// endpoint: events and signatures would travel unencrypted",
                        "an https:// URL, or outbound.allow_http = true",
                    );
                }
            }
            // The URL is not echoed: its query may hold a token.
            Ok(_) => self.issues.add(
                sp.key("url"),
                "not an http(s) URL with a host",
                "an https:// URL",
            ),
            Err(e) => self
                .issues
                .add(sp.key("url"), format!("not a URL ({e})"), "an https:// URL"),
        }
        if sub.events.is_empty() {
            self.issues.add(
                sp.key("events"),
                "no event type is delivered",
                "at least one type, a `prefix.*`, or \"*\"",
            );
        }
        for (i, filter) in sub.events.iter().enumerate() {
            if !valid_filter(filter) {
                self.issues.add(
                    sp.key("events").index(i),
                    format!("{filter:?} is not an event filter"),
                    "a type such as \"job.completed\", a prefix such as \"job.*\", or \"*\"",
                );
            }
        }
        self.signing(
            sp,
            &Signing {
                scheme_name: &sub.scheme,
                hmac: sub.hmac.is_some(),
                scheme: sub.build_scheme(),
                secrets: &sub.secrets,
                url: &sub.url,
                example_env: "CUSTOMER_WEBHOOK_SECRET",
            },
        );
        if !RETRIES.contains(&sub.max_retries) {
            self.issues.add(
                sp.key("max_retries"),
                format!("{} retries is out of range", sub.max_retries),
                "1 to 10",
            );
        }
        if !TIMEOUT_SECS.contains(&sub.timeout.get().as_secs()) {
            self.issues.add(
                sp.key("timeout"),
                format!("an attempt timeout of {} is out of range", sub.timeout),
                "5s to 300s",
            );
        }
        if sub.concurrency == 0 {
            self.issues.add(
                sp.key("concurrency"),
                "a concurrency of 0 would never deliver",
                "a number above 0, e.g. 8",
            );
        }
        if let Some(rate) = &sub.rate_limit {
            check_rate(&mut self.issues, sp.key("rate_limit"), rate);
        }
        self.extra_headers(&sp.key("headers"), &sub.headers);
        if let Some(auth) = &sub.auth {
            let at = sp.key("auth");
            match auth.kind {
                AuthKind::Header => {
                    if auth
                        .header
                        .as_deref()
                        .is_none_or(|h| http::HeaderName::try_from(h).is_err())
                    {
                        self.issues.add(
                            at.key("header"),
                            "kind = \"header\" needs the header's name",
                            "header = \"X-API-Key\"",
                        );
                    }
                }
                AuthKind::Basic => {
                    if auth
                        .username
                        .as_deref()
                        .is_none_or(|u| u.is_empty() || u.contains(':'))
                    {
                        self.issues.add(
                            at.key("username"),
                            "kind = \"basic\" needs a user name without `:`",
                            "username = \"hookguard\"",
                        );
                    }
                }
                AuthKind::Bearer => {}
            }
            self.secret(&at.key("primary"), "", &auth.primary, None);
            if let Some(next) = &auth.next {
                self.secret(&at.key("next"), "", next, None);
            }
        }
    }
}

/// `*`, or a type of letters, digits, `.`, `-`, `_`, `:`, `/`, optionally ending in `.*`.
fn valid_filter(filter: &str) -> bool {
    if filter == "*" {
        return true;
    }
    let name = filter.strip_suffix(".*").unwrap_or(filter);
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'))
}

/// How a subscription or an alert webhook signs what it sends.
pub(super) struct Signing<'a> {
    pub(super) scheme_name: &'a str,
    /// Whether an `hmac` table is set.
    pub(super) hmac: bool,
    pub(super) scheme:
        Result<std::sync::Arc<dyn hookguard_layers::verify::Scheme>, crate::schema::SchemeError>,
    pub(super) secrets: &'a [crate::schema::SecretSpec],
    pub(super) url: &'a str,
    /// The variable the "no signing secret" hint names.
    pub(super) example_env: &'a str,
}

impl Validator<'_> {
    /// The scheme builds, `hmac` is set only with it, there is a signing secret, and the
    /// first one signs JSON in headers.
    pub(super) fn signing(&mut self, at: &FieldPath, signing: &Signing<'_>) {
        if signing.hmac && signing.scheme_name != "hmac" {
            self.issues.add(
                at.key("hmac"),
                format!(
                    "the `hmac` table has no effect with scheme {:?}",
                    signing.scheme_name
                ),
                "scheme = \"hmac\", or no `hmac` table",
            );
        }
        let scheme = match &signing.scheme {
            Ok(scheme) => Some(scheme),
            Err(e) => {
                self.issues.add(
                    at.key("scheme"),
                    e.to_string(),
                    format!("one of {}", crate::SCHEME_NAMES.join(", ")),
                );
                None
            }
        };
        if signing.secrets.is_empty() {
            self.issues.add(
                at.key("secrets"),
                "no signing secret",
                format!(
                    "at least one secret, e.g. [{{ id = \"v1\", env = \"{}\" }}]",
                    signing.example_env
                ),
            );
        }
        self.named_secrets(&at.key("secrets"), signing.secrets, "secret id");
        if let (Some(scheme), Some(first)) = (scheme, signing.secrets.first()) {
            if let Ok(Some(value)) = first.resolve_local(self.env, &self.base_dir) {
                if let Err(problem) = can_sign(&**scheme, value.expose(), signing.url) {
                    self.issues.add(
                        at.key("secrets").index(0),
                        format!("scheme {} cannot sign events with this secret: {problem}", signing.scheme_name),
                        "a signing secret of the scheme (standard-webhooks: whsec_<base64>), and a scheme that signs JSON bodies in headers",
                    );
                }
            }
        }
    }

    /// Extra headers sent with each request: valid names and values.
    pub(super) fn extra_headers(
        &mut self,
        at: &FieldPath,
        headers: &std::collections::BTreeMap<String, String>,
    ) {
        for (name, value) in headers {
            let valid = http::HeaderName::try_from(name.as_str()).is_ok()
                && http::HeaderValue::try_from(value.as_str()).is_ok();
            if !valid {
                self.issues.add(
                    at.key(name.clone()),
                    "not a valid header name and value",
                    "a header name such as \"X-Tenant\" and a visible ASCII value",
                );
            }
        }
    }
}

/// Whether `scheme` signs a JSON event with `secret` in headers only.
fn can_sign(
    scheme: &dyn hookguard_layers::verify::Scheme,
    secret: &str,
    url: &str,
) -> Result<(), String> {
    let key = scheme
        .parse_signing_key(secret)
        .map_err(|e| e.problem.to_string())?;
    let headers = http::HeaderMap::new();
    let request = WebhookRequest {
        method: &http::Method::POST,
        url: Some(url),
        headers: &headers,
        body: br#"{"type":"check"}"#,
    };
    let options = SignOptions {
        timestamp: 1_700_000_000,
        id: Some("msg_check".into()),
    };
    match scheme.sign(&request, &key, &options) {
        Ok(signed) if signed.body.is_none() => Ok(()),
        Ok(_) => Err("it rewrites the body".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use crate::{Config, Format};

    const UPSTREAM: &str = "[upstream]\naddress = \"127.0.0.1:3000\"\n";

    fn problems(text: &str) -> String {
        let env: HashMap<String, String> = HashMap::new();
        Config::from_text(
            &format!("{UPSTREAM}{text}"),
            Format::Toml,
            Path::new("o.toml"),
            &env,
        )
        .expect_err("should be refused")
        .to_string()
    }

    #[test]
    fn an_outbound_only_configuration_needs_no_route() {
        let env: HashMap<String, String> = HashMap::new();
        let text = format!(
            "{UPSTREAM}[outbound]\n[[subscriptions]]\nid = \"a\"\nurl = \"https://x.example/h\"\nevents = [\"job.*\"]\nsecrets = [{{ id = \"v1\", value = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }}]\n"
        );
        let config = Config::from_text(&text, Format::Toml, Path::new("o.toml"), &env).unwrap();
        assert_eq!(
            config.outbound.unwrap().listen.to_string(),
            "127.0.0.1:8081"
        );
        assert_eq!(config.subscriptions[0].scheme, "standard-webhooks");
    }

    #[test]
    fn every_subscription_problem_is_reported_with_its_place() {
        let p = problems(
            r#"
[outbound]
listen = "0.0.0.0:8081"
allow_networks = ["10.0.0.1/8"]

[[routes]]
id = "github"
match.path = "/gh"
scheme = "github"
secrets = [{ id = "p", value = "x" }]

[[subscriptions]]
id = "github"
url = "http://plain.example/h"
events = ["job completed", "job.*"]
secrets = [{ id = "v1", value = "not-a-whsec" }]
max_retries = 11
timeout = "1s"
auth = { kind = "header", primary = { id = "k", value = "key" } }

[[subscriptions]]
id = "mail"
url = "https://m.example/h"
events = []
scheme = "mailgun"
secrets = [{ id = "v1", value = "key-1" }]
"#,
        );
        for expected in [
            "o.toml:4:8: outbound.tokens: the outbound listener on 0.0.0.0:8081 is reachable beyond this host",
            "outbound.allow_networks[0]: \"10.0.0.1/8\" has host bits set",
            "subscriptions[0].id: \"github\" is also the id of routes[0]",
            "subscriptions[0].url: a plain http:// endpoint",
            "subscriptions[0].events[0]: \"job completed\" is not an event filter",
            "subscriptions[0].secrets[0]: scheme standard-webhooks cannot sign events with this secret",
            "subscriptions[0].max_retries: 11 retries is out of range",
            "subscriptions[0].timeout: an attempt timeout of 1s is out of range",
            "subscriptions[0].auth.header: kind = \"header\" needs the header's name",
            "subscriptions[1].events: no event type is delivered",
            "subscriptions[1].secrets[0]: scheme mailgun cannot sign events with this secret: it rewrites the body",
        ] {
            assert!(p.contains(expected.split_once(": ").map_or(expected, |(at, rest)| if at.starts_with("o.toml") { rest } else { expected })), "missing {expected:?} in\n{p}");
        }
    }

    #[test]
    fn subscriptions_need_the_outbound_table() {
        let p = problems(
            "[[routes]]\nid = \"r\"\nmatch.path = \"/r\"\nscheme = \"github\"\nsecrets = [{ id = \"p\", value = \"x\" }]\n[[subscriptions]]\nid = \"a\"\nurl = \"https://x.example/h\"\nevents = [\"*\"]\nsecrets = [{ id = \"v1\", value = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }]\n",
        );
        assert!(
            p.contains("subscriptions without an `[outbound]` table are never used"),
            "{p}"
        );
    }
}
