//! `hookguard secrets validate`: the real binary against local servers speaking Vault's KV
//! v2 and Infisical's documented APIs (neither can run here; `hookguard_tests::secret_stores`),
//! as the credential tests do.

use std::process::{Command, Output};

use hookguard_tests::{InfisicalServer, VaultServer};
use serde_json::Value;

const VAULT_TOKEN: &str = "hvs.test-token";
const CLIENT_ID: &str = "machine-id";
const CLIENT_SECRET: &str = "machine-secret";

/// An RFC 3339 time `days` ago.
fn days_ago(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::days(days);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The stores, seeded as the config below reads them: Vault's secret written 200 days ago,
/// Infisical's `STD_SECRET` holding `infisical_value`.
async fn stores(infisical_value: &str) -> (String, String) {
    let vault = VaultServer::start(VAULT_TOKEN).await;
    vault.seed("hookguard/github", "webhook_secret", "vault-held-secret");
    vault.created_at("hookguard/github", &days_ago(200));
    let infisical = InfisicalServer::start(CLIENT_ID, CLIENT_SECRET).await;
    infisical.seed("proj-1", "prod", "/", "STD_SECRET", infisical_value);
    (vault.url(), infisical.url())
}

fn config(vault: &str, infisical: &str) -> String {
    format!(
        r#"
upstream.address = "127.0.0.1:3000"

[[routes]]
id = "github"
match.path = "/github"
scheme = "github"
secrets = [{{ id = "primary", env = "GH_SECRET", rotated_at = "{}", max_age = "90d" }}]

[[routes]]
id = "vaulted"
match.path = "/vaulted"
scheme = "github"
secrets = [{{ id = "primary", max_age = "90d", vault = {{ addr = "{vault}", path = "hookguard/github", key = "webhook_secret" }} }}]

[[routes]]
id = "svix"
match.path = "/svix"
scheme = "standard-webhooks"
secrets = [{{ id = "primary", infisical = {{ addr = "{infisical}", project_id = "proj-1", environment = "prod", name = "STD_SECRET" }} }}]

[[routes]]
id = "rotating"
match.path = "/rotating"
scheme = "github"
secrets = [{{ id = "primary", value = "old" }}, {{ id = "next", value = "new" }}]
"#,
        days_ago(10)
    )
}

/// Runs the CLI on a blocking thread: the stores are served by this test's runtime.
async fn validate(
    toml: String,
    vault_token: &'static str,
    args: &'static [&'static str],
) -> (Option<i32>, Value, Output) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hookguard.toml"), toml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_hookguard"))
            .current_dir(dir.path())
            .args(["secrets", "validate", "-c", "hookguard.toml", "--json"])
            .args(args)
            .env("GH_SECRET", "from-the-environment")
            .env("VAULT_TOKEN", vault_token)
            .env("INFISICAL_CLIENT_ID", CLIENT_ID)
            .env("INFISICAL_CLIENT_SECRET", CLIENT_SECRET)
            .output()
            .unwrap();
        let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code(), report, out)
    })
    .await
    .unwrap()
}

fn row<'a>(report: &'a Value, key: &str, value: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value}: {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_secret_is_fetched_and_checked_for_format_age_and_rotation() {
    let (vault, infisical) = stores("not base64!").await;
    let (code, report, out) = validate(config(&vault, &infisical), VAULT_TOKEN, &[]).await;
    assert_eq!(code, Some(1), "{out:?}");
    let github = row(&report, "route", "github");
    assert_eq!(github["verdict"], "ok", "{github}");
    assert_eq!(github["source"], "env GH_SECRET");
    assert_eq!(github["age"], "10d of 90d");
    // Vault's metadata says the version was written 200 days ago.
    let vaulted = row(&report, "route", "vaulted");
    assert_eq!(vaulted["reachable"], "yes");
    assert_eq!(vaulted["age"], "200d of 90d: overdue");
    assert_eq!(vaulted["verdict"], "FAIL");
    let svix = row(&report, "route", "svix");
    assert_eq!(svix["reachable"], "yes");
    assert!(
        svix["format"].as_str().unwrap().contains("base64"),
        "{svix}"
    );
    assert_eq!(svix["verdict"], "FAIL");
    let rotating: Vec<&Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["route"] == "rotating")
        .collect();
    assert_eq!(rotating[0]["rotation"], "in progress: next is next");
    assert_eq!(
        rotating[1]["rotation"],
        "in progress: this is the next secret"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in [
        "from-the-environment",
        "vault-held-secret",
        "not base64!",
        VAULT_TOKEN,
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }

    let (code, report, out) = validate(
        config(&vault, &infisical),
        VAULT_TOKEN,
        &["--route", "github"],
    )
    .await;
    assert_eq!(code, Some(0), "{out:?}");
    assert_eq!(report["rows"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_source_tests_each_store_once_and_names_a_refused_token() {
    let (vault, infisical) = stores("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await;
    let (code, report, out) =
        validate(config(&vault, &infisical), "hvs.wrong", &["--check-source"]).await;
    assert_eq!(code, Some(1), "{out:?}");
    let vault_row = row(&report, "used_by", "vaulted/primary");
    assert_eq!(vault_row["verdict"], "FAIL");
    assert!(
        vault_row["reachable"]
            .as_str()
            .unwrap()
            .contains("permission denied"),
        "{vault_row}"
    );
    let infisical_row = row(&report, "used_by", "svix/primary");
    assert_eq!(infisical_row["verdict"], "ok", "{infisical_row}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hvs.wrong"));

    // The right token: every source passes, and the format problem is not this mode's.
    let (code, _, out) =
        validate(config(&vault, &infisical), VAULT_TOKEN, &["--check-source"]).await;
    assert_eq!(code, Some(0), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_fails_its_secrets_with_the_address() {
    // A port nobody listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (_, infisical) = stores("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await;
    let (code, report, out) = validate(
        config(&format!("http://{closed}"), &infisical),
        VAULT_TOKEN,
        &[],
    )
    .await;
    assert_eq!(code, Some(1), "{out:?}");
    let vaulted = row(&report, "route", "vaulted");
    let reachable = vaulted["reachable"].as_str().unwrap();
    assert!(reachable.starts_with("no: "), "{reachable}");
    assert!(reachable.contains(&closed.to_string()), "{reachable}");
    assert_eq!(row(&report, "route", "svix")["verdict"], "ok");
}
