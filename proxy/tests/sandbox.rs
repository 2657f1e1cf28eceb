//! `hookguard sandbox`: the real binary on 127.0.0.1:0, driven over HTTP and through its
//! own CLI (history, show, replay).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookguard_tests::{send, try_send, upstream, Signer};
use http::Request;
use serde_json::Value;

/// A running sandbox, killed when dropped.
struct Sandbox {
    child: Child,
    base: String,
}

impl Sandbox {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookguard"))
            .args(["sandbox", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hookguard sandbox");
        // The first line names the bound address; read_line returns at EOF if it dies.
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the sandbox's first line");
        let Some(base) = line.trim().strip_prefix("sandbox listening on ") else {
            let _ = child.kill();
            let out = child.wait_with_output().expect("sandbox output");
            panic!(
                "sandbox did not start: {line:?} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        };
        let base = base.to_owned();
        Self { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hookguard"))
            .arg("sandbox")
            .args(args)
            .args(["--sandbox", &self.base])
            .output()
            .expect("run hookguard sandbox …")
    }

    async fn entry(&self, id: &str) -> Value {
        let answer = send(get(&self.url(&format!("/_sandbox/history/{id}")))).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        serde_json::from_slice(&answer.body).expect("entry JSON")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str) -> Request<Bytes> {
    Request::get(url).body(Bytes::new()).unwrap()
}

fn post(url: &str, body: &'static [u8]) -> Request<Bytes> {
    Request::post(url).body(Bytes::from_static(body)).unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[tokio::test]
async fn each_path_answers_with_its_status_body_error_delay_or_timeout() {
    let sandbox = Sandbox::start(&[
        "--path",
        "/created=status=201,body=made it",
        "--path",
        "/broken=error_rate=1,error_status=503",
        "--path",
        "/slow=delay=300ms",
        "--path",
        "/hang=timeout=60s",
        "--status",
        "204",
    ]);
    let created = send(post(&sandbox.url("/created"), b"{}")).await;
    assert_eq!((created.status, created.text().as_str()), (201, "made it"));
    assert_eq!(send(post(&sandbox.url("/broken"), b"{}")).await.status, 503);
    assert_eq!(send(post(&sandbox.url("/other"), b"{}")).await.status, 204);

    let started = Instant::now();
    assert_eq!(send(post(&sandbox.url("/slow"), b"{}")).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300), "no delay");

    // The sender gives up first: no answer at all.
    let hang = tokio::time::timeout(
        Duration::from_millis(800),
        try_send(post(&sandbox.url("/hang"), b"{}")),
    )
    .await;
    assert!(hang.is_err(), "the timeout path answered: {hang:?}");

    let history = send(get(&sandbox.url("/_sandbox/history"))).await;
    let items: Value = serde_json::from_slice(&history.body).unwrap();
    let statuses: Vec<Value> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].clone())
        .collect();
    // Newest first: hang (no answer), slow, other, broken, created.
    assert_eq!(
        statuses,
        [Value::Null, 200.into(), 204.into(), 503.into(), 201.into()]
    );
    let broken = sandbox.entry("2").await;
    assert_eq!(broken["answer"]["injected_error"], true);
    let hang = sandbox.entry("5").await;
    assert_eq!(hang["answer"]["timed_out"], true);
}

#[tokio::test]
async fn an_error_rate_injects_that_share_of_errors_reproducibly_with_a_seed() {
    let run = |seed: &'static str| async move {
        let sandbox = Sandbox::start(&["--seed", seed, "--path", "/flaky=error_rate=0.3"]);
        let mut statuses = Vec::new();
        for _ in 0..200 {
            statuses.push(send(post(&sandbox.url("/flaky"), b"{}")).await.status);
        }
        statuses
    };
    let first = run("7").await;
    let errors = first.iter().filter(|s| **s == 500).count();
    // Binomial(200, 0.3): mean 60, sd 6.5; [30, 90] is more than 4.5 sd either way.
    assert!((30..=90).contains(&errors), "{errors} errors of 200");
    assert!(first.iter().all(|s| *s == 200 || *s == 500));
    assert_eq!(run("7").await, first, "the same seed, the same sequence");
}

#[tokio::test]
async fn signatures_are_checked_and_a_failure_names_the_mistake_that_fits() {
    let sandbox = Sandbox::start(&["--scheme", "github", "--secret", "s3cret"]);
    let signer = Signer::new("github", "s3cret");
    let good = send(signer.post(&sandbox.url("/hooks/github"), b"{\"a\":1}", "d-1")).await;
    assert_eq!(good.status, 200);
    assert_eq!(good.header("x-sandbox-signature"), Some("valid"));

    // Signed without the trailing newline the body then gained.
    let mut changed = signer.post(&sandbox.url("/hooks/github"), b"{\"a\":1}", "d-2");
    *changed.body_mut() = Bytes::from_static(b"{\"a\":1}\n");
    let answer = send(changed).await;
    assert_eq!(
        answer.status, 200,
        "reported, not refused, without --enforce"
    );
    assert_eq!(answer.header("x-sandbox-signature"), Some("invalid"));
    let id = answer.header("x-sandbox-request-id").unwrap().to_owned();
    let entry = sandbox.entry(&id).await;
    assert_eq!(entry["signature"]["reason"], "signature mismatch");
    let mistakes = entry["signature"]["likely_mistakes"].as_array().unwrap();
    assert_eq!(mistakes.len(), 1, "{entry:#}");
    assert_eq!(mistakes[0]["mistake"], "body_changed");

    let strict = Sandbox::start(&["--scheme", "github", "--secret", "s3cret", "--enforce"]);
    let forged = Signer::new("github", "not-it").post(&strict.url("/x"), b"{}", "d-3");
    let refused = send(forged).await;
    assert_eq!(refused.status, 401);
    assert!(
        refused.text().contains("signature mismatch"),
        "{}",
        refused.text()
    );
    assert!(!refused.text().contains("s3cret"));
}

// Multi-threaded: the CLI runs as a blocking child process while this test's recording
// upstream must keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_show_and_replay_re_signed_reach_another_receiver_that_verifies() {
    let sandbox = Sandbox::start(&["--scheme", "github", "--secret", "old-secret"]);
    let body: &[u8] = b"{\"action\":\"opened\",\"n\":42}";
    let answer = send(Signer::new("github", "old-secret").post(
        &sandbox.url("/hooks/github?x=1"),
        body,
        "d-9",
    ))
    .await;
    assert_eq!(answer.header("x-sandbox-signature"), Some("valid"));

    let listed = sandbox.cli(&["history", "--json"]);
    assert_eq!(listed.status.code(), Some(0), "{listed:?}");
    assert_eq!(json(&listed)["items"][0]["target"], "/hooks/github?x=1");
    let table = sandbox.cli(&["history"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("/hooks/github?x=1"));
    let missing = sandbox.cli(&["show", "999"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no request \"999\""));

    // Replayed as recorded: the old signature still verifies at a receiver with that secret.
    let app = upstream().record().start().await;
    let to = format!("http://{}", app.addr());
    let replayed = sandbox.cli(&["replay", "1", "--to", &to]);
    assert_eq!(replayed.status.code(), Some(0), "{replayed:?}");
    let got = app.only_request();
    assert_eq!(got.path, "/hooks/github?x=1");
    assert_eq!(&got.body[..], body);
    assert_eq!(
        got.header("x-hub-signature-256"),
        answer_header(&sandbox.entry("1").await, "x-hub-signature-256").as_deref()
    );

    // Re-signed with the new secret, to a receiver that refuses anything else.
    let strict = Sandbox::start(&["--scheme", "github", "--secret", "new-secret", "--enforce"]);
    let as_recorded = sandbox.cli(&["replay", "1", "--to", &strict.base]);
    assert_eq!(as_recorded.status.code(), Some(1), "old signature refused");
    let resigned = sandbox.cli(&[
        "replay",
        "1",
        "--to",
        &strict.base,
        "--secret",
        "new-secret",
    ]);
    assert_eq!(resigned.status.code(), Some(0), "{resigned:?}");
    let entry = strict.entry("2").await;
    assert_eq!(entry["signature"]["valid"], true);
    assert_eq!(
        entry["body_base64"],
        sandbox.entry("1").await["body_base64"]
    );

    // Fixture replay for CI: the entry saved as a file, replayed with a fresh timestamp.
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("push.json");
    let shown = sandbox.cli(&["show", "1", "--json"]);
    std::fs::write(&fixture, &shown.stdout).unwrap();
    let from_file = Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .args(["sandbox", "replay", "--file"])
        .arg(&fixture)
        .args(["--to", &strict.base, "--secret", "new-secret", "--json"])
        .output()
        .unwrap();
    assert_eq!(from_file.status.code(), Some(0), "{from_file:?}");
    assert_eq!(json(&from_file)["status"], 200);
}

fn answer_header(entry: &Value, name: &str) -> Option<String> {
    entry["headers"]
        .as_array()?
        .iter()
        .find(|p| p[0] == name)
        .and_then(|p| p[1].as_str().map(str::to_owned))
}

#[tokio::test]
async fn the_config_endpoint_changes_answers_at_run_time_and_hides_secrets() {
    let sandbox = Sandbox::start(&["--scheme", "github", "--secret", "hidden-value"]);
    assert_eq!(send(post(&sandbox.url("/x"), b"{}")).await.status, 200);
    let shown = send(get(&sandbox.url("/_sandbox/config"))).await;
    assert!(shown.text().contains("[redacted]"), "{}", shown.text());
    assert!(!shown.text().contains("hidden-value"));

    let put = |body: &'static str| {
        Request::put(sandbox.url("/_sandbox/config"))
            .body(Bytes::from_static(body.as_bytes()))
            .unwrap()
    };
    let changed = send(put(
        r#"{"paths": {"/x": {"status": 418, "body": "teapot"}}}"#,
    ))
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let x = send(post(&sandbox.url("/x"), b"{}")).await;
    assert_eq!((x.status, x.text().as_str()), (418, "teapot"));

    let bad = send(put(r#"{"paths": {"x": {"error_rate": 2}}}"#)).await;
    assert_eq!(bad.status, 400);
    let problems: Value = serde_json::from_slice(&bad.body).unwrap();
    assert_eq!(
        problems["problems"].as_array().unwrap().len(),
        2,
        "{problems}"
    );
    // A refused change leaves the previous settings in force.
    assert_eq!(send(post(&sandbox.url("/x"), b"{}")).await.status, 418);
}

#[tokio::test]
async fn the_example_settings_file_runs() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/sandbox.toml");
    let sandbox = Sandbox::start(&["-c", file]);
    let created = send(post(&sandbox.url("/hooks/created"), b"{}")).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.header("content-type"), Some("application/json"));
    // GitHub's documented test vector verifies with the example's secret.
    let signed = Request::post(sandbox.url("/hooks/github"))
        .header(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )
        .body(Bytes::from_static(b"Hello, World!"))
        .unwrap();
    assert_eq!(
        send(signed).await.header("x-sandbox-signature"),
        Some("valid")
    );
}

/// hookguard's outbound side delivering to the sandbox: the sandbox verifies the Standard
/// Webhooks signatures hookguard makes, and its injected 503s are retried until a run-time
/// config change lets the delivery through.
#[tokio::test]
async fn hookguard_outbound_deliveries_verify_at_the_sandbox_and_its_errors_are_retried() {
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sandbox = Sandbox::start(&[
        "--scheme",
        "standard-webhooks",
        "--secret",
        WHSEC,
        "--path",
        "/hooks=status=503",
    ]);
    let events = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = upstream().start().await;
    let proxy = hookguard_tests::sidecar(env!("CARGO_BIN_EXE_hookguard"))
        .config(format!(
            r#"
[queue]
retry_schedule = ["100ms", "200ms", "300ms", "300ms", "300ms", "300ms"]

[outbound]
listen = "{events}"
allow_http = true
allow_networks = ["127.0.0.0/8"]

[upstream]
address = "{}"

[[subscriptions]]
id = "sandbox"
url = "{}"
events = ["*"]
secrets = [{{ id = "v1", value = "{WHSEC}" }}]
"#,
            app.addr(),
            sandbox.url("/hooks")
        ))
        .start()
        .await;
    let posted = send(
        Request::post(format!("http://{events}/v1/events"))
            .header("content-type", "application/json")
            .body(Bytes::from_static(
                br#"{"type":"job.completed","id":"evt_1","payload":{"job":1}}"#,
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(posted.status, 202, "{}", posted.text());

    let history = || async {
        let answer = send(get(&sandbox.url("/_sandbox/history"))).await;
        serde_json::from_slice::<Value>(&answer.body).unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    hookguard_tests::assert_eventually!(history().await.len() >= 2, "no retry reached the sandbox");
    let put = Request::put(sandbox.url("/_sandbox/config"))
        .body(Bytes::from(
            serde_json::json!({"verify": {"scheme": "standard-webhooks", "secrets": [WHSEC]}})
                .to_string(),
        ))
        .unwrap();
    assert_eq!(send(put).await.status, 200);
    hookguard_tests::assert_eventually!(
        history().await.first().is_some_and(|e| e["status"] == 200),
        "the delivery never got through"
    );
    let items = history().await;
    assert!(
        items.iter().skip(1).all(|e| e["status"] == 503),
        "{items:#?}"
    );
    // Every attempt carried a signature the sandbox accepts, with the same webhook-id.
    let mut ids = Vec::new();
    for item in &items {
        assert_eq!(item["signature"], "valid", "{item}");
        let entry = sandbox.entry(&item["id"].to_string()).await;
        ids.push(answer_header(&entry, "webhook-id"));
    }
    ids.dedup();
    assert_eq!(ids, [Some("evt_1".to_owned())]);
    drop(proxy);
}
