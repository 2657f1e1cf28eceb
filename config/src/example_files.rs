//! The example files in `examples/` load, validate, agree with each other, and match the
//! JSON Schema; the schema documents every field.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::document::{parse, Format};
use crate::{json_schema, Config, Loader, Lookup, Mode, Router};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// The variables and files `full.toml` reads, in a copy of it in a temporary directory.
fn full_setup() -> (tempfile::TempDir, HashMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["full.toml", "full.yaml"] {
        std::fs::copy(example(name), dir.path().join(name)).unwrap();
    }
    std::fs::create_dir(dir.path().join("schemas")).unwrap();
    std::fs::copy(
        example("schemas/partner-event.json"),
        dir.path().join("schemas/partner-event.json"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("secrets/github-next.secret"),
        "next-github-secret\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("ranges")).unwrap();
    std::fs::write(
        dir.path().join("ranges/stripe-webhooks.txt"),
        "3.18.12.63\n",
    )
    .unwrap();
    let env = [
        ("GITHUB_WEBHOOK_SECRET", "primary-github-secret"),
        ("VAULT_TOKEN", "hvs.token"),
        ("INFISICAL_CLIENT_ID", "client"),
        ("INFISICAL_CLIENT_SECRET", "client-secret"),
        // A Standard Webhooks secret: whsec_ and base64.
        (
            "PARTNER_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        ("SQUARE_SIGNATURE_KEY", "square-key"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    (dir, env)
}

fn load(path: &Path, env: HashMap<String, String>) -> Config {
    Loader::new(path)
        .with_env(std::sync::Arc::new(env))
        .load()
        .unwrap_or_else(|e| panic!("{} does not load:\n{e}", path.display()))
}

#[test]
fn the_queue_demo_loads_as_is() {
    let env = HashMap::from([(
        "HOOKGUARD_ADMIN_TOKEN".to_string(),
        "demo-admin-token".to_string(),
    )]);
    let config = load(&example("queue.toml"), env);
    assert_eq!(config.routes[0].delivery, crate::DeliveryMode::Queue);
    assert_eq!(config.queue.retry_schedule.len(), 3);
    assert_eq!(config.admin.tokens[0].id, "demo");
}

#[test]
fn the_outbound_example_loads_with_its_variables() {
    let env = [
        ("HOOKGUARD_ADMIN_TOKEN", "admin-token"),
        (
            "ACME_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        ("OPS_WEBHOOK_SECRET", "s3cret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = load(&example("outbound.toml"), env);
    assert!(
        config.routes.is_empty(),
        "an outbound-only sidecar needs no route"
    );
    assert_eq!(config.subscriptions.len(), 2);
    assert!(config.subscriptions[0].matches("job.completed"));
    assert!(!config.subscriptions[1].matches("job.completed"));
}

#[test]
fn quickstart_loads_as_is() {
    let config = load(&example("quickstart.toml"), HashMap::new());
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.upstream.address, "127.0.0.1:3000");
    let ids: Vec<&str> = config.routes.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["github", "stripe"]);
    let router = Router::new(&config);
    assert_eq!(
        router.lookup("/webhooks/github"),
        Lookup::Route { index: 0 }
    );
    assert_eq!(
        router.lookup("/webhooks/stripe"),
        Lookup::Route { index: 1 }
    );
    let summary = config.summary();
    assert!(
        !summary.contains("It's a Secret") && !summary.contains("whsec_quickstart"),
        "{summary}"
    );
}

#[test]
fn full_toml_and_yaml_are_the_same_configuration() {
    let (dir, env) = full_setup();
    let toml = load(&dir.path().join("full.toml"), env.clone());
    let yaml = load(&dir.path().join("full.yaml"), env);
    assert_eq!(toml, yaml);

    // A few values, to be sure both did not merely fall back to the same defaults.
    assert_eq!(toml.routes.len(), 6);
    assert_eq!(toml.global_rate_limit.unwrap().burst, Some(2000));
    let orders = toml.route("shopify-orders").unwrap();
    assert_eq!(orders.delivery, crate::DeliveryMode::Queue);
    assert_eq!(orders.queue.as_ref().unwrap().max_messages, Some(50_000));
    assert_eq!(toml.queue.retry_schedule.len(), 10);
    assert_eq!(toml.queue.durability, crate::DurabilityName::Fsync);
    assert_eq!(toml.admin.tokens[0].id, "ops");
    let rules = toml.route("partners").unwrap().rules.as_ref().unwrap();
    assert_eq!(
        rules.transform.as_ref().unwrap()["lines"],
        "$.data.items[*].sku"
    );
    assert_eq!(
        toml.route("github")
            .unwrap()
            .rules
            .as_ref()
            .unwrap()
            .events
            .len(),
        2
    );
    let billing = toml.route("billing").unwrap();
    assert_eq!(billing.mode(&toml.defaults), Mode::Shadow);
    assert_eq!(billing.build_scheme().unwrap().name(), "hmac");
    assert_eq!(
        billing.upstream_path("/webhooks/billing/invoices"),
        "/internal/billing/invoices"
    );
    let github = toml.route("github").unwrap();
    assert_eq!(github.secrets.len(), 2);
    assert!(github.secrets[0].is_overdue(1_768_467_600 + 91 * 86_400));
    assert!(!github.secrets[0].is_overdue(1_768_467_600 + 89 * 86_400));
    let next = github.secrets[1]
        .resolve_local(&HashMap::new(), dir.path())
        .unwrap()
        .unwrap();
    assert_eq!(next.expose(), "next-github-secret");
    let router = Router::new(&toml);
    assert_eq!(
        router.lookup("/hooks/wh_A7tY2uI9oP4lK1jH6gF3dS8aZ5xC0vBn"),
        Lookup::KeyDisabled { index: 3 }
    );
    assert_eq!(
        router.lookup("/webhooks/billing/x"),
        Lookup::Route { index: 2 }
    );
}

#[test]
fn full_reports_each_missing_variable_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("full.toml");
    std::fs::copy(example("full.toml"), &file).unwrap();
    let err = Loader::new(&file)
        .with_env(std::sync::Arc::new(HashMap::<String, String>::new()))
        .load()
        .unwrap_err();
    let text = err.to_string();
    for needle in [
        "routes[0].secrets[0].env: environment variable GITHUB_WEBHOOK_SECRET is not set",
        "routes[0].secrets[1].file: cannot read",
        "routes[1].ip.provider_ranges.file:",
        "routes[1].secrets[0].vault.token_env: environment variable VAULT_TOKEN is not set",
        "routes[2].secrets[0].infisical.client_id_env: environment variable INFISICAL_CLIENT_ID is not set",
        "routes[2].secrets[0].infisical.client_secret_env: environment variable INFISICAL_CLIENT_SECRET is not set",
        "routes[3].secrets[0].env: environment variable PARTNER_WEBHOOK_SECRET is not set",
        "routes[4].secrets[0].env: environment variable SQUARE_SIGNATURE_KEY is not set",
        "routes[3].rules.payload_schema: cannot read",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    assert_eq!(err.problems().len(), 9, "{text}");
}

/// The example files, read as the loader reads them, against the JSON Schema.
#[test]
fn the_json_schema_accepts_the_examples_and_refuses_mistakes() {
    let schema: Value = serde_json::from_str(&json_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for name in [
        "quickstart.toml",
        "queue.toml",
        "full.toml",
        "full.yaml",
        "outbound.toml",
    ] {
        let path = example(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let format = Format::from_path(&path).unwrap();
        let tree = parse(&text, format, &path).unwrap().tree;
        let errors: Vec<String> = validator
            .iter_errors(&tree)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
    let quickstart = std::fs::read_to_string(example("quickstart.toml")).unwrap();
    for (from, to) in [
        ("listen = ", "colour = \"blue\"\nlisten = "),
        ("tolerance = \"5m\"", "tolerance = 300"),
        (
            "scheme = \"stripe\"",
            "scheme = \"stripe\"\nmode = \"loud\"",
        ),
        ("scheme = \"stripe\"", "scheme = \"strype\""),
    ] {
        let text = quickstart.replacen(from, to, 1);
        let tree = parse(&text, Format::Toml, Path::new("q.toml"))
            .unwrap()
            .tree;
        assert!(!validator.is_valid(&tree), "the schema accepts {to:?}");
    }
}

/// Editors offer every scheme there is: the list comes from the schemes, not from a
/// hand-kept copy (which once listed 12 of 18).
#[test]
fn the_json_schema_lists_every_scheme() {
    let schema: Value = serde_json::from_str(&json_schema()).unwrap();
    let scheme = &schema["$defs"]["Route"]["properties"]["scheme"];
    let listed: Vec<&str> = scheme["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no enum in {scheme}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, crate::SCHEME_NAMES, "{scheme}");
    assert!(listed.len() >= 18, "{listed:?}");
}

/// Every field is documented: the schema is what editors show users.
#[test]
fn the_json_schema_describes_every_property() {
    let schema: Value = serde_json::from_str(&json_schema()).unwrap();
    let mut undocumented = Vec::new();
    walk(&schema, "#", &mut undocumented);
    assert!(
        undocumented.is_empty(),
        "fields without a description: {undocumented:#?}"
    );
    assert_eq!(schema["title"], "hookguard configuration");
    assert_eq!(schema["additionalProperties"], false);
}

fn walk(node: &Value, at: &str, undocumented: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                for (name, property) in properties {
                    if property.get("description").is_none() {
                        undocumented.push(format!("{at}/{name}"));
                    }
                }
            }
            for (key, value) in map {
                walk(value, &format!("{at}/{key}"), undocumented);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{at}/{i}"), undocumented);
            }
        }
        _ => {}
    }
}

#[test]
fn the_alerts_example_loads_as_is_and_its_commented_channels_load_too() {
    let config = load(&example("alerts.toml"), HashMap::new());
    let alerts = config.alerts.as_ref().expect("[alerts]");
    assert_eq!(alerts.rules.len(), 6);
    assert_eq!(alerts.rules[1].for_.unwrap().get().as_secs(), 120);
    // The commented-out channels, uncommented, with their variables set.
    let text = std::fs::read_to_string(example("alerts.toml")).unwrap();
    let (head, channels) = text.split_once("# [[alerts.channels]]\n").unwrap();
    let uncommented: String = channels
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.toml");
    std::fs::write(&path, format!("{head}[[alerts.channels]]\n{uncommented}\n")).unwrap();
    let env = [
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T/B/x",
        ),
        ("PAGERDUTY_ROUTING_KEY", "key"),
        (
            "ALERT_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        ("SMTP_PASSWORD", "p"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = load(&path, env);
    let kinds: Vec<Vec<&str>> = config
        .alerts
        .as_ref()
        .unwrap()
        .channels
        .iter()
        .map(|c| c.kinds())
        .collect();
    assert_eq!(
        kinds,
        [
            ["log"],
            ["slack"],
            ["pagerduty"],
            ["webhook"],
            ["email"],
            ["mqtt"]
        ]
    );
}
