//! Hot reload through the file system: edits, bad files, and Kubernetes' symlink swap.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookguard_config::{Config, LiveConfig, Loader, WatchOptions};

fn config_text(upstream: &str, scheme: &str) -> String {
    format!(
        r#"
upstream.address = "{upstream}"
[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "{scheme}"
secrets = [{{ id = "primary", value = "It's a Secret to Everybody" }}]
"#
    )
}

fn loader(path: &Path) -> Loader {
    Loader::new(path).with_env(Arc::new(HashMap::<String, String>::new()))
}

fn options() -> WatchOptions {
    WatchOptions {
        debounce: Duration::from_millis(50),
    }
}

/// Polls `condition` until it holds, for at most five seconds.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes through a temporary file and a rename, as editors and `kubectl cp` do.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn an_edited_file_replaces_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookguard.toml");
    std::fs::write(&path, config_text("127.0.0.1:3000", "github")).unwrap();
    let live = Arc::new(LiveConfig::load(loader(&path)).unwrap());
    let _watcher = live.watch(options()).unwrap();
    let before = live.current();

    // Written in place.
    std::fs::write(&path, config_text("127.0.0.1:4000", "github")).unwrap();
    wait_until("the new upstream is in use", || {
        live.current().upstream.address == "127.0.0.1:4000"
    });
    // Replaced by a rename.
    replace(&path, config_text("127.0.0.1:5000", "github").as_str());
    wait_until("the renamed file is in use", || {
        live.current().upstream.address == "127.0.0.1:5000"
    });
    let status = live.status();
    assert!(status.successful);
    assert!(status.reloads >= 2, "{status:?}");
    assert!(status.last_attempt.is_some());
    // The replaced version is no longer served, and a reload releases it: once its last
    // reader lets go it is gone (old versions do not pile up across reloads).
    assert!(!Arc::ptr_eq(&before, &live.current()));
    assert_eq!(before.upstream.address, "127.0.0.1:3000");
    let replaced = Arc::downgrade(&before);
    drop(before);
    assert!(
        replaced.upgrade().is_none(),
        "the live configuration still holds the version it replaced"
    );
}

#[test]
fn a_bad_file_keeps_the_last_good_configuration_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookguard.toml");
    std::fs::write(&path, config_text("127.0.0.1:3000", "github")).unwrap();
    let live = Arc::new(LiveConfig::load(loader(&path)).unwrap());
    let _watcher = live.watch(options()).unwrap();

    replace(&path, &config_text("127.0.0.1:4000", "githb"));
    wait_until("the failure is recorded", || live.status().failures == 1);
    let status = live.status();
    assert!(!status.successful);
    let error = status.last_error.unwrap();
    assert!(
        error.contains("routes[0].scheme: unknown scheme \"githb\""),
        "{error}"
    );
    assert!(!error.contains("It's a Secret"), "{error}");
    assert_eq!(live.current().upstream.address, "127.0.0.1:3000");
    assert_eq!(live.current().routes[0].scheme, "github");

    // A syntax error too.
    replace(&path, "upstream = [");
    wait_until("the second failure is recorded", || {
        live.status().failures == 2
    });
    assert_eq!(live.current().upstream.address, "127.0.0.1:3000");

    // Fixing the file recovers.
    replace(&path, &config_text("127.0.0.1:4000", "github"));
    wait_until("the fixed file is in use", || {
        live.current().upstream.address == "127.0.0.1:4000"
    });
    let status = live.status();
    assert!(status.successful);
    assert_eq!(status.last_error, None);
}

#[test]
fn a_kubernetes_configmap_swap_is_picked_up() {
    // The layout the kubelet makes: the file is a symlink through `..data`, which points at
    // a timestamped directory, and an update atomically renames a new `..data` over it.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = d.join("..2026_01_01_00_00_00.000000001");
    std::fs::create_dir(&first).unwrap();
    std::fs::write(
        first.join("hookguard.toml"),
        config_text("127.0.0.1:3000", "github"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..2026_01_01_00_00_00.000000001", d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/hookguard.toml", d.join("hookguard.toml")).unwrap();

    let path = d.join("hookguard.toml");
    let live = Arc::new(LiveConfig::load(loader(&path)).unwrap());
    let watcher = live.watch(options()).unwrap();
    assert_eq!(watcher.dir(), d);

    let second = d.join("..2026_01_02_00_00_00.000000002");
    std::fs::create_dir(&second).unwrap();
    std::fs::write(
        second.join("hookguard.toml"),
        config_text("127.0.0.1:4000", "github"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..2026_01_02_00_00_00.000000002", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    std::fs::remove_dir_all(&first).unwrap();

    wait_until("the swapped ConfigMap is in use", || {
        live.current().upstream.address == "127.0.0.1:4000"
    });
    assert!(live.status().successful);
}

#[test]
fn a_refused_build_keeps_the_last_one_like_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookguard.toml");
    std::fs::write(&path, config_text("127.0.0.1:3000", "github")).unwrap();
    // What the proxy builds from a configuration, e.g. its routes' stacks.
    let build = |config: Config| {
        if config.upstream.address.ends_with(":4000") {
            Err("port 4000 is not reachable".to_string())
        } else {
            Ok(config.upstream.address)
        }
    };
    let live = LiveConfig::load_with(loader(&path), build).unwrap();
    assert_eq!(*live.current(), "127.0.0.1:3000");

    std::fs::write(&path, config_text("127.0.0.1:4000", "github")).unwrap();
    let err = live.reload().unwrap_err();
    assert!(
        err.to_string().contains("port 4000 is not reachable"),
        "{err}"
    );
    assert_eq!(*live.current(), "127.0.0.1:3000");
    assert!(!live.status().successful);

    // An unchanged file is not loaded again; a changed one is.
    assert!(!live.reload_if_changed());
    std::fs::write(&path, config_text("127.0.0.1:5000", "github")).unwrap();
    assert!(live.reload_if_changed());
    assert_eq!(*live.current(), "127.0.0.1:5000");
    assert!(live.status().successful);
}

#[test]
fn a_bad_file_at_start_is_an_error_listing_its_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookguard.toml");
    std::fs::write(&path, config_text("127.0.0.1:3000", "githb")).unwrap();
    let err = LiveConfig::load(loader(&path)).unwrap_err();
    assert_eq!(err.problems().len(), 1);
    let missing = LiveConfig::load(loader(&dir.path().join("absent.toml"))).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("absent.toml: cannot read the file"),
        "{missing}"
    );
}

/// Appends to `path` every 2 ms until the returned guard is dropped (at most 30 s).
struct Churn {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Churn {
    fn start(path: std::path::PathBuf, write: impl Fn(&Path, u32) + Send + 'static) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut n = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                write(&path, n);
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_file_beside_the_config_changing_all_the_time_does_not_delay_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookguard.toml");
    std::fs::write(&path, config_text("127.0.0.1:3000", "github")).unwrap();
    let live = Arc::new(LiveConfig::load(loader(&path)).unwrap());
    let _watcher = live.watch(options()).unwrap();

    // An access log redirected next to the config: written every 2 ms, never quiet for
    // the 50 ms debounce.
    let _log = Churn::start(dir.path().join("access.log"), |log, n| {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        writeln!(file, "{{\"n\":{n}}}").unwrap();
    });
    std::thread::sleep(Duration::from_millis(100)); // the churn is under way
    replace(&path, &config_text("127.0.0.1:4000", "github"));
    wait_until("the edited config is in use", || {
        live.current().upstream.address == "127.0.0.1:4000"
    });
}

#[test]
fn a_config_file_written_all_the_time_is_still_reloaded_within_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookguard.toml");
    std::fs::write(&path, config_text("127.0.0.1:3000", "github")).unwrap();
    let live = Arc::new(LiveConfig::load(loader(&path)).unwrap());
    let _watcher = live.watch(options()).unwrap();

    // A tool rewriting the file in a loop: the debounce alone would wait for ever.
    let _writer = Churn::start(path.clone(), |path, n| {
        std::fs::write(
            path,
            config_text(&format!("127.0.0.1:{}", 4000 + n % 2), "github"),
        )
        .unwrap();
    });
    wait_until("a reload happened while the file kept changing", || {
        live.status().reloads + live.status().failures >= 1
    });
}
