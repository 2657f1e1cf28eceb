use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

// GitHub's webhook ranges as published in the `hooks` array of https://api.github.com/meta
// (the same six networks appear in many public allow lists, e.g. terraform modules for
// Atlantis); the document shape follows GitHub's REST docs for `GET /meta`
// (https://docs.github.com/rest/meta/meta), trimmed to a few keys.
const GITHUB_META: &str = r#"{
  "verifiable_password_authentication": false,
  "ssh_key_fingerprints": {"SHA256_ED25519": "+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"},
  "hooks": ["192.30.252.0/22", "185.199.108.0/22", "140.82.112.0/20", "143.55.64.0/20",
            "2a0a:a440::/29", "2606:50c0::/32"],
  "web": ["192.30.252.0/22"]
}"#;

// Stripe's webhook source addresses (https://docs.stripe.com/ips#webhook-notifications,
// https://stripe.com/files/ips/ips_webhooks.json: a `WEBHOOKS` array of bare addresses).
const STRIPE_WEBHOOKS: &str = r#"{"WEBHOOKS": ["3.18.12.63", "3.130.192.231",
  "13.235.14.237", "13.235.122.149", "18.211.135.69", "35.154.171.200", "52.15.183.38",
  "54.88.130.119", "54.88.130.237", "54.187.174.169", "54.187.205.235", "54.187.216.72"]}"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn github_meta_document_yields_its_hooks_networks() {
    let nets = RangeFormat::GitHubMeta
        .parse(GITHUB_META.as_bytes())
        .unwrap();
    assert_eq!(nets.len(), 6);
    let set: IpSet = nets.into_iter().collect();
    assert!(set.contains(ip("140.82.115.1")));
    assert!(set.contains(ip("2606:50c0:8001::154")));
    assert!(!set.contains(ip("140.82.128.1")));
}

#[test]
fn stripe_document_yields_single_addresses() {
    let nets = RangeFormat::StripeWebhooks
        .parse(STRIPE_WEBHOOKS.as_bytes())
        .unwrap();
    assert_eq!(nets.len(), 12);
    let set: IpSet = nets.into_iter().collect();
    assert!(set.contains(ip("54.187.216.72")));
    assert!(!set.contains(ip("54.187.216.73")));
}

#[test]
fn lines_skip_blank_lines_and_comments() {
    let doc = b"# ops list\n10.0.0.0/8\n\n  2001:db8::/32  # lab\n192.0.2.7\n";
    let nets = RangeFormat::Lines.parse(doc).unwrap();
    assert_eq!(nets.len(), 3);
    let err = RangeFormat::Lines.parse(b"10.0.0.0/8\nnope\n").unwrap_err();
    assert_eq!(err, "line 2: \"nope\" is not an IP address or network");
}

#[test]
fn malformed_or_empty_documents_are_refused_with_the_reason() {
    let gh = RangeFormat::GitHubMeta;
    assert!(gh.parse(b"<html>").unwrap_err().starts_with("not JSON"));
    let missing = gh.parse(br#"{"web": []}"#).unwrap_err();
    assert_eq!(
        missing,
        "expected a GitHub meta JSON object with a \"hooks\" array of strings"
    );
    assert!(gh.parse(br#"{"hooks": "1.2.3.4"}"#).is_err());
    let bad = gh.parse(br#"{"hooks": ["1.2.3.4/8", 7]}"#).unwrap_err();
    assert_eq!(bad, "hooks[1] (7) is not an IP address or network");
    assert_eq!(
        gh.parse(br#"{"hooks": []}"#).unwrap_err(),
        "the list is empty"
    );
    // Stripe's key is upper case; GitHub's key does not satisfy it.
    assert!(RangeFormat::StripeWebhooks
        .parse(GITHUB_META.as_bytes())
        .is_err());
    assert_eq!(
        RangeFormat::Lines.parse(b"# nothing\n").unwrap_err(),
        "the list is empty"
    );
}

#[cfg(feature = "ip-fetch")]
#[test]
fn url_sources_require_https_except_for_loopback() {
    assert!(RangeSource::url("https://api.github.com/meta").is_ok());
    assert!(RangeSource::url("http://127.0.0.1:8080/ranges").is_ok());
    assert!(RangeSource::url("http://[::1]/ranges").is_ok());
    assert!(RangeSource::url("http://localhost/ranges").is_ok());
    let err = RangeSource::url("http://stripe.com/files/ips/ips_webhooks.json").unwrap_err();
    assert!(
        err.contains("plain http is accepted only for loopback"),
        "{err}"
    );
    assert!(RangeSource::url("ftp://example.com/x")
        .unwrap_err()
        .contains("\"ftp\""));
    assert!(RangeSource::url("not a url").is_err());
}

#[cfg(feature = "ip-fetch")]
#[test]
fn url_credentials_and_query_never_show() {
    let source = RangeSource::url("https://user:hunter2@example.com/list?token=s3cret").unwrap();
    for shown in [source.to_string(), format!("{source:?}")] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(shown.contains("https://example.com/list"), "{shown}");
    }
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, contents: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "hookguard-ranges-{}-{tag}-{n}.txt",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
    fn write(&self, contents: &str) {
        std::fs::write(&self.0, contents).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn file_refresh_swaps_ranges_and_a_failed_one_keeps_the_last_good() {
    let file = TempFile::new("swap", "192.0.2.0/24\n");
    let ranges = ProviderRanges::load("ops", RangeSource::file(&file.0), RangeFormat::Lines)
        .await
        .unwrap();
    assert!(ranges.contains(ip("192.0.2.1")));

    file.write("198.51.100.0/24\n");
    assert_eq!(ranges.refresh().await.unwrap(), 1);
    assert!(ranges.contains(ip("198.51.100.1")));
    assert!(!ranges.contains(ip("192.0.2.1")));

    file.write("198.51.100.0/24\nbroken\n");
    let err = ranges.refresh().await.unwrap_err();
    assert!(err.to_string().starts_with("provider ops: "), "{err}");
    assert!(err.message.contains("line 2"), "{err}");
    assert!(ranges.contains(ip("198.51.100.1")), "last good list kept");

    let status = ranges.subscribe().borrow().clone();
    assert_eq!((status.successes, status.failures), (2, 1));
    assert!(status.last_error.unwrap().contains("line 2"));
}

#[tokio::test]
async fn first_load_failure_is_an_error() {
    let err = ProviderRanges::load(
        "ops",
        RangeSource::file("/nonexistent/hookguard-ranges"),
        RangeFormat::Lines,
    )
    .await
    .unwrap_err();
    assert!(err.message.starts_with("cannot read the file"), "{err}");
    assert_eq!(err.source_name, "/nonexistent/hookguard-ranges");
}

#[cfg(not(feature = "ip-fetch"))]
#[test]
fn url_sources_say_the_ip_fetch_feature_is_off() {
    let err = RangeSource::url("https://user:hunter2@api.github.com/meta").unwrap_err();
    assert!(err.contains("needs the `ip-fetch` feature"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// Fetching over HTTP from a server the test starts on 127.0.0.1:0.
#[cfg(feature = "ip-fetch")]
mod over_http {
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A one-route HTTP/1.1 server on 127.0.0.1:0 answering every request with the current
    /// `(status, body)`, and recording each request's head.
    struct RangeServer {
        addr: SocketAddr,
        reply: Arc<Mutex<(u16, String)>>,
        requests: Arc<Mutex<Vec<String>>>,
        task: JoinHandle<()>,
    }

    impl RangeServer {
        async fn start(status: u16, body: &str) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let reply = Arc::new(Mutex::new((status, body.to_owned())));
            let requests = Arc::new(Mutex::new(Vec::new()));
            let (r, q) = (reply.clone(), requests.clone());
            let task = tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let (reply, requests) = (r.clone(), q.clone());
                    tokio::spawn(async move {
                        let mut head = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        requests
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&head).into());
                        let (status, body) = reply.lock().unwrap().clone();
                        let response = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(response.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    });
                }
            });
            Self {
                addr,
                reply,
                requests,
                task,
            }
        }

        fn url(&self) -> RangeSource {
            RangeSource::url(&format!("http://{}/meta", self.addr)).unwrap()
        }

        fn answer(&self, status: u16, body: &str) {
            *self.reply.lock().unwrap() = (status, body.to_owned());
        }

        fn hits(&self) -> usize {
            self.requests.lock().unwrap().len()
        }
    }

    impl Drop for RangeServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    #[tokio::test]
    async fn http_refresh_swaps_ranges_and_failures_keep_the_last_good() {
        let server = RangeServer::start(200, GITHUB_META).await;
        let ranges = ProviderRanges::load("github", server.url(), RangeFormat::GitHubMeta)
            .await
            .unwrap();
        assert!(ranges.contains(ip("192.30.252.10")));
        let head = server.requests.lock().unwrap()[0].to_ascii_lowercase();
        assert!(head.starts_with("get /meta http/1.1"), "{head}");
        assert!(
            head.contains("user-agent: hookguard/"),
            "GitHub's API requires a User-Agent"
        );

        server.answer(500, "oops");
        let err = ranges.refresh().await.unwrap_err();
        assert!(err.message.contains("500"), "{err}");
        assert!(ranges.contains(ip("192.30.252.10")), "kept after HTTP 500");

        server.answer(200, "{\"hooks\": [\"not-a-network\"]}");
        assert!(ranges.refresh().await.is_err());
        assert!(
            ranges.contains(ip("192.30.252.10")),
            "kept after a bad document"
        );

        server.answer(200, r#"{"hooks": ["203.0.113.0/24"]}"#);
        assert_eq!(ranges.refresh().await.unwrap(), 1);
        assert!(ranges.contains(ip("203.0.113.5")));
        assert!(!ranges.contains(ip("192.30.252.10")), "old list replaced");
        assert_eq!(server.hits(), 4);
        let status = ranges.subscribe().borrow().clone();
        assert_eq!(
            (status.successes, status.failures, status.last_error),
            (2, 2, None)
        );
    }

    #[tokio::test]
    async fn unreachable_server_keeps_the_last_good() {
        let mut server = RangeServer::start(200, STRIPE_WEBHOOKS).await;
        let ranges = ProviderRanges::load("stripe", server.url(), RangeFormat::StripeWebhooks)
            .await
            .unwrap();
        // Stop listening: awaiting the aborted task guarantees its listener is closed.
        server.task.abort();
        assert!((&mut server.task).await.is_err());
        let err = ranges.refresh().await.unwrap_err();
        assert!(err.message.starts_with("GET failed"), "{err}");
        assert!(ranges.contains(ip("3.18.12.63")));
    }
}

#[tokio::test]
async fn background_task_refreshes_on_each_trigger_and_stops_with_the_ranges() {
    let file = TempFile::new("trigger", "192.0.2.0/24\n");
    let ranges = ProviderRanges::new("ops", RangeSource::file(&file.0), RangeFormat::Lines);
    assert!(!ranges.contains(ip("192.0.2.1")), "nothing loaded yet");
    let mut status = ranges.subscribe();
    let (trigger, schedule) = mpsc::channel(1);
    let task = ranges.spawn_refresh_on(schedule);

    trigger.send(()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), status.changed())
        .await
        .unwrap()
        .unwrap();
    assert!(ranges.contains(ip("192.0.2.1")));

    file.write("garbage\n");
    trigger.send(()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), status.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.borrow().failures, 1);
    assert!(ranges.contains(ip("192.0.2.1")), "last good list kept");

    drop(ranges);
    // The next trigger finds the ranges gone and ends the task.
    let _ = trigger.send(()).await;
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn interval_task_refreshes_on_tokio_time_without_sleeping() {
    let file = TempFile::new("interval", "192.0.2.0/24\n");
    let ranges = ProviderRanges::load("ops", RangeSource::file(&file.0), RangeFormat::Lines)
        .await
        .unwrap();
    let mut status = ranges.subscribe();
    status.mark_unchanged();
    // Below the minimum: raised to MIN_REFRESH_INTERVAL rather than hammering the provider.
    let task = ranges.spawn_refresh(Duration::ZERO);
    file.write("198.51.100.0/24\n");

    tokio::time::advance(MIN_REFRESH_INTERVAL / 2).await;
    tokio::task::yield_now().await;
    assert!(
        !status.has_changed().unwrap(),
        "no refresh before the interval"
    );

    tokio::time::timeout(MIN_REFRESH_INTERVAL * 2, status.changed())
        .await
        .unwrap()
        .unwrap();
    assert!(ranges.contains(ip("198.51.100.1")));
    task.abort();
}
