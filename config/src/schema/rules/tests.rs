//! `hookguard check` on payload rules: each mistake at its own field's file:line:col.

use std::collections::HashMap;
use std::path::Path;

use crate::{Config, Format};

const ROUTE: &str = r#"
upstream.address = "127.0.0.1:3000"

[[routes]]
id = "orders"
match.path = "/webhooks/orders"
scheme = "SCHEME"
secrets = [{ id = "primary", value = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }]
"#;

fn problems(dir: &Path, scheme: &str, rules: &str) -> Vec<String> {
    let text = format!(
        "{}\n[routes.rules]\n{rules}",
        ROUTE.replace("SCHEME", scheme)
    );
    let file = dir.join("h.toml");
    match Config::from_text(
        &text,
        Format::Toml,
        &file,
        &HashMap::<String, String>::new(),
    ) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().iter().map(ToString::to_string).collect(),
    }
}

/// `line:col` of `needle` in the rules text, counted in the whole file.
fn pos(scheme: &str, rules: &str, needle: &str) -> String {
    let text = format!(
        "{}\n[routes.rules]\n{rules}",
        ROUTE.replace("SCHEME", scheme)
    );
    let offset = text.find(needle).unwrap();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{column}")
}

fn has(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "{needle:?} not among:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn good_rules_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("order.json"), r#"{"type":"object"}"#).unwrap();
    let rules = r#"
events = ["invoice.*"]
ignore = ["invoice.test"]
payload_schema = "order.json"
transform = { id = "$.data.id", route = "{{ route }}" }
on_missing = "error"
add_headers = { "X-Team" = "payments" }
remove_headers = ["X-Forwarded-Host"]
"#;
    assert_eq!(problems(dir.path(), "stripe", rules), Vec::<String>::new());
}

#[test]
fn each_mistake_is_reported_at_its_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.json"),
        "{\n  \"type\": \"object\",\n  oops\n}",
    )
    .unwrap();
    let rules = r#"
events = ["push", "pull_*"]
payload_schema = "broken.json"
transform = { a = { b = "$.x[?" } }
add_headers = { "X-Hookguard-Route" = "forged" }
remove_headers = ["Content-Length"]
"#;
    let p = problems(dir.path(), "github", rules);
    let file = dir.path().join("h.toml").display().to_string();
    has(
        &p,
        &format!(
            "{file}:{}: routes[0].rules.events[1]: \"pull_*\" is not an event pattern",
            pos("github", rules, "\"pull_*\"")
        ),
    );
    has(
        &p,
        &format!(
            "{file}:{}: routes[0].rules.payload_schema: ",
            pos("github", rules, "\"broken.json\"")
        ),
    );
    has(&p, "broken.json:3:3: not JSON");
    has(
        &p,
        &format!(
            "{file}:{}: routes[0].rules.transform.a.b: \"$.x[?\" is not a JSONPath",
            pos("github", rules, "\"$.x[?\"")
        ),
    );
    has(&p, "routes[0].rules.add_headers.X-Hookguard-Route: X-Hookguard-Route is one of hookguard's own headers");
    has(
        &p,
        "routes[0].rules.remove_headers[0]: Content-Length frames the request",
    );
    assert_eq!(p.len(), 5, "{p:#?}");
}

#[test]
fn a_missing_schema_file_and_an_unknown_event_source_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = problems(
        dir.path(),
        "hmac",
        "events = [\"a\"]\npayload_schema = \"nope.json\"\n",
    );
    has(
        &p,
        "routes[0].rules.event_source: scheme hmac has no known event type",
    );
    has(&p, "routes[0].rules.payload_schema: cannot read");
    let p = problems(
        dir.path(),
        "hmac",
        "events = [\"a\"]\nevent_source = { preset = \"nosuch\" }\n",
    );
    has(
        &p,
        "routes[0].rules.event_source.preset: no preset for \"nosuch\"",
    );
    let p = problems(
        dir.path(),
        "hmac",
        "events = [\"a\"]\nevent_source = { preset = \"github\", header = \"X\" }\n",
    );
    has(
        &p,
        "routes[0].rules.event_source: `preset` cannot be combined",
    );
}
