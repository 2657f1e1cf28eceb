//! Two real sidecars sharing one real `redis-server` (`[state] backend = "redis"`): a
//! replay refused across replicas, one per-route limit across both, a queued message
//! delivered by the survivor, Redis killed and restarted under traffic, and an unreachable
//! Redis reported by `hookguard check` and at `run`.

use std::process::Command;
use std::time::{Duration, Instant};

use hookguard_tests::{assert_eventually, send, upstream, RedisServer, Sidecar, Signer, Upstream};

use super::{config, github_route, sample, sidecar, SECRET};

fn state(redis: &RedisServer, extra: &str) -> String {
    format!(
        "[state]\nbackend = \"redis\"\nurl = \"{}\"\ncommand_timeout = \"300ms\"\nconnect_timeout = \"300ms\"\n{extra}\n",
        redis.url()
    )
}

async fn post(proxy: &Sidecar, id: &str) -> hookguard_tests::Answer {
    let body = format!(r#"{{"delivery":"{id}"}}"#);
    send(Signer::new("github", SECRET).post(&proxy.url("/webhooks/github"), body.as_bytes(), id))
        .await
}

async fn two(app: &Upstream, text: &str) -> (Sidecar, Sidecar) {
    let a = sidecar().config(text.to_owned()).start().await;
    let b = sidecar().config(text.to_owned()).start().await;
    let _ = app;
    (a, b)
}

#[tokio::test]
async fn a_delivery_accepted_by_one_replica_is_a_duplicate_at_the_other() {
    let redis = RedisServer::start();
    let app = upstream().record().start().await;
    let text = config(
        &app,
        &state(&redis, ""),
        &github_route("github", "/webhooks/github", ""),
    );
    let (a, b) = two(&app, &text).await;

    assert_eq!(post(&a, "d-1").await.status, 200);
    let again = post(&b, "d-1").await;
    assert_eq!(again.status, 200);
    assert!(
        again.text().starts_with(r#"{"error":"duplicate""#),
        "{}",
        again.text()
    );
    assert_eq!(app.requests().len(), 1, "the replay never reached the app");
    // Another id still passes on B.
    assert_eq!(post(&b, "d-2").await.status, 200);
    assert_eq!(app.requests().len(), 2);
    a.assert_no_secret_in_logs();
}

#[tokio::test]
async fn a_per_route_limit_admits_exactly_n_across_both_replicas() {
    let redis = RedisServer::start();
    let app = upstream().record().start().await;
    let route = github_route(
        "github",
        "/webhooks/github",
        "rate_limit.per_route = { requests = 5, per = \"1m\" }",
    );
    let text = config(&app, &state(&redis, ""), &route);
    let (a, b) = two(&app, &text).await;
    let mut admitted = 0;
    let mut refused = 0;
    for i in 0..12 {
        let proxy = if i % 2 == 0 { &a } else { &b };
        let answer = post(proxy, &format!("r-{i}")).await;
        match answer.status {
            200 => admitted += 1,
            429 => {
                refused += 1;
                let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=12).contains(&retry), "retry-after {retry}");
            }
            other => panic!("unexpected {other}: {}", answer.text()),
        }
    }
    assert_eq!(
        (admitted, refused),
        (5, 7),
        "5 per minute across both, not per pod"
    );
    assert_eq!(app.requests().len(), 5);
}

#[tokio::test]
async fn a_message_queued_by_a_killed_replica_is_delivered_by_the_other() {
    let redis = RedisServer::builder().persistent().start();
    let app = upstream().record().start().await;
    // A cannot reach any app (nothing listens on its upstream port): its attempts fail at
    // once and the message waits in Redis for a retry.
    let nowhere = upstream().start().await;
    let dead_addr = nowhere.addr();
    drop(nowhere);
    let top = format!(
        "{}\n[queue]\nretry_schedule = [\"200ms\"]\n",
        state(&redis, "")
    );
    let route = github_route(
        "github",
        "/webhooks/github",
        "delivery = \"queue\"\nqueue = { timeout = \"5s\", max_retries = 10 }",
    );
    let text_b = config(&app, &top, &route);
    let text_a = text_b.replace(&app.addr().to_string(), &dead_addr.to_string());
    let mut a = sidecar().config(text_a).start().await;
    let answer = post(&a, "q-1").await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    // Killed once its first attempt failed, between attempts: the message waits for its
    // retry in Redis, not in A's hands.
    assert_eventually!(
        a.metrics()
            .await
            .lines()
            .any(|l| l.starts_with("hookguard_delivery_attempts_total{")
                && l.contains("outcome=\"failure\"")),
        "A never attempted"
    );
    a.kill9();
    assert!(app.requests().is_empty());
    let _b = sidecar().config(text_b).start().await;
    // Within a retry delay; had A died mid-attempt, after its lease (timeout 5 s + 30 s).
    let deadline = Instant::now() + Duration::from_secs(45);
    while app.requests().is_empty() {
        assert!(Instant::now() < deadline, "B never delivered A's message");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = app.only_request();
    assert_eq!(got.header("x-github-delivery"), Some("q-1"));
}

#[tokio::test]
async fn redis_killed_under_traffic_fails_as_configured_and_recovers_within_5s() {
    let mut redis = RedisServer::builder().persistent().start();
    let app = upstream().record().start().await;
    let route = github_route(
        "github",
        "/webhooks/github",
        "rate_limit.per_route = { requests = 1000, per = \"1m\" }",
    );
    // Defaults: rate limits fail open, the replay guard fails closed.
    let text = config(&app, &state(&redis, ""), &route);
    let proxy = sidecar().config(text).start().await;
    assert_eq!(post(&proxy, "k-0").await.status, 200);
    assert_eq!(
        sample(&proxy.metrics().await, "hookguard_state_backend_up", ""),
        Some(1.0)
    );

    redis.kill9();
    let down = post(&proxy, "k-1").await;
    assert_eq!(
        down.status,
        503,
        "replay guard fails closed: {}",
        down.text()
    );
    assert!(down.header("retry-after").is_some());
    assert_eventually!(
        sample(&proxy.metrics().await, "hookguard_state_backend_up", "") == Some(0.0),
        "the up gauge never fell"
    );
    let metrics = proxy.metrics().await;
    assert!(
        sample(
            &metrics,
            "hookguard_state_degraded_total",
            "feature=\"rate\""
        )
        .unwrap_or(0.0)
            >= 1.0,
        "rate limits decided locally, and counted"
    );
    assert!(
        proxy
            .stderr_lines()
            .iter()
            .chain(proxy.stdout_lines().iter())
            .any(|l| l.contains("redis is down")),
        "the log says redis is down"
    );

    redis.restart();
    let restarted = Instant::now();
    let mut recovered = false;
    while restarted.elapsed() < Duration::from_secs(5) {
        if post(&proxy, &format!("k-{}", restarted.elapsed().as_millis()))
            .await
            .status
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "not serving within 5 s of redis coming back");
    // The AOF kept k-0's record: still a duplicate after the restart.
    let replay = post(&proxy, "k-0").await;
    assert!(
        replay.text().starts_with(r#"{"error":"duplicate""#),
        "{}",
        replay.text()
    );
    assert_eq!(
        sample(&proxy.metrics().await, "hookguard_state_backend_up", ""),
        Some(1.0)
    );
}

fn free_port() -> u16 {
    hookguard_tests::free_port().port()
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error_in_check_and_at_run() {
    let app = upstream().record().start().await;
    let port = free_port();
    let top = format!(
        "[state]\nbackend = \"redis\"\nurl = \"redis://:pw-5f2e@127.0.0.1:{port}/0\"\nconnect_timeout = \"200ms\"\ncommand_timeout = \"300ms\"\n"
    );
    let text = config(&app, &top, &github_route("github", "/webhooks/github", ""));
    let dir = tempfile_dir();
    let file = dir.join("hookguard.toml");
    std::fs::write(&file, &text).unwrap();
    let bin = env!("CARGO_BIN_EXE_hookguard");

    let check = Command::new(bin)
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "state: redis at redis://***@127.0.0.1:{port}/0 is unreachable"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("pw-5f2e"), "{stderr}");

    // The replay guard fails closed: `run` refuses to start, and says why.
    let run = Command::new(bin)
        .args(["run", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_ne!(run.status.code(), Some(0));
    assert!(stderr.contains("is unreachable"), "{stderr}");
    assert!(stderr.contains("the replay guard fail closed"), "{stderr}");
    assert!(!stderr.contains("pw-5f2e"), "{stderr}");

    // Everything fail open: it starts degraded, and answers.
    let open = top + "on_failure = { rate_limits = \"fail_open\", replay = \"fail_open\" }\n";
    let text = config(&app, &open, &github_route("github", "/webhooks/github", ""));
    let proxy = sidecar().config(text).start().await;
    assert_eq!(post(&proxy, "o-1").await.status, 200);
    assert_eq!(
        sample(
            &proxy.metrics().await,
            "hookguard_state_degraded_total",
            "feature=\"replay\""
        ),
        Some(2.0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hookguard-redis-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
