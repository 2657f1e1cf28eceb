//! Hot reload: a secret rotated while requests flow, and a bad file that changes nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hookguard_tests::{assert_eventually, send, try_send, upstream, Signer};

use super::{config, sample, sidecar};

const OLD: &str = "rotation-old-secret-5d1c";
const NEW: &str = "rotation-new-secret-9a2f";

fn rotation_route(secrets: &[(&str, &str)]) -> String {
    let list: Vec<String> = secrets
        .iter()
        .map(|(id, value)| format!("{{ id = \"{id}\", value = \"{value}\" }}"))
        .collect();
    format!(
        "[[routes]]\nid = \"github\"\nmatch.path = \"/webhooks/github\"\nscheme = \"github\"\nsecrets = [{}]\n",
        list.join(", ")
    )
}

/// One request of the background load.
struct Sent {
    /// The test's phase when the request was signed.
    phase: usize,
    /// The secret it was signed with.
    secret: &'static str,
    /// Status, or the transport error.
    result: Result<u16, String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_secret_by_reload_fails_no_request_in_flight() {
    let app = upstream().record().start().await;
    let mut proxy = sidecar()
        .config(config(&app, "", &rotation_route(&[("old", OLD)])))
        .start()
        .await;
    let url = proxy.url("/webhooks/github");

    // Two tasks keep sending, one request at a time each, signed with the secret the test
    // believes active. The test switches that belief only once the new secret is accepted,
    // and removes the old secret only once every task has finished its last old-signed
    // request: no request can legitimately fail.
    let phase = Arc::new(AtomicUsize::new(0));
    let use_new = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(Vec::<Sent>::new()));
    let mut new_signed_done = Vec::new();
    let mut tasks = Vec::new();
    let serial = Arc::new(AtomicU64::new(0));
    for _ in 0..2 {
        let done = Arc::new(AtomicUsize::new(0));
        new_signed_done.push(Arc::clone(&done));
        let (url, phase, use_new, stop, sent, serial) = (
            url.clone(),
            Arc::clone(&phase),
            Arc::clone(&use_new),
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&serial),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let at = phase.load(Ordering::SeqCst);
                let secret = if use_new.load(Ordering::SeqCst) {
                    NEW
                } else {
                    OLD
                };
                let id = format!("load-{}", serial.fetch_add(1, Ordering::SeqCst));
                let request = Signer::new("github", secret).post(&url, b"{}", &id);
                let result = try_send(request).await.map(|a| a.status);
                if secret == NEW {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                sent.lock().unwrap().push(Sent {
                    phase: at,
                    secret,
                    result,
                });
            }
        }));
    }
    let probe = |secret: &'static str, id: String| {
        let request = Signer::new("github", secret).post(&url, b"{}", &id);
        async move { send(request).await.status }
    };
    let probes = AtomicU64::new(0);
    let next_probe = || format!("probe-{}", probes.fetch_add(1, Ordering::SeqCst));

    // Phase 1: both secrets listed; wait until the new one is accepted.
    phase.store(1, Ordering::SeqCst);
    proxy.rewrite_config(&config(
        &app,
        "",
        &rotation_route(&[("new", NEW), ("old", OLD)]),
    ));
    assert_eventually!(
        probe(NEW, next_probe()).await == 200,
        "the new secret was never accepted"
    );

    // Phase 2: sign with the new secret; wait until every task has a new-signed answer.
    phase.store(2, Ordering::SeqCst);
    use_new.store(true, Ordering::SeqCst);
    assert_eventually!(
        new_signed_done.iter().all(|d| d.load(Ordering::SeqCst) > 0),
        "the tasks never switched"
    );

    // Phase 3: only the new secret; wait until the old one is refused.
    phase.store(3, Ordering::SeqCst);
    proxy.rewrite_config(&config(&app, "", &rotation_route(&[("new", NEW)])));
    assert_eventually!(
        probe(OLD, next_probe()).await == 401,
        "the old secret was never removed"
    );
    phase.store(4, Ordering::SeqCst);
    let settled = sent.lock().unwrap().len();
    assert_eventually!(sent.lock().unwrap().len() >= settled + 4);
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }

    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let failed: Vec<String> = sent
        .iter()
        .filter(|s| s.result != Ok(200))
        .map(|s| format!("phase {} signed {}: {:?}", s.phase, s.secret, s.result))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        sent.len()
    );
    // Requests really were in flight while each new file was being picked up.
    for during in [1, 3] {
        let n = sent.iter().filter(|s| s.phase == during).count();
        assert!(n > 0, "no request during phase {during}");
    }
    assert!(sent.iter().any(|s| s.secret == OLD) && sent.iter().any(|s| s.secret == NEW));
    let metrics = proxy.metrics().await;
    for id in ["old", "new"] {
        let labels = format!("route=\"github\",secret_id=\"{id}\"");
        assert!(
            sample(&metrics, "hookguard_secret_matches_total", &labels).unwrap_or(0.0) > 0.0,
            "no match counted for {id}:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn a_bad_reload_keeps_the_last_good_config_and_says_so() {
    const FIRST: &str = "first-good-secret-77ab";
    const SECOND: &str = "second-good-secret-c3d9";
    let app = upstream().record().start().await;
    let good = |secret: &str| {
        config(
            &app,
            "",
            &format!(
                "[[routes]]\nid = \"github\"\nmatch.path = \"/webhooks/github\"\nscheme = \"github\"\nsecrets = [{{ id = \"primary\", value = \"{secret}\" }}]\n"
            ),
        )
    };
    let mut proxy = sidecar().config(good(FIRST)).start().await;
    let url = proxy.url("/webhooks/github");
    let status = |secret: &str, id: &str| {
        let request = Signer::new("github", secret).post(&url, b"{}", id);
        async move { send(request).await.status }
    };
    let gauge = "hookguard_config_last_reload_successful";
    assert_eq!(sample(&proxy.metrics().await, gauge, ""), Some(1.0));

    // Each broken file would change the secret if it were applied: a TOML syntax error on
    // the secret's own line, then an unknown key.
    let broken_syntax = good(SECOND).replace(" }]", " ]");
    let unknown_key = good(SECOND).replace("scheme = ", "colour = \"red\"\nscheme = ");
    for (n, broken) in [&broken_syntax, &unknown_key].into_iter().enumerate() {
        proxy.rewrite_config(broken);
        let failures = || {
            proxy
                .stderr_lines()
                .iter()
                .filter(|l| l.contains("keeping the last good configuration"))
                .count()
        };
        assert_eventually!(failures() == n + 1, "broken file {n} was not noticed");
        assert_eq!(sample(&proxy.metrics().await, gauge, ""), Some(0.0));
        assert_eq!(status(FIRST, &format!("d-first-{n}")).await, 200);
        assert_eq!(status(SECOND, &format!("d-second-{n}")).await, 401);
    }
    // The log says which file, where, and that the old configuration stays.
    let stderr = proxy.stderr_lines().join("\n");
    let path = proxy.config_path().display().to_string();
    assert!(
        stderr.contains("keeping the last good configuration"),
        "{stderr}"
    );
    // The file as written starts with the 2 lines of listen addresses.
    let line = 3 + unknown_key
        .lines()
        .position(|l| l.starts_with("colour"))
        .unwrap();
    assert!(stderr.contains(&format!("{path}:{line}:1")), "{stderr}");

    // A good file again: applied, and the gauge recovers.
    proxy.rewrite_config(&good(SECOND));
    assert_eventually!(sample(&proxy.metrics().await, gauge, "") == Some(1.0));
    assert_eq!(status(SECOND, "d-second-ok").await, 200);
    assert_eq!(status(FIRST, "d-first-late").await, 401);
}
