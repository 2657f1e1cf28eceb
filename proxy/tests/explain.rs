//! `hookguard explain` and `hookguard graph`, run as users run them: a config file, a
//! captured request, the real binary.

use std::path::Path;
use std::process::{Command, Output};

use hookguard_tests::Signer;
use serde_json::Value;

/// GitHub's documented test vector (docs.github.com, "Validating webhook deliveries").
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

const CONFIG: &str = r#"
upstream.address = "127.0.0.1:3000"

[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{ id = "primary", value = "It's a Secret to Everybody" }]
ip = { allow = ["127.0.0.0/8"] }
rate_limit = { per_client = { requests = 10, per = "1s" } }

[[routes]]
id = "github-other"
match.path = "/webhooks/other"
scheme = "github"
secrets = [{ id = "primary", value = "the other route's secret" }]

[[routes]]
id = "stripe"
match.path = "/webhooks/stripe"
scheme = "stripe"
secrets = [{ id = "primary", value = "whsec_test_secret" }]
delivery = "queue"
"#;

fn hookguard(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run hookguard")
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hookguard.toml"), CONFIG).unwrap();
    dir
}

/// A raw HTTP/1.1 request as a proxy log or `tcpdump` would capture it.
fn capture(dir: &Path, name: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut raw = format!("POST {path} HTTP/1.1\r\nHost: hooks.example.com\r\n");
    for (n, v) in headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn explain(dir: &Path, request: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec![
        "explain",
        "-c",
        "hookguard.toml",
        "--request",
        request,
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = hookguard(dir, &args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

fn decision(report: &Value, check: &str) -> String {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["check"] == check)
        .map_or_else(
            || "absent".into(),
            |s| s["decision"].as_str().unwrap().to_owned(),
        )
}

fn fitting(report: &Value) -> Vec<String> {
    report["likely_mistakes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fits"] == true)
        .map(|m| m["mistake"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_valid_request_passes_every_stage_and_exits_0() {
    let dir = setup();
    // GitHub always sends a delivery id; the replay guard refuses a request without one.
    let sig = [
        ("X-Hub-Signature-256", GITHUB_SIGNATURE),
        ("X-GitHub-Delivery", "d-explain-1"),
    ];
    capture(
        dir.path(),
        "ok.http",
        "/webhooks/github",
        &sig,
        b"Hello, World!",
    );
    let (code, report) = explain(dir.path(), "ok.http", &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["admitted"], true);
    for check in [
        "route",
        "ip filter",
        "rate limit",
        "body limit",
        "signature",
        "replay guard",
    ] {
        assert!(
            ["passed", "matched"].contains(&decision(&report, check).as_str()),
            "{check}: {report:#}"
        );
    }
    assert!(report["stages"]
        .to_string()
        .contains("secret primary matched"));

    // The human form: a table and the verdict.
    let out = hookguard(
        dir.path(),
        &["explain", "-c", "hookguard.toml", "--request", "ok.http"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("admitted: the app at 127.0.0.1:3000/webhooks/github"),
        "{text}"
    );
}

#[test]
fn a_body_that_gained_a_newline_is_refused_and_the_mistake_is_named() {
    let dir = setup();
    let sig = [("X-Hub-Signature-256", GITHUB_SIGNATURE)];
    capture(
        dir.path(),
        "nl.http",
        "/webhooks/github",
        &sig,
        b"Hello, World!\n",
    );
    let (code, report) = explain(dir.path(), "nl.http", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["reason"], "signature_mismatch");
    assert_eq!(decision(&report, "signature"), "refused");
    assert_eq!(decision(&report, "replay guard"), "not reached");
    assert_eq!(fitting(&report), ["body_changed"], "{report:#}");
    assert!(
        !report.to_string().contains(GITHUB_SECRET),
        "no secret in the report"
    );
}

#[test]
fn a_refused_client_stops_at_the_ip_filter() {
    let dir = setup();
    let sig = [("X-Hub-Signature-256", GITHUB_SIGNATURE)];
    capture(
        dir.path(),
        "ok.http",
        "/webhooks/github",
        &sig,
        b"Hello, World!",
    );
    let (code, report) = explain(dir.path(), "ok.http", &["--client-ip", "203.0.113.9"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["reason"], "ip_denied");
    assert_eq!(decision(&report, "ip filter"), "refused");
    assert_eq!(decision(&report, "signature"), "not reached");
}

#[test]
fn a_secret_of_another_route_is_found_and_named() {
    let dir = setup();
    capture_signed(
        dir.path(),
        "other.http",
        "/webhooks/github",
        ("github", "the other route's secret"),
        0,
    );
    let (code, report) = explain(dir.path(), "other.http", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(fitting(&report), ["old_secret"], "{report:#}");
    assert!(report
        .to_string()
        .contains("route github-other's secret primary"));
    // An old secret given on the command line is tried too.
    capture_signed(
        dir.path(),
        "old.http",
        "/webhooks/github",
        ("github", "retired"),
        0,
    );
    let (_, report) = explain(dir.path(), "old.http", &["--old-secret", "retired"]);
    assert_eq!(fitting(&report), ["old_secret"], "{report:#}");
    assert!(report.to_string().contains("--old-secret 1"));
}

#[test]
fn a_stale_stripe_timestamp_is_reported_as_clock_skew_in_seconds() {
    let dir = setup();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let stripe = ("stripe", "whsec_test_secret");
    capture_signed(
        dir.path(),
        "late.http",
        "/webhooks/stripe",
        stripe,
        now - 1000,
    );
    let (code, report) = explain(dir.path(), "late.http", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["reason"], "timestamp_outside_window");
    assert_eq!(fitting(&report), ["clock_skew"], "{report:#}");
    let detail = report["likely_mistakes"][0]["detail"].as_str().unwrap();
    let seconds: i64 = detail
        .strip_prefix("clock skew of ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{detail}"));
    assert!((1000..=1005).contains(&seconds), "{detail}");
    assert!(detail.contains("the signature itself is valid"), "{detail}");
}

#[test]
fn bad_input_exits_2_with_what_is_wrong() {
    let dir = setup();
    std::fs::write(dir.path().join("junk.http"), "this is not HTTP").unwrap();
    let out = hookguard(
        dir.path(),
        &["explain", "-c", "hookguard.toml", "--request", "junk.http"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("junk.http"),
        "{out:?}"
    );
    let sig = [("X-Hub-Signature-256", GITHUB_SIGNATURE)];
    capture(dir.path(), "ok.http", "/nowhere", &sig, b"Hello, World!");
    let out = hookguard(
        dir.path(),
        &[
            "explain",
            "-c",
            "hookguard.toml",
            "--request",
            "ok.http",
            "--route",
            "gone",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such route; expected one of: github"),
        "{out:?}"
    );
}

#[test]
fn graph_draws_routes_checks_and_destinations_in_mermaid_and_dot() {
    let dir = setup();
    let out = hookguard(dir.path(), &["graph", "-c", "hookguard.toml"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mermaid = String::from_utf8_lossy(&out.stdout);
    assert!(mermaid.starts_with("flowchart LR"));
    for edge in [
        "r0 --> r0_ip",
        "r0_ip --> r0_rate",
        "r0_rate --> r0_sig",
        "r0_replay -->|\"forward /webhooks/github\"| app",
        "r2_replay -->|\"202\"| queue",
        "queue -->|\"deliver\"| app",
    ] {
        assert!(mermaid.contains(edge), "{edge} missing:\n{mermaid}");
    }
    assert!(
        !mermaid.contains("It's a Secret"),
        "secret ids only, never values"
    );

    let out = hookguard(
        dir.path(),
        &["graph", "-c", "hookguard.toml", "--format", "dot"],
    );
    let dot = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dot.contains("r0_sig -> r0_replay"), "{dot}");
    // Graphviz itself reads it (the Makefile's deps install graphviz).
    let rendered = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(dot.as_bytes())?;
            child.wait_with_output()
        })
        .expect("graphviz's dot (make deps installs it)");
    assert!(rendered.status.success(), "{rendered:?}");
    assert!(String::from_utf8_lossy(&rendered.stdout).contains("route github"));
}

/// The headers a sender with `secret` sends, signed at `timestamp`, and the capture.
fn capture_signed(dir: &Path, name: &str, path: &str, secret: (&str, &str), timestamp: i64) {
    let signed = Signer::new(secret.0, secret.1).headers_at(b"{}", "evt_1", timestamp);
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    capture(dir, name, path, &headers, b"{}");
}

#[test]
fn a_sandbox_history_entry_is_read_as_the_captured_request() {
    use base64::Engine as _;
    let dir = setup();
    // The shape of `hookguard sandbox show ID --json` (what the sandbox recorded).
    let entry = serde_json::json!({
        "id": 7,
        "method": "POST",
        "target": "/webhooks/github",
        "headers": [
            ["host", "hooks.example.com"],
            ["x-hub-signature-256", GITHUB_SIGNATURE],
            ["x-github-delivery", "d-explain-7"],
            ["content-length", "13"],
        ],
        "body_base64": base64::engine::general_purpose::STANDARD.encode("Hello, World!"),
    });
    std::fs::write(dir.path().join("entry.json"), entry.to_string()).unwrap();
    let (code, report) = explain(dir.path(), "entry.json", &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(decision(&report, "signature"), "passed");
}

const ADMIN_TOKEN: &str = "explain-admin-token-5c1f9a";

/// `hookguard explain --event ID` against a real sidecar: the event and its capture come
/// from the admin API.
fn explain_event(config: &Path, admin: &str, id: u64) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .args(["explain", "-c"])
        .arg(config)
        .args(["--event", &id.to_string(), "--admin", admin])
        .args(["--token-env", "EXPLAIN_TEST_TOKEN", "--json"])
        .env("EXPLAIN_TEST_TOKEN", ADMIN_TOKEN)
        .env_remove("HOOKGUARD_ADMIN_URL")
        .output()
        .expect("run hookguard");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), report, text)
}

/// The events on `route` in the sidecar's log, newest first.
async fn events(proxy: &hookguard_tests::Sidecar, route: &str) -> Vec<Value> {
    let answer: Value = reqwest::Client::new()
        .get(proxy.admin_url(&format!("/api/v1/events?route={route}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["items"].as_array().cloned().unwrap_or_default()
}

/// The id of the newest event on `route`, once the log holds `count` of them.
async fn newest_event(proxy: &hookguard_tests::Sidecar, route: &str, count: usize) -> u64 {
    hookguard_tests::assert_eventually!(
        events(proxy, route).await.len() >= count,
        "{count} events on {route}"
    );
    events(proxy, route).await[0]["id"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_of_a_running_sidecar_is_explained_from_its_capture() {
    let app = hookguard_tests::upstream().record().start().await;
    let proxy = hookguard_tests::sidecar(env!("CARGO_BIN_EXE_hookguard"))
        .config(format!(
            r#"upstream.address = "{}"

[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{{ id = "primary", value = "{GITHUB_SECRET}" }}]

[[routes]]
id = "plain"
match.path = "/webhooks/plain"
scheme = "github"
secrets = [{{ id = "primary", value = "plain-route-secret" }}]

[admin]
tokens = [{{ id = "ops", value = "{ADMIN_TOKEN}" }}]
events = {{ capture = ["github"] }}
"#,
            app.addr()
        ))
        .start()
        .await;
    let config = proxy.config_path().to_owned();
    let admin = proxy.admin_url("");

    // Signed with the wrong secret: refused; the event explains it with the sidecar's record.
    let forged = Signer::new("github", "not the route's secret").post(
        &proxy.url("/webhooks/github"),
        b"{\"action\":\"opened\"}",
        "d-event-1",
    );
    assert_eq!(hookguard_tests::send(forged).await.status, 401);
    let id = newest_event(&proxy, "github", 1).await;
    let (code, report, text) = {
        let (config, admin) = (config.clone(), admin.clone());
        tokio::task::spawn_blocking(move || explain_event(&config, &admin, id))
            .await
            .unwrap()
    };
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(report["reason"], "signature_mismatch", "{report:#}");
    assert_eq!(report["route"], "github");
    assert_eq!(report["event"]["id"], id);
    assert_eq!(decision(&report, "ip filter"), "absent");
    assert_eq!(decision(&report, "body limit"), "passed");
    assert_eq!(decision(&report, "signature"), "refused (as recorded)");
    assert_eq!(
        decision(&report, &format!("sidecar (event {id})")),
        "rejected"
    );
    let notes = report["notes"].to_string();
    assert!(notes.contains("x-hub-signature-256"), "{notes}");
    assert!(!text.contains(GITHUB_SECRET) && !text.contains(ADMIN_TOKEN));

    // A good delivery: admitted, with the secret the sidecar matched.
    let signed = Signer::new("github", GITHUB_SECRET).post(
        &proxy.url("/webhooks/github"),
        b"{\"action\":\"closed\"}",
        "d-event-2",
    );
    assert_eq!(hookguard_tests::send(signed).await.status, 200);
    let id = newest_event(&proxy, "github", 2).await;
    let (code, report, text) = {
        let (config, admin) = (config.clone(), admin.clone());
        tokio::task::spawn_blocking(move || explain_event(&config, &admin, id))
            .await
            .unwrap()
    };
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(report["admitted"], true);
    assert_eq!(decision(&report, "signature"), "passed (as recorded)");
    let signature = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["check"] == "signature")
        .unwrap();
    assert_eq!(signature["detail"], "secret primary matched");

    // A route without capture: a clear error that says how to turn it on.
    let plain = Signer::new("github", "plain-route-secret").post(
        &proxy.url("/webhooks/plain"),
        b"{}",
        "d-event-3",
    );
    assert_eq!(hookguard_tests::send(plain).await.status, 200);
    let id = newest_event(&proxy, "plain", 1).await;
    let (code, _, text) = {
        let (config, admin) = (config.clone(), admin.clone());
        tokio::task::spawn_blocking(move || explain_event(&config, &admin, id))
            .await
            .unwrap()
    };
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("capture = [\"plain\"]") && text.contains("kept no request"),
        "{text}"
    );
    // No such event.
    let (code, _, text) =
        tokio::task::spawn_blocking(move || explain_event(&config, &admin, 999_999))
            .await
            .unwrap();
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no event 999999"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_signature_header_is_kept_runs_again_with_the_mistake_search() {
    use hmac::{Hmac, Mac};
    const SECRET: &str = "billing-secret-value";
    let app = hookguard_tests::upstream().record().start().await;
    // A generic HMAC route whose header the capture keeps (no "signature" in its name).
    let proxy = hookguard_tests::sidecar(env!("CARGO_BIN_EXE_hookguard"))
        .config(format!(
            r#"upstream.address = "{}"

[[routes]]
id = "billing"
match.path = "/webhooks/billing"
scheme = "hmac"
hmac = {{ header = "X-Billing-Digest", timestamp_header = "", payload = "{{body}}" }}
secrets = [{{ id = "primary", value = "{SECRET}" }}]

[admin]
tokens = [{{ id = "ops", value = "{ADMIN_TOKEN}" }}]
events = {{ capture = ["billing"] }}
"#,
            app.addr()
        ))
        .start()
        .await;
    // Signed, then a newline added on the way.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"{\"invoice\":7}");
    let digest = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let request = http::Request::post(proxy.url("/webhooks/billing"))
        .header("x-billing-digest", digest)
        .body(bytes::Bytes::from_static(b"{\"invoice\":7}\n"))
        .unwrap();
    assert_eq!(hookguard_tests::send(request).await.status, 401);
    let id = newest_event(&proxy, "billing", 1).await;
    let (config, admin) = (proxy.config_path().to_owned(), proxy.admin_url(""));
    let (code, report, text) =
        tokio::task::spawn_blocking(move || explain_event(&config, &admin, id))
            .await
            .unwrap();
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(report["reason"], "signature_mismatch");
    assert_eq!(decision(&report, "signature"), "refused");
    assert_eq!(fitting(&report), ["body_changed"], "{report:#}");
    assert!(!report["notes"].to_string().contains("masks"), "{report:#}");
    assert!(!text.contains(SECRET));
}
