//! Sidecars on Redis Sentinel and on a Redis Cluster (real servers started by the test
//! support code): replicas share the replay records through either, a kill -9 of the
//! Sentinel master is followed within 5 s, and `hookguard check` reports the topology and
//! the nodes that do not answer.

use std::process::Command;
use std::time::{Duration, Instant};

use hookguard_tests::{send, upstream, RedisCluster, RedisSentinel, Sidecar, Signer};

use super::{config, github_route, sidecar, SECRET};

fn sentinel_state(setup: &RedisSentinel, extra_sentinel: &str) -> String {
    let mut nodes: Vec<String> = setup.sentinel_addrs();
    if !extra_sentinel.is_empty() {
        nodes.push(extra_sentinel.to_owned());
    }
    let nodes: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "[state]\nbackend = \"redis\"\ncommand_timeout = \"500ms\"\nconnect_timeout = \"300ms\"\n\n[state.sentinel]\nmaster_name = \"{}\"\nnodes = [{}]\n",
        setup.master_name(),
        nodes.join(", ")
    )
}

fn cluster_state(cluster: &RedisCluster, extra_node: &str) -> String {
    let mut nodes = cluster.addrs();
    if !extra_node.is_empty() {
        nodes.push(extra_node.to_owned());
    }
    let nodes: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "[state]\nbackend = \"redis\"\ncommand_timeout = \"1s\"\nconnect_timeout = \"300ms\"\nprefix = \"e2e-{}:\"\ncluster = [{}]\n",
        std::process::id(),
        nodes.join(", ")
    )
}

async fn post(proxy: &Sidecar, id: &str) -> hookguard_tests::Answer {
    let body = format!(r#"{{"delivery":"{id}"}}"#);
    send(Signer::new("github", SECRET).post(&proxy.url("/webhooks/github"), body.as_bytes(), id))
        .await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port()
}

/// `hookguard check -c` on `text`: exit code, stdout, stderr.
fn check(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("hookguard.toml");
    std::fs::write(&file, text).expect("write the config");
    let out = Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .expect("run hookguard check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn replicas_through_sentinel_share_replays_and_follow_a_kill_9_of_the_master() {
    let mut setup = RedisSentinel::start();
    let app = upstream().record().start().await;
    let text = config(
        &app,
        &sentinel_state(&setup, ""),
        &github_route("github", "/webhooks/github", ""),
    );
    let a = sidecar().config(text.clone()).start().await;
    let b = sidecar().config(text).start().await;
    assert_eq!(post(&a, "s-1").await.status, 200);
    let again = post(&b, "s-1").await;
    assert!(
        again.text().starts_with(r#"{"error":"duplicate""#),
        "{}",
        again.text()
    );
    assert_eq!(app.requests().len(), 1);

    setup.wait_for_replication();
    let old = setup.master_addr();
    setup.kill9_master();
    let new = setup.wait_for_failover(old);
    let named = Instant::now();
    // The replay guard fails closed meanwhile (503); within 5 s both answer from the new
    // master, which has the record: the replay is still refused.
    let mut i = 0;
    loop {
        i += 1;
        let answer = post(&a, &format!("s-after-{i}")).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503, "{}", answer.text());
        assert!(
            named.elapsed() < Duration::from_secs(5),
            "not back within 5 s of the sentinel naming {new}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "sidecar A answered 200 {:?} after the sentinel named the new master",
        named.elapsed()
    );
    let replay = post(&b, "s-1").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut replay = replay;
    while replay.status == 503 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        replay = post(&b, "s-1").await;
    }
    assert!(
        replay.text().starts_with(r#"{"error":"duplicate""#),
        "{}",
        replay.text()
    );
    a.assert_no_secret_in_logs();
}

#[tokio::test]
async fn replicas_on_a_cluster_share_replays() {
    let cluster = RedisCluster::shared();
    let app = upstream().record().start().await;
    let text = config(
        &app,
        &cluster_state(cluster, ""),
        &github_route("github", "/webhooks/github", ""),
    );
    let a = sidecar().config(text.clone()).start().await;
    let b = sidecar().config(text).start().await;
    for i in 0..6 {
        let id = format!("c-{i}");
        assert_eq!(post(&a, &id).await.status, 200);
        let again = post(&b, &id).await;
        assert!(
            again.text().starts_with(r#"{"error":"duplicate""#),
            "{id}: {}",
            again.text()
        );
    }
    assert_eq!(app.requests().len(), 6);
}

#[tokio::test]
async fn check_reports_the_sentinel_master_and_the_sentinel_that_does_not_answer() {
    let setup = RedisSentinel::shared();
    let app = upstream().record().start().await;
    let dead = format!("127.0.0.1:{}", free_port());
    let text = config(
        &app,
        &sentinel_state(setup, &dead),
        &github_route("github", "/webhooks/github", ""),
    );
    let (code, stdout, stderr) = check(&text);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let master = setup.master_addr();
    assert!(
        stdout.contains(&format!(
            "state: redis sentinel, master \"{}\" at {master}\n",
            setup.master_name()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  sentinel {dead}: UNREACHABLE: ")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  master {master}: answers (")),
        "{stdout}"
    );
    assert!(
        stdout.contains("state: redis answers (PING in "),
        "{stdout}"
    );
}

#[tokio::test]
async fn check_lists_the_cluster_nodes_and_fails_when_none_answers() {
    let cluster = RedisCluster::shared();
    let app = upstream().record().start().await;
    let route = github_route("github", "/webhooks/github", "");
    let (code, stdout, stderr) = check(&config(&app, &cluster_state(cluster, ""), &route));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("state: redis cluster "), "{stdout}");
    for addr in cluster.addrs() {
        assert!(
            stdout.contains(&format!("  master {addr}: answers (")),
            "{stdout}"
        );
    }

    // No node answers: exit 1, each seed named.
    let (a, b) = (free_port(), free_port());
    let dead = format!(
        "[state]\nbackend = \"redis\"\nconnect_timeout = \"200ms\"\ncommand_timeout = \"300ms\"\ncluster = [\"127.0.0.1:{a}\", \"127.0.0.1:{b}\"]\n"
    );
    let (code, stdout, stderr) = check(&config(&app, &dead, &route));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("  seed 127.0.0.1:{a}: UNREACHABLE: ")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("  seed 127.0.0.1:{b}: UNREACHABLE: ")),
        "{stderr}"
    );
    assert!(stderr.contains("is unreachable"), "{stderr}");
}
