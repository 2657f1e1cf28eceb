//! `hookguard secrets migrate`: the real binary against local servers speaking Vault KV v2's
//! and Infisical's documented APIs (neither can run here; `hookguard_tests::secret_stores`):
//! dry run, backup, write, verify, config rewrite, a write failing half-way and the resume,
//! rollback, status — and no secret value in any output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hookguard_tests::{FaultControl as _, InfisicalServer, VaultServer};
use serde_json::Value;

const VAULT_TOKEN: &str = "hvs.migrate-token";
const CLIENT_ID: &str = "machine-id";
const CLIENT_SECRET: &str = "machine-secret-value";
const PASSPHRASE: &str = "a long backup passphrase";

/// The values the config holds, one per source kind; none may appear in any output.
const INLINE: &str = "inline-secret-value-1";
const FROM_ENV: &str = "env-secret-value-2";
const FROM_FILE: &str = "file-secret-value-3";
const OTHER_INLINE: &str = "other-inline-value-4";

fn config(vault: &str) -> String {
    format!(
        r#"# the sidecar's config
upstream.address = "127.0.0.1:3000"

[[routes]]
id = "github"
match.path = "/github"
scheme = "github"
secrets = [{{ id = "primary", value = "{INLINE}" }}, {{ id = "next", env = "GH_NEXT" }}]

[[routes]]
id = "stripe"
match.path = "/stripe"
scheme = "github"
# a mounted Kubernetes secret
[[routes.secrets]]
id = "primary"
file = "stripe.secret"

[[routes]]
id = "vaulted"
match.path = "/vaulted"
scheme = "github"
secrets = [{{ id = "primary", vault = {{ addr = "{vault}", path = "elsewhere", key = "k" }} }}]

[[routes]]
id = "legacy"
match.path = "/legacy"
scheme = "github"
secrets = [{{ id = "primary", value = "{OTHER_INLINE}" }}]
"#
    )
}

/// A folder with the config and its secret file.
fn workdir(vault: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hookguard.toml"), config(vault)).unwrap();
    std::fs::write(dir.path().join("stripe.secret"), format!("{FROM_FILE}\n")).unwrap();
    dir
}

struct Run {
    code: Option<i32>,
    json: Value,
    out: Output,
}

impl Run {
    fn text(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }

    /// No secret value, credential or passphrase in stdout or stderr.
    fn assert_no_secrets(&self) {
        let text = self.text();
        for secret in [
            INLINE,
            FROM_ENV,
            FROM_FILE,
            OTHER_INLINE,
            "previous-value",
            VAULT_TOKEN,
            CLIENT_SECRET,
            PASSPHRASE,
        ] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
    }

    fn item<'a>(&'a self, route: &str, secret_id: &str) -> &'a Value {
        self.json["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items: {}", self.text()))
            .iter()
            .find(|i| i["route"] == route && i["secret_id"] == secret_id)
            .unwrap_or_else(|| panic!("no item {route}/{secret_id}: {}", self.text()))
    }
}

/// Runs the CLI in `dir` on a blocking thread (the stores are served by this test's runtime).
async fn hookguard(dir: &Path, args: &[&str]) -> Run {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_hookguard"))
            .current_dir(&dir)
            .args(&args)
            .env("GH_NEXT", FROM_ENV)
            .env("VAULT_TOKEN", VAULT_TOKEN)
            .env("INFISICAL_CLIENT_ID", CLIENT_ID)
            .env("INFISICAL_CLIENT_SECRET", CLIENT_SECRET)
            .env("HOOKGUARD_MIGRATE_PASSPHRASE", PASSPHRASE)
            .output()
            .unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        Run {
            code: out.status.code(),
            json,
            out,
        }
    })
    .await
    .unwrap()
}

/// `hookguard secrets migrate -c CONFIG --to …` toward a stand-in at `url`, plus `extra`.
fn migrate_args(config: &str, to: &[&str], url: String, extra: &[&str]) -> Vec<String> {
    ["secrets", "migrate", "-c", config, "--to"]
        .into_iter()
        .chain(to.iter().copied())
        .map(str::to_owned)
        .chain([url])
        .chain(extra.iter().map(|s| s.to_string()))
        .collect()
}

fn to_vault(vault: &VaultServer, extra: &[&str]) -> Vec<String> {
    migrate_args(
        "hookguard.toml",
        &["vault", "--vault-addr"],
        vault.url(),
        extra,
    )
}

fn to_infisical(infisical: &InfisicalServer, extra: &[&str]) -> Vec<String> {
    let to = [
        "infisical",
        "--infisical-project",
        "proj-1",
        "--infisical-env",
        "prod",
        "--infisical-addr",
    ];
    migrate_args("hookguard.toml", &to, infisical.url(), extra)
}

async fn run(dir: &Path, args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    hookguard(dir, &args).await
}

/// `hookguard secrets migrate status -c hookguard.toml --json`.
async fn status(dir: &Path) -> Run {
    let args = [
        "secrets",
        "migrate",
        "status",
        "-c",
        "hookguard.toml",
        "--json",
    ];
    hookguard(dir, &args).await
}

/// `hookguard secrets migrate --rollback hookguard.toml.migrate-backup [extra]`, which must
/// succeed without showing a secret.
async fn rolled_back(dir: &Path, extra: &[&str]) {
    let mut args = vec![
        "secrets",
        "migrate",
        "--rollback",
        "hookguard.toml.migrate-backup",
    ];
    args.extend_from_slice(extra);
    let r = hookguard(dir, &args).await;
    assert_eq!(r.code, Some(0), "{}", r.text());
    r.assert_no_secrets();
}

fn backup(dir: &Path) -> PathBuf {
    dir.join("hookguard.toml.migrate-backup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_lists_what_would_move_and_writes_nothing() {
    let vault = VaultServer::start(VAULT_TOKEN).await;
    vault.seed("hookguard/github", "primary", "previous-value");
    let dir = workdir(&vault.url());
    let r = run(dir.path(), &to_vault(&vault, &["--dry-run", "--json"])).await;
    assert_eq!(r.code, Some(0), "{}", r.text());
    r.assert_no_secrets();
    assert_eq!(r.json["dry_run"], true);
    // Inline, env and file secrets move; the one already in Vault does not.
    assert_eq!(r.json["items"].as_array().unwrap().len(), 4, "{}", r.text());
    assert_eq!(
        r.item("github", "primary")["state"],
        "would replace a value"
    );
    assert_eq!(r.item("github", "next")["from"], "env GH_NEXT");
    assert_eq!(r.item("stripe", "primary")["state"], "would create");
    assert_eq!(
        r.item("stripe", "primary")["to"],
        "vault hookguard/stripe#primary"
    );
    let diff = r.json["config_diff"].as_str().unwrap();
    assert!(
        diff.contains("+secrets = [{ id = \"primary\", vault = {"),
        "{diff}"
    );
    assert!(diff.contains("[redacted]"), "{diff}");
    assert!(vault.writes().is_empty() && vault.accepted() == 0);
    assert!(!backup(dir.path()).exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hookguard.toml")).unwrap(),
        config(&vault.url())
    );

    // --route narrows it; the table form names the same secrets.
    let r = run(
        dir.path(),
        &to_vault(&vault, &["--dry-run", "--route", "git*"]),
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.text());
    r.assert_no_secrets();
    let text = r.text();
    assert!(
        text.contains("github") && !text.contains("stripe"),
        "{text}"
    );
    assert!(text.contains("dry run: nothing was written"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_migration_backs_up_verifies_writes_the_config_and_rolls_back() {
    let vault = VaultServer::start(VAULT_TOKEN).await;
    vault.seed("hookguard/github", "primary", "previous-value");
    vault.seed("hookguard/github", "unrelated", "kept");
    vault.seed("elsewhere", "k", "already-in-vault");
    let dir = workdir(&vault.url());
    let r = run(dir.path(), &to_vault(&vault, &["--write-config", "--json"])).await;
    assert_eq!(r.code, Some(0), "{}", r.text());
    r.assert_no_secrets();
    assert_eq!(r.item("github", "primary")["state"], "verified");
    assert_eq!(r.item("stripe", "primary")["state"], "verified");
    assert_eq!(
        vault.get("hookguard/github", "primary").as_deref(),
        Some(INLINE)
    );
    assert_eq!(
        vault.get("hookguard/github", "next").as_deref(),
        Some(FROM_ENV)
    );
    assert_eq!(
        vault.get("hookguard/stripe", "primary").as_deref(),
        Some(FROM_FILE)
    );
    assert_eq!(
        vault.get("hookguard/github", "unrelated").as_deref(),
        Some("kept")
    );
    // The backup is encrypted: no value in it.
    let sealed = std::fs::read(backup(dir.path())).unwrap();
    for secret in [INLINE, FROM_ENV, FROM_FILE, "previous-value"] {
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    // The original is untouched; the rewritten config reads every secret from Vault, as
    // the sidecar's own validation of it shows.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hookguard.toml")).unwrap(),
        config(&vault.url())
    );
    let migrated = std::fs::read_to_string(dir.path().join("hookguard.migrated.toml")).unwrap();
    assert!(migrated.starts_with("# the sidecar's config"));
    assert!(migrated.contains("# a mounted Kubernetes secret"));
    for secret in [INLINE, "GH_NEXT", "stripe.secret", OTHER_INLINE] {
        assert!(!migrated.contains(secret), "{secret} still in:\n{migrated}");
    }
    let v = hookguard(
        dir.path(),
        &[
            "secrets",
            "validate",
            "-c",
            "hookguard.migrated.toml",
            "--json",
        ],
    )
    .await;
    assert_eq!(v.code, Some(0), "{}", v.text());
    let sources: Vec<&str> = v.json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.iter().all(|s| s.starts_with("vault ")),
        "{sources:?}"
    );

    let s = status(dir.path()).await;
    assert_eq!(s.code, Some(0), "{}", s.text());
    assert_eq!(s.json["phase"], "complete");
    assert_eq!(s.json["moved"], 4);
    assert_eq!(s.item("legacy", "primary")["state"], "verified");

    // A second run has nothing left to do and writes nothing.
    let before = vault.accepted();
    let again = run(dir.path(), &to_vault(&vault, &[])).await;
    assert_eq!(again.code, Some(0), "{}", again.text());
    assert!(again.text().contains("already complete"));
    assert_eq!(vault.accepted(), before);

    // The migrated config is put in place, then rolled back: the destination holds what
    // it held before, and the original config is back.
    std::fs::copy(
        dir.path().join("hookguard.migrated.toml"),
        dir.path().join("hookguard.toml"),
    )
    .unwrap();
    rolled_back(dir.path(), &["--json"]).await;
    assert_eq!(
        vault.get("hookguard/github", "primary").as_deref(),
        Some("previous-value")
    );
    assert!(!vault.has("hookguard/github", "next"));
    assert!(!vault.has("hookguard/stripe", "primary"));
    assert_eq!(
        vault.get("hookguard/github", "unrelated").as_deref(),
        Some("kept")
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hookguard.toml")).unwrap(),
        config(&vault.url())
    );
    assert!(dir.path().join("hookguard.toml.before-rollback").exists());
    let s = status(dir.path()).await;
    assert_eq!(s.json["phase"], "rolled back", "{}", s.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_failing_half_way_resumes_without_rewriting_what_moved() {
    let infisical = InfisicalServer::start(CLIENT_ID, CLIENT_SECRET).await;
    infisical.seed(
        "proj-1",
        "prod",
        "/",
        "HOOKGUARD_LEGACY_PRIMARY",
        "previous-value",
    );
    let dir = workdir("http://127.0.0.1:9");
    infisical.fail_after(Some(2));
    let r = run(dir.path(), &to_infisical(&infisical, &[])).await;
    assert_eq!(r.code, Some(3), "{}", r.text());
    r.assert_no_secrets();
    let text = r.text();
    assert!(text.contains("2 of 4 secrets moved"), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(
        text.contains("Run the same command again to resume"),
        "{text}"
    );
    assert_eq!(infisical.writes().len(), 2);

    let s = status(dir.path()).await;
    assert_eq!(s.json["phase"], "interrupted", "{}", s.text());
    assert_eq!(s.json["moved"], 2);
    assert_eq!(s.item("github", "primary")["state"], "written");
    assert_eq!(s.item("legacy", "primary")["state"], "pending");

    // The store heals; the same command finishes the job and leaves the first two alone.
    infisical.fail_after(None);
    let r = run(dir.path(), &to_infisical(&infisical, &["--json"])).await;
    assert_eq!(r.code, Some(0), "{}", r.text());
    r.assert_no_secrets();
    assert_eq!(r.json["resumed_after"], 2);
    assert_eq!(r.item("github", "primary")["state"], "verified");
    let mut writes = infisical.writes();
    assert_eq!(writes.len(), 4, "{writes:?}");
    writes.sort();
    writes.dedup();
    assert_eq!(writes.len(), 4, "a secret was written twice");
    let get = |name| infisical.get("proj-1", "prod", "/", name);
    assert_eq!(get("HOOKGUARD_GITHUB_PRIMARY").as_deref(), Some(INLINE));
    assert_eq!(get("HOOKGUARD_STRIPE_PRIMARY").as_deref(), Some(FROM_FILE));
    assert_eq!(
        get("HOOKGUARD_LEGACY_PRIMARY").as_deref(),
        Some(OTHER_INLINE)
    );
    let diff = r.json["config_diff"].as_str().unwrap();
    assert!(diff.contains("name = \"HOOKGUARD_GITHUB_NEXT\""), "{diff}");

    // Rollback: created secrets are deleted, the replaced one gets its old value.
    rolled_back(dir.path(), &[]).await;
    assert_eq!(get("HOOKGUARD_GITHUB_PRIMARY"), None);
    assert_eq!(get("HOOKGUARD_STRIPE_PRIMARY"), None);
    assert_eq!(
        get("HOOKGUARD_LEGACY_PRIMARY").as_deref(),
        Some("previous-value")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_catches_a_destination_that_stores_a_different_value() {
    let vault = VaultServer::start(VAULT_TOKEN).await;
    vault.tamper(true);
    let dir = workdir(&vault.url());
    let r = run(
        dir.path(),
        &to_vault(&vault, &["--route", "stripe", "--write-config", "--json"]),
    )
    .await;
    assert_eq!(r.code, Some(1), "{}", r.text());
    r.assert_no_secrets();
    assert_eq!(r.json["ok"], false);
    let state = r.item("stripe", "primary")["state"].as_str().unwrap();
    assert!(state.starts_with("MISMATCH"), "{state}");
    assert!(!r.text().contains("tampered"));
    assert!(!dir.path().join("hookguard.migrated.toml").exists());
    let s = status(dir.path()).await;
    assert_eq!(s.json["phase"], "verify failed", "{}", s.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_writes_nothing() {
    let vault = VaultServer::start(VAULT_TOKEN).await;
    let dir = workdir(&vault.url());
    let expect = |r: &Run, needle: &str| {
        assert_eq!(r.code, Some(2), "{}", r.text());
        assert!(
            r.text().contains(needle),
            "expected {needle:?} in {}",
            r.text()
        );
        r.assert_no_secrets();
    };
    let r = run(dir.path(), &to_vault(&vault, &["--route", "nope*"])).await;
    expect(
        &r,
        "--route nope*: matches no route; the routes are: github, stripe",
    );
    let r = run(
        dir.path(),
        &to_vault(&vault, &["--passphrase-env", "UNSET_PASSPHRASE_VAR"]),
    )
    .await;
    expect(&r, "environment variable UNSET_PASSPHRASE_VAR is not set");
    std::fs::write(dir.path().join("short"), "short\n").unwrap();
    let r = run(
        dir.path(),
        &to_vault(&vault, &["--passphrase-file", "short"]),
    )
    .await;
    expect(&r, "too short: expected at least 12 characters");
    let r = hookguard(
        dir.path(),
        &[
            "secrets",
            "migrate",
            "-c",
            "hookguard.toml",
            "--to",
            "vault",
        ],
    )
    .await;
    expect(&r, "--vault-addr");
    std::fs::write(
        dir.path().join("hookguard.yaml"),
        "upstream:\n  address: 127.0.0.1:3000\n",
    )
    .unwrap();
    let yaml = migrate_args(
        "hookguard.yaml",
        &["vault", "--vault-addr"],
        vault.url(),
        &[],
    );
    let r = run(dir.path(), &yaml).await;
    expect(&r, "migrate rewrites TOML configurations only");
    std::fs::remove_file(dir.path().join("stripe.secret")).unwrap();
    let r = run(dir.path(), &to_vault(&vault, &[])).await;
    assert_ne!(r.code, Some(0), "{}", r.text());
    assert!(r.text().contains("stripe.secret"), "{}", r.text());
    assert_eq!(vault.accepted(), 0);
    assert!(!backup(dir.path()).exists());
    let r = hookguard(
        dir.path(),
        &["secrets", "migrate", "status", "-c", "hookguard.toml"],
    )
    .await;
    expect(&r, "no migration journal");
}

/// Runs `args` under `script(1)`, which gives the command a pseudo-terminal: what a person
/// at a terminal sees (stdout and stderr together).
async fn on_a_terminal(dir: &Path, args: &[String]) -> String {
    let line = std::iter::once(env!("CARGO_BIN_EXE_hookguard").to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("script")
            .current_dir(&dir)
            .args(["-qec", &line, "/dev/null"])
            .env("GH_NEXT", FROM_ENV)
            .env("VAULT_TOKEN", VAULT_TOKEN)
            .env("HOOKGUARD_MIGRATE_PASSPHRASE", PASSPHRASE)
            .output()
            .expect("script(1) from util-linux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_bars_show_on_a_terminal_and_never_in_piped_or_json_output() {
    let vault = VaultServer::start(VAULT_TOKEN).await;
    vault.seed("elsewhere", "k", "already-in-vault");
    let dir = workdir(&vault.url());
    let dry_run = to_vault(&vault, &["--dry-run"]);
    let seen = on_a_terminal(dir.path(), &dry_run).await;
    assert!(seen.contains("reading the destination ["), "{seen}");
    assert!(seen.contains("4/4"), "{seen}");
    let validate: Vec<String> = ["secrets", "validate", "-c", "hookguard.toml", "--all"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let seen = on_a_terminal(dir.path(), &validate).await;
    assert!(seen.contains("fetching ["), "{seen}");
    assert!(seen.contains("5/5"), "{seen}");
    for secret in [INLINE, FROM_ENV, FROM_FILE, OTHER_INLINE] {
        assert!(!seen.contains(secret), "{secret} leaked: {seen}");
    }
    // --json: no bar even on a terminal; piped: no bar.
    let mut json = validate.clone();
    json.push("--json".into());
    let seen = on_a_terminal(dir.path(), &json).await;
    assert!(!seen.contains("fetching ["), "{seen}");
    let piped = run(dir.path(), &dry_run).await;
    assert!(!piped.text().contains("reading the destination ["));
    let piped = run(dir.path(), &validate).await;
    assert!(!piped.text().contains("fetching ["), "{}", piped.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_with_sigkill_resumes_from_its_journal() {
    let infisical = InfisicalServer::start(CLIENT_ID, CLIENT_SECRET).await;
    let dir = workdir("http://127.0.0.1:9");
    // Slow writes leave a window to kill the process between two of them.
    infisical.delay_writes(std::time::Duration::from_millis(300));
    let args = to_infisical(&infisical, &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .current_dir(dir.path())
        .args(&args)
        .env("GH_NEXT", FROM_ENV)
        .env("VAULT_TOKEN", VAULT_TOKEN)
        .env("INFISICAL_CLIENT_ID", CLIENT_ID)
        .env("INFISICAL_CLIENT_SECRET", CLIENT_SECRET)
        .env("HOOKGUARD_MIGRATE_PASSPHRASE", PASSPHRASE)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    hookguard_tests::assert_eventually!(infisical.writes().len() >= 2, "two writes");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = infisical.writes();
    assert!(
        at_kill.len() < 4,
        "the run finished before the kill: {at_kill:?}"
    );

    let s = status(dir.path()).await;
    assert_eq!(s.json["phase"], "interrupted", "{}", s.text());
    let journaled: Vec<String> = s.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == "written")
        .map(|i| {
            i["to"]
                .as_str()
                .unwrap()
                .trim_start_matches("infisical ")
                .to_owned()
        })
        .collect();
    // What the store acknowledged and the journal recorded, at most one write behind.
    assert!(
        !journaled.is_empty() && journaled.len() + 1 >= at_kill.len(),
        "{journaled:?} {at_kill:?}"
    );

    infisical.delay_writes(std::time::Duration::ZERO);
    let r = run(dir.path(), &to_infisical(&infisical, &["--json"])).await;
    assert_eq!(r.code, Some(0), "{}", r.text());
    let writes = infisical.writes();
    for name in &journaled {
        assert_eq!(
            writes.iter().filter(|w| *w == name).count(),
            1,
            "{name} was written again: {writes:?}"
        );
    }
    // Only a write in flight at the kill (acknowledged, not yet journaled) is redone.
    assert!(writes.len() <= 5, "{writes:?}");
    let get = |name| infisical.get("proj-1", "prod", "/", name);
    assert_eq!(get("HOOKGUARD_GITHUB_NEXT").as_deref(), Some(FROM_ENV));
    assert_eq!(
        get("HOOKGUARD_LEGACY_PRIMARY").as_deref(),
        Some(OTHER_INLINE)
    );
}

/// `examples/migrate.toml`, as its header comment runs it: dry run, run, status, rollback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_migrates_as_documented() {
    let vault = VaultServer::start(VAULT_TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/migrate.toml");
    std::fs::copy(example, dir.path().join("migrate.toml")).unwrap();
    std::fs::write(dir.path().join("shopify.secret"), "shopify-shared-secret\n").unwrap();
    let with = |extra: &[&str]| {
        migrate_args(
            "migrate.toml",
            &["vault", "--vault-addr"],
            vault.url(),
            extra,
        )
    };
    let stripe = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let run_example = |args: Vec<String>| {
        let dir = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_hookguard"))
                .current_dir(dir)
                .args(args)
                .env("STRIPE_WEBHOOK_SECRET", stripe)
                .env("VAULT_TOKEN", VAULT_TOKEN)
                .env("HOOKGUARD_MIGRATE_PASSPHRASE", PASSPHRASE)
                .output()
                .unwrap()
        })
    };
    let out = run_example(with(&["--dry-run"])).await.unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(vault.accepted(), 0);
    let out = run_example(with(&["--write-config"])).await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !shown.contains(stripe) && !shown.contains("Everybody"),
        "{shown}"
    );
    assert_eq!(
        vault.get("hookguard/stripe", "primary").as_deref(),
        Some(stripe)
    );
    assert_eq!(
        vault.get("hookguard/shopify", "primary").as_deref(),
        Some("shopify-shared-secret")
    );
    let migrated = std::fs::read_to_string(dir.path().join("migrate.migrated.toml")).unwrap();
    assert!(migrated.contains("max_age = \"90d\""), "{migrated}");
    let status: Vec<String> = ["secrets", "migrate", "status", "-c", "migrate.toml"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = run_example(status).await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("complete: 3 of 3 moved"));
    let rollback: Vec<String> = [
        "secrets",
        "migrate",
        "--rollback",
        "migrate.toml.migrate-backup",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run_example(rollback).await.unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!vault.has("hookguard/stripe", "primary"));
}
