//! Shutdown, metrics, logs, and `hookguard check`.

use std::process::Command;
use std::time::{Duration, Instant};

use hookguard_tests::{assert_eventually, send, upstream, Signer};
use prometheus_parse::{LineInfo, Scrape, Value};

use super::{config, github_route, sample, sidecar, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readiness_503_and_lets_the_request_in_flight_finish() {
    let app = upstream()
        .record()
        .delay(Duration::from_millis(2000))
        .start()
        .await;
    let mut proxy = sidecar()
        .config(config(
            &app,
            "shutdown_grace_period = \"3s\"",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let request =
        Signer::new("github", SECRET).post(&proxy.url("/webhooks/github"), b"{}", "d-slow");
    let in_flight = tokio::spawn(send(request));
    // The app has the request and is still working on it.
    assert_eventually!(app.requests().len() == 1);

    proxy.sigterm();
    let signalled = Instant::now();
    assert_eventually!(proxy.admin_get("/readyz").await.0 == 503);
    assert!(
        !in_flight.is_finished(),
        "the request finished before readiness turned 503: the test proves nothing"
    );
    let (_, body) = proxy.admin_get("/readyz").await;
    assert_eq!(body.trim(), "draining");

    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer.text().starts_with("upstream got 2 bytes"),
        "{}",
        answer.text()
    );

    // The process ends within the configured grace period (3 s) and pingora's 1 s for its
    // runtimes to stop (plus slack for a busy machine), not after pingora's default 300 s.
    let status = proxy
        .wait_exit(Duration::from_secs(7).saturating_sub(signalled.elapsed()))
        .await
        .expect("still running 7 s after SIGTERM");
    assert!(status.success(), "{status}");
    let log = proxy.stdout_lines().join("\n");
    assert!(log.contains(r#""delivery_id":"d-slow""#), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_sidecar_exits_soon_after_sigterm_not_after_the_whole_grace_period() {
    let app = upstream().record().start().await;
    let mut proxy = sidecar()
        .config(config(
            &app,
            "shutdown_grace_period = \"30s\"",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let answer =
        send(Signer::new("github", SECRET).post(&proxy.url("/webhooks/github"), b"{}", "d-1"))
            .await;
    assert_eq!(answer.status, 200);
    proxy.sigterm();
    // One quiet second after the last request, well inside the 30 s grace period.
    let status = proxy
        .wait_exit(Duration::from_secs(8))
        .await
        .expect("an idle sidecar waited out its grace period");
    assert!(status.success(), "{status}");
}

/// Every metric the issue names, and its type.
const METRICS: [(&str, &str); 7] = [
    ("hookguard_requests_total", "counter"),
    ("hookguard_request_duration_seconds", "histogram"),
    ("hookguard_upstream_duration_seconds", "histogram"),
    ("hookguard_request_body_bytes", "histogram"),
    ("hookguard_secret_matches_total", "counter"),
    ("hookguard_config_last_reload_successful", "gauge"),
    ("hookguard_build_info", "gauge"),
];

#[tokio::test]
async fn metrics_pass_a_prometheus_parser_and_name_every_metric() {
    let app = upstream().record().start().await;
    let proxy = sidecar()
        .config(config(
            &app,
            "",
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    let url = proxy.url("/webhooks/github");
    let valid = Signer::new("github", SECRET).post(&url, b"{\"a\":1}", "d-valid");
    assert_eq!(send(valid).await.status, 200);
    let forged = Signer::new("github", "nope").post(&url, b"{\"a\":2}", "d-forged");
    assert_eq!(send(forged).await.status, 401);
    // Request data never becomes a label value.
    let unknown = http::Request::post(proxy.url("/no/such/path-7c1e"))
        .body(bytes::Bytes::new())
        .unwrap();
    assert_eq!(send(unknown).await.status, 404);

    let mut text;
    assert_eventually!(
        {
            text = proxy.metrics().await;
            sample(
                &text,
                "hookguard_requests_total",
                r#"outcome="rejected",reason="route_not_found",route="-""#,
            ) == Some(1.0)
        },
        "the three requests are not all counted:\n{text}"
    );

    // prometheus-parse skips lines it cannot read: check that it read every one.
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Ignored => panic!("not Prometheus text format: {line:?}"),
            LineInfo::Sample { value, .. } => {
                let ok = matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok();
                assert!(ok, "bad sample value in {line:?}");
            }
            _ => {}
        }
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    for (name, kind) in METRICS {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} is not a {kind}:\n{text}"
        );
        assert!(scrape.docs.contains_key(name), "{name} has no HELP");
        let found = scrape.samples.iter().any(|s| {
            s.metric == name
                && match (kind, &s.value) {
                    ("counter", Value::Counter(_)) | ("gauge", Value::Gauge(_)) => true,
                    ("histogram", Value::Histogram(buckets)) => !buckets.is_empty(),
                    _ => false,
                }
        });
        assert!(found, "no {kind} sample of {name}:\n{text}");
    }
    let requests = |outcome: &str, reason: &str| {
        scrape.samples.iter().find_map(|s| {
            let labels = (
                &s.labels.get("route"),
                &s.labels.get("outcome"),
                &s.labels.get("reason"),
            );
            match (s.metric.as_str(), labels, &s.value) {
                (
                    "hookguard_requests_total",
                    (Some("github"), Some(o), Some(r)),
                    Value::Counter(v),
                ) if *o == outcome && *r == reason => Some(*v),
                _ => None,
            }
        })
    };
    assert_eq!(requests("forwarded", ""), Some(1.0));
    assert_eq!(requests("rejected", "signature_mismatch"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "hookguard_secret_matches_total",
            r#"route="github",secret_id="primary""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "hookguard_upstream_duration_seconds_count",
            r#"route="github""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "hookguard_config_last_reload_successful", ""),
        Some(1.0)
    );
    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert_eq!(sample(&text, "hookguard_build_info", &version), Some(1.0));
    assert!(
        !text.contains("path-7c1e") && !text.contains(SECRET),
        "{text}"
    );
}

#[tokio::test]
async fn no_secret_or_credential_reaches_any_log_line() {
    const ENV_SECRET: &str = "env-secret-value-0e4d";
    const FILE_SECRET: &str = "file-secret-value-88f1";
    const KEY: &str = "wh_S3cr3tK3yS3cr3tK3yS3cr3tK3yAbCde";
    const AUTHORIZATION: &str = "Bearer authorization-token-51aa";
    const COOKIE: &str = "session=cookie-value-2b9c";
    let app = upstream().record().start().await;
    let routes = format!(
        r#"{inline}
[[routes]]
id = "from-env"
match.path = "/env"
scheme = "github"
secrets = [{{ id = "primary", env = "HOOKGUARD_TEST_SECRET" }}]

[[routes]]
id = "from-file"
match.path = "/file"
scheme = "github"
secrets = [{{ id = "primary", file = "secrets/github.secret" }}]

[[routes]]
id = "keyed"
match.key_prefix = "/hooks/"
match.keys = [{{ key = "{KEY}" }}]
scheme = "github"
secrets = [{{ id = "primary", value = "{SECRET}" }}]
"#,
        inline = github_route("inline", "/inline", "")
    );
    let mut proxy = sidecar()
        .config(config(&app, "", &routes))
        .secret_env("HOOKGUARD_TEST_SECRET", ENV_SECRET)
        .secret_file("secrets/github.secret", &format!("{FILE_SECRET}\n"))
        .start()
        .await;

    let mut signatures = Vec::new();
    let mut n = 0;
    for (path, secret) in [
        ("/inline", SECRET),
        ("/env", ENV_SECRET),
        ("/file", FILE_SECRET),
        (&*format!("/hooks/{KEY}"), SECRET),
    ] {
        for (signed_with, expected) in [(secret, 200), ("wrong", 401)] {
            n += 1;
            let mut request =
                Signer::new("github", signed_with).post(&proxy.url(path), b"{}", &format!("d-{n}"));
            let headers = request.headers_mut();
            headers.insert("authorization", AUTHORIZATION.parse().unwrap());
            headers.insert("cookie", COOKIE.parse().unwrap());
            signatures.push(headers["x-hub-signature-256"].to_str().unwrap().to_owned());
            let answer = send(request).await;
            assert_eq!(answer.status, expected, "{path}: {}", answer.text());
        }
    }
    // A broken reload, whose error is logged, with a secret on the broken line.
    proxy.rewrite_config(&config(
        &app,
        "",
        "[[routes]]\nid = \"x\"\nmatch.path = \"/x\"\nscheme = \"github\"\nsecrets = [{ id = \"p\", value = \"broken-file-secret-a1\" ]\n",
    ));
    assert_eventually!(
        sample(
            &proxy.metrics().await,
            "hookguard_config_last_reload_successful",
            ""
        ) == Some(0.0)
    );
    assert_eventually!(
        proxy.stdout_lines().len() == 8,
        "{:?}",
        proxy.stdout_lines()
    );

    // One JSON line per request, with the fields the issue lists.
    for line in proxy.stdout_lines() {
        let entry: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
        for field in [
            "route",
            "outcome",
            "reason",
            "status",
            "client_ip",
            "delivery_id",
            "secret_index",
            "body_bytes",
            "duration_ms",
            "upstream_ms",
        ] {
            assert!(entry.get(field).is_some(), "{field} missing in {line}");
        }
        if entry["status"] == 200 {
            assert_eq!(entry["secret_index"], 0, "{line}");
            assert!(entry["upstream_ms"].is_number(), "{line}");
        }
    }
    let all: Vec<String> = [proxy.stdout_lines(), proxy.stderr_lines()].concat();
    assert!(
        !proxy.stderr_lines().is_empty(),
        "no diagnostics were logged at all"
    );
    for line in &all {
        for sensitive in [AUTHORIZATION, COOKIE]
            .into_iter()
            .chain(signatures.iter().map(String::as_str))
        {
            assert!(!line.contains(sensitive), "{sensitive:?} logged: {line}");
        }
    }
    // Inline values, env and file secrets, webhook keys: checked over stdout and stderr.
    proxy.finish();
}

fn hookguard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .args(args)
        .output()
        .expect("run hookguard")
}

#[test]
fn check_summarises_the_quickstart_without_its_secrets() {
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.toml");
    let out = hookguard(&["check", "-c", quickstart]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for expected in ["github", "stripe", "inline"] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
    let text = std::fs::read_to_string(quickstart).unwrap();
    for secret in ["It's a Secret to Everybody", "whsec_quickstart_demo_secret"] {
        // The example still has these secrets, so their absence below means something.
        assert!(text.contains(secret));
        assert!(!stdout.contains(secret), "secret in the summary:\n{stdout}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    }
}

/// Runs `hookguard check` on `text`; returns the exit code, stderr and the file's path.
fn check_text(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, text).unwrap();
    let out = hookguard(&["check", "-c", path.to_str().unwrap()]);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr, path.display().to_string())
}

#[test]
fn check_of_a_broken_config_exits_2_with_file_line_and_column() {
    const ROUTE: &str = "upstream.address = \"127.0.0.1:3000\"\n\
                         \n\
                         [[routes]]\n\
                         id = \"github\"\n\
                         match.path = \"/webhooks/github\"\n";
    const SECRETS: &str = "secrets = [{ id = \"primary\", value = \"broken-config-secret-42\" }]\n";

    // Two invalid values in two routes: both reported, each where it is.
    let (code, stderr, file) = check_text(&format!(
        "{ROUTE}scheme = \"gitlub\"\n{SECRETS}\n\
         [[routes]]\nid = \"other\"\nmatch.path = \"/other\"\nscheme = \"github\"\n{SECRETS}\
         ip.allow = [\"not-an-ip\"]\n"
    ));
    assert_eq!(code, Some(2), "{stderr}");
    // `scheme`'s value starts on line 6, column 10; the bad address on line 14, column 13.
    assert!(stderr.contains(&format!("{file}:6:10")), "{stderr}");
    assert!(stderr.contains("gitlub"), "{stderr}");
    assert!(stderr.contains(&format!("{file}:14:13")), "{stderr}");
    assert!(stderr.contains("not-an-ip"), "{stderr}");
    assert!(!stderr.contains("broken-config-secret-42"), "{stderr}");

    // An unknown key, at its own position.
    let (code, stderr, file) = check_text(&format!(
        "{ROUTE}scheme = \"github\"\n{SECRETS}colour = \"red\"\n"
    ));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{file}:8:1")), "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");
    assert!(!stderr.contains("broken-config-secret-42"), "{stderr}");
}
