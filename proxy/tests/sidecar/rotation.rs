//! Secret rotation without a reload: a mounted secret file rewritten under the running
//! sidecar is used within one refresher pass, and a secret's `max_age` reaches the
//! credential cache, so `hookguard_secret_too_old` says when a rotation is overdue.

use std::time::{Duration, Instant};

use hookguard_tests::{send, upstream, Signer};

use super::{config, sample, sidecar};

const OLD: &str = "mounted-secret-old-3a9d";
const NEW: &str = "mounted-secret-new-71c2";

/// The cache's refresher looks at file fingerprints every 10 s (`CREDENTIAL_REFRESH`).
const PICKED_UP_WITHIN: Duration = Duration::from_secs(25);

#[tokio::test]
async fn a_rewritten_secret_file_is_used_without_a_reload() {
    let app = upstream().record().start().await;
    let routes = r#"
[[routes]]
id = "mounted"
match.path = "/mounted"
scheme = "github"
secrets = [{ id = "primary", file = "secrets/github" }]
"#;
    let proxy = sidecar()
        .config(config(&app, "", routes))
        .secret_file("secrets/github", &format!("{OLD}\n"))
        .start()
        .await;
    let mut n = 0;
    let mut status_with = |secret: &'static str| {
        n += 1;
        let request =
            Signer::new("github", secret).post(&proxy.url("/mounted"), b"{}", &format!("d-{n}"));
        async move { send(request).await.status }
    };
    assert_eq!(status_with(OLD).await, 200);
    assert_eq!(status_with(NEW).await, 401);

    // Rotated as the kubelet does it: the new content appears at the path in one rename.
    let path = proxy.dir().join("secrets/github");
    let staging = proxy.dir().join("secrets/.github.new");
    std::fs::write(&staging, format!("{NEW}\n")).unwrap();
    std::fs::rename(&staging, &path).unwrap();

    let rotated = Instant::now();
    loop {
        if status_with(NEW).await == 200 {
            break;
        }
        assert!(
            rotated.elapsed() < PICKED_UP_WITHIN,
            "the rotated secret was not used within {PICKED_UP_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status_with(OLD).await, 401, "the old secret still verifies");
    // The configuration file never changed, so nothing was reloaded.
    assert!(
        !proxy
            .stderr_lines()
            .iter()
            .any(|l| l.contains("configuration reloaded")),
        "{:?}",
        proxy.stderr_lines()
    );
    assert_eq!(app.requests().len(), 2);
}

#[tokio::test]
async fn a_secret_older_than_its_max_age_is_reported_too_old() {
    let app = upstream().record().start().await;
    let routes = r#"
[[routes]]
id = "aging"
match.path = "/aging"
scheme = "github"
secrets = [
  { id = "primary", value = "aging-secret-primary-5e1f", rotated_at = "2020-01-01T00:00:00Z", max_age = "90d" },
  { id = "next", value = "aging-secret-next-0b7a", rotated_at = "2020-01-01T00:00:00Z", max_age = "36500d" },
  { id = "unbounded", value = "aging-secret-other-c4d2", rotated_at = "2020-01-01T00:00:00Z" },
]
"#;
    let proxy = sidecar().config(config(&app, "", routes)).start().await;
    let metrics = proxy.metrics().await;
    let too_old = |secret: &str| {
        sample(
            &metrics,
            "hookguard_secret_too_old",
            &format!("route=\"aging\",secret_id=\"{secret}\""),
        )
    };
    assert_eq!(too_old("primary"), Some(1.0), "{metrics}");
    assert_eq!(too_old("next"), Some(0.0), "{metrics}");
    assert_eq!(too_old("unbounded"), Some(0.0), "{metrics}");
    proxy.assert_no_secret_in_logs();
}
