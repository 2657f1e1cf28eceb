use std::collections::HashMap;
use std::path::Path;

use crate::{Config, ConfigError, Format, Lookup, Router};

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(text: &str, format: Format, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let file = match format {
        Format::Toml => "h.toml",
        Format::Yaml => "h.yaml",
    };
    Config::from_text(text, format, Path::new(file), &env(vars))
}

fn problems(text: &str, format: Format, vars: &[(&str, &str)]) -> Vec<String> {
    load(text, format, vars)
        .expect_err("the configuration should be refused")
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// `FILE:LINE:COL` of the `n`th occurrence of `needle`, found by plain text search.
fn at(file: &str, text: &str, needle: &str, n: usize) -> String {
    let offset = text
        .match_indices(needle)
        .nth(n)
        .unwrap_or_else(|| panic!("{needle:?} occurs fewer than {} times", n + 1))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{file}:{line}:{column}")
}

fn assert_has(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p == expected),
        "missing problem:\n  {expected}\namong:\n  {}",
        problems.join("\n  ")
    );
}

const KEY_A: &str = "wh_0123456789abcdefghijABCDEFGHIJkl";
const KEY_B: &str = "wh_ZYXWVUTSRQponmlkjihg9876543210ab";

const GOOD: &str = r#"
upstream.address = "127.0.0.1:3000"

[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{ id = "primary", value = "It's a Secret to Everybody" }]
"#;

#[test]
fn a_good_file_loads_with_its_defaults() {
    let config = load(GOOD, Format::Toml, &[]).unwrap();
    assert_eq!(config.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(config.admin_listen.to_string(), "127.0.0.1:9090");
    assert_eq!(config.shutdown_grace_period.get().as_secs(), 10);
    assert_eq!(config.defaults.body_limit.bytes(), 1 << 20);
    let route = &config.routes[0];
    assert_eq!(route.body_limit(&config.defaults), 1 << 20);
    assert!(route.replay.enabled);
    assert_eq!(route.replay.duplicate_status, 200);
    assert_eq!(route.build_scheme().unwrap().name(), "github");
    assert!(config.validate(&env(&[])).is_ok());
}

/// One file with many mistakes: every one is reported, each where it is.
const BAD: &str = r#"
listen = "0.0.0.0:8080"
colour = "blue"
upstream.address = "http://app:3000"
global_rate_limit = { requests = 0, per = "1s" }

[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "githb"
secrets = [{ id = "primary", env = "GITHUB_SECRET" }]

[[routes]]
id = "github"
match.path_prefix = "/webhooks"
scheme = "standard-webhooks"
secrets = [
  { id = "primary", value = "whsec_%%%%not-base64%%%%" },
  { id = "next", env = "not a name" },
]
ip.allow = ["10.0.0.1/8", "192.30.252.0/22", "example.com"]

[[routes]]
id = "keys"
match.key_prefix = "/k/"
match.keys = [{ key = "wh_short" }, { key = "KEY_A" }]
scheme = "hmac"
hmac.algorithm = "md5"
secrets = [{ id = "primary", value = "s" }]
rate_limit.per_client = { requests = 10, per = "1s", burst = 0 }
replay.duplicate_status = 404
"#;

#[test]
fn every_problem_is_reported_with_its_place() {
    let text = BAD.replace("KEY_A", KEY_A);
    let t = &text;
    let p = problems(t, Format::Toml, &[]);
    let f = "h.toml";
    assert_has(&p, &format!("{}: colour: unknown key `colour`; expected one of `listen`, `admin_listen`, `shutdown_grace_period`, `upstream`, `defaults`, `connections`, `global_rate_limit`, `routes`, `queue`, `admin`, `state`, `outbound`, `subscriptions`, `alerts`", at(f, t, "colour", 0)));
    assert_has(&p, &format!("{}: upstream.address: \"http://app:3000\" is a URL, not an address; expected host:port, such as \"127.0.0.1:3000\" or \"app:3000\"", at(f, t, "\"http://app", 0)));
    assert_has(&p, &format!("{}: global_rate_limit.requests: a rate of 0 requests refuses every request; expected at least 1 (to allow everything, remove the limit)", at(f, t, "0, per", 0)));
    assert_has(
        &p,
        &format!(
            "{}: routes[0].scheme: unknown scheme \"githb\"; expected one of {}",
            at(f, t, "\"githb\"", 0),
            crate::SCHEME_NAMES.join(", ")
        ),
    );
    assert_has(&p, &format!("{}: routes[0].secrets[0].env: environment variable GITHUB_SECRET is not set; expected GITHUB_SECRET set in the sidecar's environment", at(f, t, "\"GITHUB_SECRET\"", 0)));
    assert_has(&p, &format!("{}: routes[1].id: route id \"github\" is already used by routes[0]; expected route ids unique in the file", at(f, t, "\"github\"", 1)));
    assert_has(&p, &format!("{}: routes[1].match.path_prefix: routes[1] (github) and routes[0] (github) both match /webhooks/github; expected matches that never take the same path: change one, or drop the exact path that a prefix already takes", at(f, t, "\"/webhooks\"", 0)));
    assert_has(&p, &format!("{}: routes[1].secrets[0].value: the secret cannot be used with scheme standard-webhooks: not base64 after whsec_; expected whsec_<base64> (or bare base64) for v1, whpk_<base64> for v1a", at(f, t, "\"whsec_", 0)));
    assert_has(&p, &format!("{}: routes[1].secrets[1].env: this is not an environment variable name; expected a name of letters, digits and `_`, such as GITHUB_WEBHOOK_SECRET", at(f, t, "\"not a name\"", 0)));
    assert_has(&p, &format!("{}: routes[1].ip.allow[0]: \"10.0.0.1/8\" has host bits set (did you mean 10.0.0.0/8?); expected an IP address or a CIDR network such as \"192.30.252.0/22\"", at(f, t, "\"10.0.0.1/8\"", 0)));
    assert_has(&p, &format!("{}: routes[1].ip.allow[2]: \"example.com\" is not an IP address or CIDR network; expected an IP address or a CIDR network such as \"192.30.252.0/22\"", at(f, t, "\"example.com\"", 0)));
    assert_has(&p, &format!("{}: routes[2].match.keys[0].key: key 0 is malformed (8 characters); expected \"wh_\" followed by 32 letters or digits", at(f, t, "\"wh_short\"", 0)));
    assert_has(&p, &format!("{}: routes[2].hmac.algorithm: unknown algorithm \"md5\"; expected sha1, sha256 or sha512", at(f, t, "\"md5\"", 0)));
    assert_has(&p, &format!("{}: routes[2].rate_limit.per_client.burst: a burst of 0 refuses every request; expected at least 1, or unset (then equal to `requests`)", at(f, t, "0 }", 0)));
    assert_has(&p, &format!("{}: routes[2].replay.duplicate_status: 404 is not a status for a duplicate delivery; expected 200 (acknowledge, the provider stops retrying) or 409", at(f, t, "404", 0)));
    assert_eq!(p.len(), 15, "{}", p.join("\n"));
    // No secret value reaches any message, the valid key included.
    for secret in ["%%%%not-base64", KEY_A, "wh_short"] {
        assert!(
            p.iter().all(|m| !m.contains(secret)),
            "{secret} leaked: {p:?}"
        );
    }
    // Problems come in file order.
    let lines: Vec<usize> = p
        .iter()
        .map(|m| m.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn yaml_reports_the_same_problems_at_yaml_positions() {
    let yaml = r#"
upstream:
  address: 127.0.0.1:3000
routes:
  - id: github
    match: { path: /webhooks/github }
    scheme: githb
    secrets:
      - id: primary
        value: s
        colour: blue
  - id: other
    match: { path: /webhooks/github }
    scheme: github
    secrets: [{ id: primary, value: s }]
    tolerance: 5m
"#;
    let p = problems(yaml, Format::Yaml, &[]);
    let f = "h.yaml";
    assert_has(
        &p,
        &format!(
            "{}: routes[0].scheme: unknown scheme \"githb\"; expected one of {}",
            at(f, yaml, "githb", 0),
            crate::SCHEME_NAMES.join(", ")
        ),
    );
    assert_has(&p, &format!("{}: routes[0].secrets[0].colour: unknown key `colour`; expected one of `id`, `value`, `env`, `file`, `vault`, `infisical`, `rotated_at`, `max_age`", at(f, yaml, "colour", 0)));
    assert_has(&p, &format!("{}: routes[1].match.path: routes[1] (other) and routes[0] (github) both match /webhooks/github; expected matches that never take the same path: change one, or drop the exact path that a prefix already takes", at(f, yaml, "/webhooks/github", 1)));
    assert_has(&p, &format!("{}: routes[1].tolerance: scheme github signs no timestamp, so a tolerance has no effect; expected no tolerance on this route (the replay guard still stops replays)", at(f, yaml, "5m", 0)));
    assert_eq!(p.len(), 4, "{}", p.join("\n"));
}

#[test]
fn type_errors_in_optional_values_do_not_hide_later_ones() {
    let text = GOOD.to_string()
        + "body_limit = \"lots\"\nmode = \"loud\"\nreplay.window = 42\ntolerance = 300\n";
    let p = problems(&text, Format::Toml, &[]);
    let f = "h.toml";
    assert_has(&p, &format!("{}: routes[0].body_limit: \"lots\" does not start with a whole number; expected a number of bytes, or a string such as \"1MiB\", \"64KiB\", \"512B\" or \"10MB\"", at(f, &text, "\"lots\"", 0)));
    assert_has(
        &p,
        &format!(
            "{}: routes[0].mode: unknown variant `loud`; expected `enforce` or `shadow`",
            at(f, &text, "\"loud\"", 0)
        ),
    );
    assert_has(&p, &format!("{}: routes[0].replay.window: the number 42 has no unit; expected a duration with a unit such as \"500ms\", \"10s\", \"5m\" or \"1h 30m\" (\"42s\" for seconds)", at(f, &text, "42", 0)));
    assert_has(&p, &format!("{}: routes[0].tolerance: the number 300 has no unit; expected \"off\" or a duration with a unit such as \"500ms\", \"10s\", \"5m\" or \"1h 30m\" (\"300s\" for seconds)", at(f, &text, "300\n", 0)));
    assert_eq!(p.len(), 4, "{}", p.join("\n"));
}

#[test]
fn a_missing_required_value_is_reported_once_at_its_table() {
    let text =
        "[[routes]]\nid = \"a\"\nmatch.path = \"/a\"\nsecrets = [{ id = \"p\", value = \"s\" }]\n";
    let p = problems(text, Format::Toml, &[]);
    assert_has(
        &p,
        "h.toml:1:1: routes[0]: missing key `scheme`; expected `scheme` to be set here",
    );
    assert_has(
        &p,
        "h.toml: missing key `upstream`; expected `upstream` to be set here",
    );
    assert_eq!(p.len(), 2, "{}", p.join("\n"));
    // A required value of the wrong type is reported as such, not also as missing.
    let text = GOOD.replace("scheme = \"github\"", "scheme = 7");
    let p = problems(&text, Format::Toml, &[]);
    assert_eq!(
        p,
        vec![
            "h.toml:7:10: routes[0].scheme: invalid type: integer `7`; expected a string"
                .to_string()
        ]
    );
}

#[test]
fn a_secret_or_key_of_the_wrong_type_is_not_quoted() {
    let text = GOOD.replace(
        "secrets = [{ id = \"primary\", value = \"It's a Secret to Everybody\" }]",
        "secrets = \"It's a Secret to Everybody\"",
    );
    let p = problems(&text, Format::Toml, &[]);
    assert_eq!(
        p,
        vec![format!(
            "{}: routes[0].secrets: invalid type: string (value not shown); expected a sequence",
            at("h.toml", &text, "\"It's", 0)
        )]
    );
    let text = GOOD.replace(
        "match.path = \"/webhooks/github\"",
        &format!("match.key_prefix = \"/k/\"\nmatch.keys = \"{KEY_A}\""),
    );
    let p = problems(&text, Format::Toml, &[]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains(
            "routes[0].match.keys: invalid type: string (value not shown); expected a sequence"
        ),
        "{p:?}"
    );
    assert!(!p[0].contains(KEY_A));
    // Elsewhere the value helps and is shown.
    let p = problems(
        &GOOD.replace("scheme = \"github\"", "scheme = [\"github\"]"),
        Format::Toml,
        &[],
    );
    assert!(
        p[0].contains("invalid type: sequence, expected a string")
            || p[0].contains("invalid type: sequence; expected a string"),
        "{p:?}"
    );
}

#[test]
fn overrides_apply_and_their_mistakes_name_the_variable() {
    let config = load(
        GOOD,
        Format::Toml,
        &[
            ("HOOKGUARD__UPSTREAM__ADDRESS", "app:9000"),
            ("HOOKGUARD__ROUTES__GITHUB__MODE", "shadow"),
        ],
    )
    .unwrap();
    assert_eq!(config.upstream.address, "app:9000");
    assert_eq!(config.routes[0].mode(&config.defaults), crate::Mode::Shadow);
    let p = problems(
        GOOD,
        Format::Toml,
        &[
            ("HOOKGUARD__ROUTES__GITHUB__MODE", "loud"),
            ("HOOKGUARD__DEFAULTS__COLOUR", "blue"),
        ],
    );
    assert_has(&p, "environment variable HOOKGUARD__ROUTES__GITHUB__MODE: routes[0].mode: unknown variant `loud`; expected `enforce` or `shadow`");
    assert_has(&p, "environment variable HOOKGUARD__DEFAULTS__COLOUR: defaults.colour: unknown key `colour`; expected one of `body_limit`, `body_read_timeout`, `tolerance`, `mode`");
}

#[test]
fn secrets_are_checked_from_every_local_source_without_showing_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.secret"),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.secret"), "whsec_%%%%\n").unwrap();
    let text = r#"
upstream.address = "127.0.0.1:3000"
[[routes]]
id = "svix"
match.path = "/svix"
scheme = "standard-webhooks"
secrets = [
  { id = "a", file = "good.secret" },
  { id = "b", file = "bad.secret" },
  { id = "c", file = "missing.secret" },
  { id = "d", env = "SVIX_SECRET" },
  { id = "e", value = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", env = "X" },
  { id = "f" },
  { id = "a", vault = { addr = "vault:8200", path = "p", key = "" } },
]
"#;
    let file = dir.path().join("h.toml");
    let err = Config::from_text(
        text,
        Format::Toml,
        &file,
        &env(&[("SVIX_SECRET", "whsec_%%%%")]),
    )
    .unwrap_err();
    let p: Vec<String> = err
        .problems()
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect();
    let expected = [
        "routes[0].secrets[1].file: the file's content cannot be used with scheme standard-webhooks: not base64 after whsec_",
        &format!("routes[0].secrets[2].file: cannot read {}: No such file or directory (os error 2)", dir.path().join("missing.secret").display()),
        "routes[0].secrets[3].env: the value of SVIX_SECRET cannot be used with scheme standard-webhooks: not base64 after whsec_",
        "routes[0].secrets[4].env: the secret names several sources: value, env",
        "routes[0].secrets[5]: the secret names no source",
        "routes[0].secrets[6].id: secret id \"a\" is already used by secrets[0]",
        "routes[0].secrets[6].vault.addr: \"vault:8200\" is a vault URL",
        "routes[0].secrets[6].vault.key: this is empty",
        "routes[0].secrets[6].vault.token_env: environment variable VAULT_TOKEN is not set",
    ];
    for e in expected {
        assert!(p.iter().any(|m| m == e), "missing {e:?} among {p:#?}");
    }
    assert_eq!(p.len(), expected.len(), "{p:#?}");
    assert!(!err.to_string().contains("%%%%"));
}

#[test]
fn guards_that_would_let_replays_through_or_cannot_verify_are_refused() {
    let text = r#"
upstream.address = "127.0.0.1:3000"
[defaults]
tolerance = "10m"
[[routes]]
id = "stripe"
match.path = "/stripe"
scheme = "stripe"
secrets = [{ id = "p", value = "whsec_test" }]
replay.window = "15m"
[[routes]]
id = "square"
match.path = "/square"
scheme = "square"
secrets = [{ id = "p", value = "sq" }]
"#;
    let p = problems(text, Format::Toml, &[]);
    assert_has(&p, &format!("{}: routes[0].replay.window: the replay window (15m) is shorter than twice the tolerance (10m): a delivery could be replayed after its record is forgotten while its timestamp is still accepted; expected a window of at least 20m, or no window (then twice the tolerance)", at("h.toml", text, "\"15m\"", 0)));
    assert_has(&p, &format!("{}: routes[1].public_url: scheme square signs the URL the provider called, and it is not set; expected public_url = \"https://…\" as configured at the provider", at("h.toml", text, "[[routes]]", 1)));
    assert_eq!(p.len(), 2, "{}", p.join("\n"));
}

#[test]
fn key_routes_share_a_prefix_and_resolve_by_key() {
    let text = format!(
        r#"
upstream.address = "127.0.0.1:3000"
[[routes]]
id = "a"
match = {{ key_prefix = "/webhooks/", keys = [{{ key = "{KEY_A}" }}] }}
scheme = "github"
secrets = [{{ id = "p", value = "s" }}]
rewrite = "/hooks/a"
[[routes]]
id = "b"
match = {{ key_prefix = "/webhooks/", keys = [{{ key = "{KEY_B}", enabled = false }}] }}
scheme = "github"
secrets = [{{ id = "p", value = "s" }}]
[[routes]]
id = "c"
match.path_prefix = "/other"
rewrite = "/in"
scheme = "github"
secrets = [{{ id = "p", value = "s" }}]
"#
    );
    let config = load(&text, Format::Toml, &[]).unwrap();
    let router = Router::new(&config);
    assert_eq!(
        router.lookup(&format!("/webhooks/{KEY_A}")),
        Lookup::Route { index: 0 }
    );
    assert_eq!(
        router.lookup(&format!("/webhooks/{KEY_B}")),
        Lookup::KeyDisabled { index: 1 }
    );
    assert_eq!(
        router.lookup("/webhooks/wh_unknownunknownunknownunknown12"),
        Lookup::NotFound
    );
    assert_eq!(router.lookup("/other/x/y"), Lookup::Route { index: 2 });
    assert_eq!(router.lookup("/otherx"), Lookup::NotFound);
    assert_eq!(
        config.routes[0].upstream_path(&format!("/webhooks/{KEY_A}")),
        "/hooks/a"
    );
    assert_eq!(config.routes[2].upstream_path("/other/x/y"), "/in/x/y");
    assert_eq!(config.routes[2].upstream_path("/other"), "/in");
    // `{:?}` of the configuration never shows a key or an inline secret.
    let debug = format!("{config:?}");
    assert!(
        !debug.contains(KEY_A) && !debug.contains("value: Some(\"s\")"),
        "{debug}"
    );

    // The same key twice, and a prefix route over the key prefix, are refused.
    let dup = text
        .replace(KEY_B, KEY_A)
        .replace("\"/other\"", "\"/webhooks\"");
    let p = problems(&dup, Format::Toml, &[]);
    assert_has(&p, &format!("{}: routes[1].match.keys[0].key: this key is already used by routes[0].match.keys[0]; expected every key used once in the file", at("h.toml", &dup, &format!("\"{KEY_A}\""), 1)));
    assert_has(&p, &format!("{}: routes[2].match.path_prefix: routes[2] (c) and routes[0] (a) both match /webhooks/{{key}}; expected matches that never take the same path: change one, or drop the exact path that a prefix already takes", at("h.toml", &dup, "\"/webhooks\"", 0)));
}

#[test]
fn a_configuration_built_in_code_validates_without_positions() {
    let mut config = load(GOOD, Format::Toml, &[]).unwrap();
    config.routes[0].scheme = "nope".into();
    config.routes.push(config.routes[0].clone());
    let err = config.validate(&env(&[])).unwrap_err();
    let p: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    // Positions still come from the file the configuration was loaded from.
    assert!(
        p.iter()
            .any(|m| m.starts_with("h.toml:7:10: routes[0].scheme: unknown scheme \"nope\"")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.contains("routes[1].id: route id \"github\" is already used by routes[0]")),
        "{p:?}"
    );
}

#[test]
fn check_summary_names_sources_but_never_values() {
    let text = GOOD.replace(
        "secrets = [{ id = \"primary\", value = \"It's a Secret to Everybody\" }]",
        "secrets = [{ id = \"primary\", value = \"It's a Secret to Everybody\" }, { id = \"next\", env = \"NEXT\" }]\nrate_limit.per_client = { requests = 10, per = \"1s\" }",
    );
    let config = load(&text, Format::Toml, &[("NEXT", "next-secret")]).unwrap();
    let summary = config.summary();
    assert!(summary.contains("configuration h.toml: OK"), "{summary}");
    assert!(
        summary.contains(
            "github: path /webhooks/github, scheme github, mode enforce, body limit 1MiB"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("secrets: primary (inline), next (env NEXT)"),
        "{summary}"
    );
    assert!(
        summary.contains("rate per client 10/1s (burst 10)"),
        "{summary}"
    );
    assert!(
        summary.contains("secret sources: 1 env, 1 inline"),
        "{summary}"
    );
    assert!(
        !summary.contains("It's a Secret") && !summary.contains("next-secret"),
        "{summary}"
    );
}

#[test]
fn check_summary_says_what_the_replay_guard_can_promise() {
    let text = format!(
        "{GOOD}{}",
        r#"
[[routes]]
id = "stripe"
match.path = "/webhooks/stripe"
scheme = "stripe"
secrets = [{ id = "primary", value = "whsec_x" }]

[[routes]]
id = "slack"
match.path = "/webhooks/slack"
scheme = "slack"
secrets = [{ id = "primary", value = "x" }]
"#
    );
    let config = load(&text, Format::Toml, &[]).unwrap();
    let summary = config.summary();
    let guard = |route: &str| {
        let at = summary.find(&format!("  {route}: ")).unwrap();
        summary[at..].lines().nth(2).unwrap().to_string()
    };
    // GitHub does not sign X-GitHub-Delivery: a fresh id makes a captured delivery new.
    assert!(
        guard("github").ends_with("(duplicates answered 200; the delivery id is not signed, so it stops exact resends only)"),
        "{summary}"
    );
    assert!(
        guard("stripe").ends_with("(duplicates answered 200)"),
        "{summary}"
    );
    assert!(
        guard("slack").contains("the scheme sends no delivery id"),
        "{summary}"
    );
}

#[test]
fn queue_settings_out_of_range_are_reported_with_their_place() {
    let t = r#"
upstream.address = "127.0.0.1:3000"

[queue]
retry_schedule = []
breaker = { failure_rate = 1.5 }
encryption_keys = [{ id = "k1", value = "c2hvcnQ=" }]

[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{ id = "primary", value = "s" }]
delivery = "queue"
queue = { max_retries = 11, timeout = "2s", ordering_key = { json_path = "$[" } }

[[routes]]
id = "forwarded"
match.path = "/webhooks/other"
scheme = "github"
secrets = [{ id = "primary", value = "s" }]
queue = { concurrency = 0 }
"#;
    let f = "h.toml";
    let p = problems(t, Format::Toml, &[]);
    assert_has(&p, &format!("{}: queue.retry_schedule: the retry schedule is empty; expected at least one delay, e.g. [\"5s\", \"30s\", \"2m\"]", at(f, t, "[]", 0)));
    assert_has(&p, &format!("{}: queue.breaker.failure_rate: 1.5 is not a share of attempts; expected a number above 0 and at most 1, e.g. 0.5", at(f, t, "1.5", 0)));
    assert_has(&p, &format!("{}: queue.encryption_keys[0]: the key decodes to 5 bytes; expected 32 random bytes in base64, e.g. from `openssl rand -base64 32`", at(f, t, "{ id = \"k1\"", 0)));
    assert_has(
        &p,
        &format!(
            "{}: routes[0].queue.max_retries: 11 retries is out of range; expected 1 to 10",
            at(f, t, "11", 0)
        ),
    );
    assert_has(&p, &format!("{}: routes[0].queue.timeout: an attempt timeout of 2s is out of range; expected 5s to 300s", at(f, t, "\"2s\"", 0)));
    assert!(p.iter().any(|p| p.contains("routes[0].queue.ordering_key.json_path: \"$[\" is not a JSONPath")), "{p:?}");
    assert!(
        p.iter().any(|p| p
            .contains("routes[1].queue: the `queue` table has no effect on a route that forwards")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| p
                .contains("routes[1].queue.concurrency: a concurrency of 0 would never deliver")),
        "{p:?}"
    );
    // The key's value never appears.
    assert!(p.iter().all(|p| !p.contains("c2hvcnQ")), "{p:?}");
}

#[test]
fn standard_webhooks_secret_without_base64_padding_is_accepted() {
    // 32 bytes: its base64 ends in one `=`, dropped here as some dashboards show it.
    for secret in [
        "whsec_FPAsQnHHZMfp/KVdBo+3fhll1fqWjLXFusokW26F6gs",
        "whsec_FPAsQnHHZMfp/KVdBo+3fhll1fqWjLXFusokW26F6gs=",
    ] {
        let text = format!(
            "upstream.address = \"127.0.0.1:3000\"\n\
             [[routes]]\n\
             id = \"svix\"\n\
             match.path = \"/svix\"\n\
             scheme = \"standard-webhooks\"\n\
             secrets = [{{ id = \"p\", value = \"{secret}\" }}]\n"
        );
        if let Err(e) = load(&text, Format::Toml, &[]) {
            panic!("{secret}: {e}");
        }
    }
}

#[test]
fn a_key_route_without_keys_needs_the_admin_api() {
    let route = r#"
upstream.address = "127.0.0.1:3000"
[[routes]]
id = "partner"
match = { key_prefix = "/hooks/" }
scheme = "github"
secrets = [{ id = "primary", value = "s" }]
"#;
    let load = |text: &str| {
        Config::from_text(
            text,
            crate::Format::Toml,
            "h.toml".as_ref(),
            &std::collections::HashMap::new(),
        )
    };
    let err = load(route).unwrap_err().to_string();
    assert!(err.contains("the key route has no keys"), "{err}");
    assert!(err.contains("admin.tokens"), "{err}");
    let with_api = format!("{route}\n[admin]\ntokens = [{{ id = \"ops\", value = \"t\" }}]\n");
    if let Err(e) = load(&with_api) {
        panic!("{e}");
    }
}

#[test]
fn captured_routes_must_exist() {
    let t = r#"
upstream.address = "127.0.0.1:3000"
[admin]
events = { capture = ["github", "gitlab"] }
[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{ id = "primary", value = "s" }]
"#;
    let err = Config::from_text(t, Format::Toml, "h.toml".as_ref(), &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("admin.events.capture[1]: no route \"gitlab\""),
        "{err}"
    );
    assert!(!err.contains("capture[0]"), "{err}");
}

#[test]
fn state_settings_are_checked_without_showing_the_url() {
    let t = r#"
upstream.address = "127.0.0.1:3000"

[state]
backend = "redis"
url = "http://admin:hunter2@redis.internal:6379"
prefix = "{shop}"
command_timeout = "0s"
on_failure = { queue = "fail_open" }

[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{ id = "primary", value = "s" }]
"#;
    let p = problems(t, Format::Toml, &[]);
    assert!(p.iter().any(|p| p.contains("state.url: the Redis URL has scheme \"http\" (the URL is not shown); expected redis://host:6379/0")), "{p:?}");
    assert!(
        p.iter()
            .any(|p| p.contains("state.prefix: prefix \"{shop}\" contains a brace")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| p.contains("state.command_timeout: a duration of 0")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| p.contains("state.on_failure.queue: the queue cannot fail open")),
        "{p:?}"
    );
    assert!(p.iter().all(|p| !p.contains("hunter2")), "{p:?}");

    let missing = problems(
        &GOOD.replace(
            "[[routes]]",
            "[state]\nbackend = \"redis\"\nurl_env = \"REDIS_URL\"\n\n[[routes]]",
        ),
        Format::Toml,
        &[],
    );
    assert!(
        missing.iter().any(|p| p.contains(
            "state.url_env: cannot read the Redis URL: environment variable REDIS_URL is not set"
        )),
        "{missing:?}"
    );
    let unused = problems(
        &GOOD.replace(
            "[[routes]]",
            "[state]\nurl = \"redis://x:6379\"\n\n[[routes]]",
        ),
        Format::Toml,
        &[],
    );
    assert!(
        unused
            .iter()
            .any(|p| p.contains("state.url: a Redis URL is set but `backend` is \"memory\"")),
        "{unused:?}"
    );

    let good = GOOD.replace(
        "[[routes]]",
        "[state]\nbackend = \"redis\"\nurl_env = \"REDIS_URL\"\n\n[[routes]]",
    );
    let config = load(
        &good,
        Format::Toml,
        &[("REDIS_URL", "rediss://:pw@redis:6380/0")],
    )
    .expect("a redis state loads");
    assert!(
        config.state.queue_in_redis(),
        "the queue follows the backend"
    );
    assert_eq!(
        config.state.on_failure,
        crate::FailureModes {
            rate_limits: crate::FailureModeName::FailOpen,
            replay: crate::FailureModeName::FailClosed,
            queue: crate::FailureModeName::FailClosed,
        }
    );
}

#[test]
fn sentinel_and_cluster_settings_are_checked_with_file_and_line() {
    let t = r#"
upstream.address = "127.0.0.1:3000"

[state]
backend = "redis"
cluster = ["10.0.0.1:6379", "redis://admin:hunter2@10.0.0.2:6379", "10.0.0.3"]

[state.sentinel]
master_name = ""
nodes = ["10.0.0.5:26379", "http://10.0.0.6:26379", "10.0.0.7:99999"]
password_env = "SENTINEL_PASSWORD"

[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{ id = "primary", value = "s" }]
"#;
    let p = problems(t, Format::Toml, &[]);
    let f = "h.toml";
    // Each problem as the test says (those given with FILE:LINE:COL at that place).
    let assert_has = |p: &[String], expected: &str| {
        assert!(
            p.iter().any(|p| p.contains(expected)),
            "missing problem:\n  {expected}\namong:\n  {}",
            p.join("\n  ")
        );
    };
    assert_has(
        &p,
        &format!(
            "{}: state.cluster: both `sentinel` and `cluster` are set; expected one of them",
            at(f, t, "[\"10.0.0.1", 0)
        ),
    );
    assert_has(
        &p,
        &format!(
            "{}: state.cluster[1]: cluster node address holds credentials (not shown); expected a cluster node address, \"host:6379\" or \"redis://host:6379\" (\"rediss://\" for TLS), the password in `url_env`/`url_file`",
            at(f, t, "\"redis://admin", 0)
        ),
    );
    assert_has(
        &p,
        &format!(
            "{}: state.cluster[2]: cluster node address \"10.0.0.3\" has no port",
            at(f, t, "\"10.0.0.3\"", 0)
        ),
    );
    assert_has(
        &p,
        &format!(
            "{}: state.sentinel.master_name: master name \"\" is empty or has spaces",
            at(f, t, "\"\"", 0)
        ),
    );
    assert_has(
        &p,
        "state.sentinel.nodes[1]: sentinel address \"http://10.0.0.6:26379\" has scheme \"http\"",
    );
    assert_has(
        &p,
        "state.sentinel.nodes[2]: sentinel address \"10.0.0.7:99999\" has port \"99999\", not 1 to 65535",
    );
    assert_has(
        &p,
        "state.sentinel.password_env: cannot read the sentinels' password: environment variable SENTINEL_PASSWORD is not set",
    );
    assert!(p.iter().all(|p| !p.contains("hunter2")), "{p:?}");
    // With a topology the URL is optional: no "needs Redis's URL".
    assert!(p.iter().all(|p| !p.contains("needs Redis's URL")), "{p:?}");

    let unused = problems(
        &GOOD.replace("[[routes]]", "[state]\ncluster = [\"a:1\"]\n\n[[routes]]"),
        Format::Toml,
        &[],
    );
    assert!(
        unused.iter().any(|p| {
            p.contains(
            "state.cluster: `cluster` is set but `backend` is \"memory\", so it would never be used"
        )
        }),
        "{unused:?}"
    );

    let empty = problems(
        &GOOD.replace(
            "[[routes]]",
            "[state]\nbackend = \"redis\"\ncluster = []\n\n[[routes]]",
        ),
        Format::Toml,
        &[],
    );
    assert!(
        empty.iter().any(|p| p
            .contains("state.cluster: no cluster node address is given; expected at least one")),
        "{empty:?}"
    );
}

#[test]
fn a_sentinel_or_cluster_state_loads_with_or_without_a_credentials_url() {
    let sentinel = GOOD.replace(
        "[[routes]]",
        "[state]\nbackend = \"redis\"\nurl_env = \"REDIS_URL\"\n\n[state.sentinel]\nmaster_name = \"mymaster\"\nnodes = [\"10.0.0.5:26379\", \"redis://sentinel-2:26379/\"]\npassword_env = \"SENTINEL_PASSWORD\"\n\n[[routes]]",
    );
    let config = load(
        &sentinel,
        Format::Toml,
        &[
            ("REDIS_URL", "redis://:pw@unused/2"),
            ("SENTINEL_PASSWORD", "spw"),
        ],
    )
    .expect("a sentinel state loads");
    let s = config.state.sentinel.expect("sentinel");
    assert_eq!(s.master_name, "mymaster");
    assert_eq!(s.nodes.len(), 2);

    let cluster = GOOD.replace(
        "[[routes]]",
        "[state]\nbackend = \"redis\"\ncluster = [\"10.0.0.1:6379\", \"rediss://10.0.0.2:6380\"]\n\n[[routes]]",
    );
    let config = load(&cluster, Format::Toml, &[]).expect("a cluster state loads without a URL");
    assert_eq!(config.state.cluster.map(|c| c.len()), Some(2));
}
