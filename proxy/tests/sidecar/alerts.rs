//! Built-in alerting through the real binary: a rule fires on the sidecar's own counters
//! and resolves when its window has passed, notifying stand-ins that record what they get
//! and speak the documented APIs (Slack incoming webhooks, PagerDuty Events API v2, a
//! Standard Webhooks receiver), a real Mosquitto broker, and a test SMTP server with
//! STARTTLS (`hookguard alerts test`).

use std::time::Duration;

use hookguard_tests::{assert_eventually, send, upstream, Mosquitto, Signer, SmtpServer};

use super::{config, github_route, sidecar, SECRET};

/// Svix's documented example secret.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SLACK_PATH: &str = "/services/T0000/B0000/slack-url-secret-7c1d";
const ROUTING_KEY: &str = "pd-routing-key-0123456789abcdef";

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("a JSON body")
}

/// Three forged deliveries on route `github`.
async fn forged(proxy: &hookguard_tests::Sidecar, n: usize) {
    for i in 0..n {
        let request = Signer::new("github", "not-the-secret").post(
            &proxy.url("/webhooks/github"),
            b"{}",
            &format!("d-{i}"),
        );
        assert_eq!(send(request).await.status, 401);
    }
}

#[tokio::test]
async fn an_auth_failure_alert_reaches_slack_pagerduty_and_a_signed_webhook_then_resolves() {
    let app = upstream().record().start().await;
    let slack = upstream().record().start().await;
    let pagerduty = upstream().status(202).record().start().await;
    let receiver = upstream().record().start().await;
    let alerts = format!(
        r#"
[admin]
tokens = [{{ id = "ops", env = "ADMIN_TOKEN" }}]

[alerts]
evaluate_every = "100ms"

[[alerts.rules]]
id = "forged"
kind = "auth_failures"
threshold = 2
window = "4s"
channels = ["slack", "pd", "hook", "log"]

[[alerts.channels]]
id = "slack"
slack = {{ webhook_url = {{ id = "url", env = "SLACK_URL" }} }}

[[alerts.channels]]
id = "pd"
pagerduty = {{ routing_key = {{ id = "key", env = "PD_ROUTING_KEY" }}, url = "http://{}/v2/enqueue" }}

[[alerts.channels]]
id = "hook"
webhook = {{ url = "http://{}/alerts", secrets = [{{ id = "v1", value = "{WHSEC}" }}] }}

[[alerts.channels]]
id = "log"
log = {{}}
"#,
        pagerduty.addr(),
        receiver.addr()
    );
    let proxy = sidecar()
        .config(config(
            &app,
            &alerts,
            &github_route("github", "/webhooks/github", ""),
        ))
        .secret_env("SLACK_URL", &format!("http://{}{SLACK_PATH}", slack.addr()))
        .secret_env("PD_ROUTING_KEY", ROUTING_KEY)
        .secret_env("ADMIN_TOKEN", "admin-token-3f9a")
        .start()
        .await;

    // Two failures are not more than 2: nothing fires.
    forged(&proxy, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(slack.requests().is_empty(), "fired at the threshold");
    forged(&proxy, 1).await;
    assert_eventually!(
        slack.requests().len() == 1
            && pagerduty.requests().len() == 1
            && receiver.requests().len() == 1,
        "the firing notification reaches every channel"
    );

    let firing = slack.only_request();
    assert_eq!(firing.path, SLACK_PATH);
    let text = json(&firing.body)["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("*FIRING* hookguard `forged` (warning)"),
        "{text}"
    );
    assert!(
        text.contains("route github: 3 authentication failures in 4s (threshold 2)"),
        "{text}"
    );

    let trigger = json(&pagerduty.only_request().body);
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "hookguard/forged/route=github");
    assert_eq!(trigger["payload"]["severity"], "warning");
    assert_eq!(trigger["payload"]["source"], "hookguard");
    assert_eq!(trigger["payload"]["component"], "github");
    assert!(trigger["payload"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("[FIRING] hookguard forged: route github"));

    let signed = receiver.only_request();
    standardwebhooks::Webhook::new(WHSEC)
        .unwrap()
        .verify(&signed.body, &signed.headers)
        .expect("the Standard Webhooks reference library accepts the signature");
    let event = json(&signed.body);
    assert_eq!(event["type"], "alert.firing");
    assert_eq!(event["rule"], "forged");
    assert_eq!(event["labels"]["route"], "github");
    assert_eq!(event["value"], 3.0);

    // `alerts list` shows it firing (the admin API's GET /api/v1/alerts).
    let list = alerts_list(&proxy, true).await;
    let rule = &json(list.stdout.as_slice())["rules"][0];
    assert_eq!(rule["id"], "forged");
    assert_eq!(rule["firing"][0]["labels"]["route"], "github");
    let table = String::from_utf8(alerts_list(&proxy, false).await.stdout).unwrap();
    assert!(table.contains("FIRING route=github since"), "{table}");

    // The failures leave the 4 s window: resolved, once, everywhere.
    assert_eventually!(
        slack.requests().len() == 2
            && pagerduty.requests().len() == 2
            && receiver.requests().len() == 2,
        "the resolved notification reaches every channel"
    );
    let text = json(&slack.requests()[1].body)["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("*RESOLVED*"), "{text}");
    let resolve = json(&pagerduty.requests()[1].body);
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], "hookguard/forged/route=github");
    let signed = &receiver.requests()[1];
    standardwebhooks::Webhook::new(WHSEC)
        .unwrap()
        .verify(&signed.body, &signed.headers)
        .expect("signed too");
    assert_eq!(json(&signed.body)["type"], "alert.resolved");
    assert!(
        signed.header("webhook-id") != receiver.requests()[0].header("webhook-id"),
        "each notification has its own id"
    );

    let logged = proxy.stderr_lines();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("hookguard::alerts") && l.contains("\"status\":\"firing\"")),
        "the log channel wrote the firing: {logged:?}"
    );
    assert!(logged
        .iter()
        .any(|l| l.contains("hookguard::alerts") && l.contains("\"status\":\"resolved\"")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(slack.requests().len(), 2, "nothing more after the resolved");
    let table = String::from_utf8(alerts_list(&proxy, false).await.stdout).unwrap();
    assert!(table.contains(" ok "), "{table}");
    proxy.finish();
}

/// `hookguard alerts list [--json]` against `proxy`'s admin API.
async fn alerts_list(proxy: &hookguard_tests::Sidecar, json: bool) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hookguard"));
    command
        .args(["alerts", "list", "--admin"])
        .arg(proxy.admin_url(""))
        .env("HOOKGUARD_ADMIN_TOKEN", "admin-token-3f9a");
    if json {
        command.arg("--json");
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A configuration file for `hookguard alerts test`, in a temporary directory.
fn cli_config(channels: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookguard.toml");
    std::fs::write(
        &path,
        format!(
            r#"upstream.address = "127.0.0.1:9"
{}
[alerts]
{channels}
"#,
            github_route("github", "/webhooks/github", "")
        ),
    )
    .unwrap();
    (dir, path)
}

async fn alerts_test(
    path: &std::path::Path,
    channel: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hookguard"));
    command
        .args(["alerts", "test", "--resolve", "--channel", channel, "-c"])
        .arg(path);
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn alerts_test_sends_email_over_starttls_with_authentication() {
    let smtp = SmtpServer::start().await;
    let mail = format!(
        r#"[[alerts.channels]]
id = "mail"
email = {{ server = "{}", ca_file = "ca.pem", username = "hookguard", password = {{ id = "smtp", env = "SMTP_PASSWORD" }}, from = "hookguard <alerts@example.com>", to = ["oncall@example.com", "Ops <ops@example.com>"] }}

[[alerts.channels]]
id = "untrusted"
email = {{ server = "{}", from = "alerts@example.com", to = ["oncall@example.com"] }}
"#,
        smtp.addr(),
        smtp.addr()
    );
    let (dir, path) = cli_config(&mail);
    std::fs::write(dir.path().join("ca.pem"), smtp.ca_pem()).unwrap();

    let out = alerts_test(&path, "mail", &[("SMTP_PASSWORD", "smtp-pass-5d1c")]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("sent a test alert (firing) through channel mail (email)"),
        "{stdout}"
    );
    assert!(!stdout.contains("smtp-pass-5d1c") && !stderr.contains("smtp-pass-5d1c"));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    for m in &mails {
        assert!(m.tls, "sent after STARTTLS");
        assert_eq!(
            m.auth,
            Some(("hookguard".to_owned(), "smtp-pass-5d1c".to_owned()))
        );
        assert_eq!(m.from, "alerts@example.com");
        assert_eq!(m.to, ["oncall@example.com", "ops@example.com"]);
    }
    assert!(
        mails[0]
            .data
            .contains("Subject: [FIRING] hookguard test: a test alert"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[1]
            .data
            .contains("Subject: [RESOLVED] hookguard test:"),
        "{}",
        mails[1].data
    );

    // Without the CA file the self-signed certificate is refused: nothing is sent.
    let out = alerts_test(&path, "untrusted", &[("SMTP_PASSWORD", "smtp-pass-5d1c")]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("channel untrusted (email): firing notification not delivered: SMTP"),
        "{stderr}"
    );
    assert_eq!(smtp.mails().len(), 2);

    // An unknown channel is a usage error that lists the channels.
    let out = alerts_test(&path, "nope", &[("SMTP_PASSWORD", "smtp-pass-5d1c")]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("no channel \"nope\"; the channels are mail, untrusted"),
        "{stderr}"
    );
}

#[tokio::test]
async fn alerts_and_request_outcomes_reach_a_real_mosquitto() {
    let broker = Mosquitto::start().await;
    let mut alerts_topic = broker.subscribe("hookguard/alerts").await;
    let mut outcomes_topic = broker.subscribe("hookguard/outcomes").await;
    let app = upstream().record().start().await;
    let alerts = format!(
        r#"
[alerts]
evaluate_every = "100ms"

[[alerts.rules]]
id = "forged"
kind = "auth_failures"
threshold = 0
window = "1m"
channels = ["mq"]

[[alerts.channels]]
id = "mq"
mqtt = {{ broker = "{}", outcomes_topic = "hookguard/outcomes" }}
"#,
        broker.addr()
    );
    let proxy = sidecar()
        .config(config(
            &app,
            &alerts,
            &github_route("github", "/webhooks/github", ""),
        ))
        .start()
        .await;
    // The feed starts once the channel is connected; requests before that are not queued.
    let mut seen = Vec::new();
    for i in 0..50 {
        let good = Signer::new("github", SECRET).post(
            &proxy.url("/webhooks/github"),
            b"{}",
            &format!("ok-{i}"),
        );
        assert_eq!(send(good).await.status, 200);
        if let Some((topic, payload)) = outcomes_topic.next(Duration::from_millis(200)).await {
            seen.push((topic, json(&payload)));
            break;
        }
    }
    let (topic, line) = seen.first().expect("an outcome on hookguard/outcomes");
    assert_eq!(topic, "hookguard/outcomes");
    assert_eq!(line["route"], "github");
    assert_eq!(line["outcome"], "forwarded");
    assert_eq!(line["status"], 200);

    forged(&proxy, 1).await;
    let mut rejected = None;
    while let Some((_, payload)) = outcomes_topic.next(Duration::from_secs(5)).await {
        let line = json(&payload);
        if line["outcome"] == "rejected" {
            rejected = Some(line);
            break;
        }
    }
    assert_eq!(
        rejected.expect("the forged request's outcome")["reason"],
        "signature_mismatch"
    );

    let (topic, payload) = alerts_topic
        .next(Duration::from_secs(10))
        .await
        .expect("the firing alert on hookguard/alerts");
    assert_eq!(topic, "hookguard/alerts");
    let alert = json(&payload);
    assert_eq!(alert["type"], "alert.firing");
    assert_eq!(alert["rule"], "forged");
    assert_eq!(alert["labels"]["route"], "github");

    // `alerts test` through the same channel, from the sidecar's own file.
    let out = alerts_test(proxy.config_path(), "mq", &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tests = Vec::new();
    while let Some((_, payload)) = alerts_topic.next(Duration::from_secs(5)).await {
        let alert = json(&payload);
        if alert["rule"] == "test" {
            tests.push(alert["status"].as_str().unwrap().to_owned());
            if tests.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(tests, ["firing", "resolved"]);
    proxy.finish();
}
