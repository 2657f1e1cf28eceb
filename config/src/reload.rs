//! Hot reload: the current configuration behind an `ArcSwap`, replaced when its file
//! changes and the new one is valid.
//!
//! The watcher watches the file's *directory*: Kubernetes updates a mounted ConfigMap by
//! pointing the `..data` symlink at a new directory, which changes nothing about the file's
//! own name. Events on the file or on `..data` are debounced (others in the directory are
//! ignored), the file is read again, and only a changed, valid file replaces the
//! configuration. A bad file keeps the last good configuration; the reason is
//! logged and kept in [`ReloadStatus`] (exported as `hookguard_config_last_reload_successful`).
//! (A ConfigMap mounted with `subPath` is never updated by Kubernetes: mount the directory.)
//!
//! ```no_run
//! use std::sync::Arc;
//! use hookguard_config::{LiveConfig, Loader, WatchOptions};
//!
//! let live = Arc::new(LiveConfig::load(Loader::new("/etc/hookguard/hookguard.toml"))?);
//! let _watcher = live.watch(WatchOptions::default())?;
//! let config = live.current(); // an Arc<Config>; cheap, lock-free
//! # let _ = config;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use notify::{EventKind, RecursiveMode, Watcher};

use crate::error::{ConfigError, Problem};
use crate::load::Loader;
use crate::path::{FieldPath, Location};
use crate::schema::Config;

/// The outcome of the last reload attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadStatus {
    /// Whether the last attempt succeeded (true after the initial load).
    pub successful: bool,
    /// When a reload was last attempted (`None`: only the initial load so far).
    pub last_attempt: Option<SystemTime>,
    /// When the configuration in use was loaded.
    pub last_success: SystemTime,
    /// Why the last attempt failed, when it did (never contains a secret).
    pub last_error: Option<String>,
    /// Successful reloads since start (the initial load not counted).
    pub reloads: u64,
    /// Failed reloads since start.
    pub failures: u64,
}

type Build<T> = dyn Fn(Config) -> Result<T, String> + Send + Sync;

/// The configuration in use — or what the proxy built from it — and how to reload it.
pub struct LiveConfig<T = Config> {
    loader: Loader,
    build: Box<Build<T>>,
    current: ArcSwap<T>,
    status: Mutex<ReloadStatus>,
    /// The text last read, valid or not: an unchanged file is not reloaded.
    last_text: Mutex<String>,
}

impl<T> std::fmt::Debug for LiveConfig<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveConfig")
            .field("loader", &self.loader)
            .field(
                "status",
                &*self.status.lock().unwrap_or_else(PoisonError::into_inner),
            )
            .finish_non_exhaustive()
    }
}

impl LiveConfig<Config> {
    /// Loads the file; the error lists every problem (for `hookguard run`, exit 2).
    pub fn load(loader: Loader) -> Result<Self, ConfigError> {
        Self::load_with(loader, Ok)
    }
}

impl<T: Send + Sync + 'static> LiveConfig<T> {
    /// Loads the file and builds what is served from it with `build` (which may refuse a
    /// configuration, e.g. when a secret store is unreachable). Reloads build the same way,
    /// and a refused build keeps the last good one, like an invalid file.
    pub fn load_with(
        loader: Loader,
        build: impl Fn(Config) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        let text = loader.read()?;
        let config = loader.load_text(&text)?;
        let built = build(config).map_err(|e| build_error(loader.path(), e))?;
        Ok(Self {
            loader,
            build: Box::new(build),
            current: ArcSwap::from_pointee(built),
            status: Mutex::new(ReloadStatus {
                successful: true,
                last_attempt: None,
                last_success: SystemTime::now(),
                last_error: None,
                reloads: 0,
                failures: 0,
            }),
            last_text: Mutex::new(text),
        })
    }

    /// The current value. Cheap and lock-free; holding it keeps that version alive.
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// The swap cell itself, for callers that want `load()` guards on a hot path.
    pub fn cell(&self) -> &ArcSwap<T> {
        &self.current
    }

    /// The outcome of the last reload attempts.
    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The file being served.
    pub fn path(&self) -> &Path {
        self.loader.path()
    }

    /// Reloads now (e.g. on SIGHUP), whether or not the file changed. On error the last
    /// good value stays in place.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let text = self.loader.read();
        self.attempt(text)
    }

    /// Reloads if the file's text differs from the last text read. `true` when it did.
    pub fn reload_if_changed(&self) -> bool {
        let text = self.loader.read();
        if let Ok(text) = &text {
            if *self
                .last_text
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                == *text
            {
                return false;
            }
        }
        let _ = self.attempt(text);
        true
    }

    fn attempt(&self, text: Result<String, ConfigError>) -> Result<(), ConfigError> {
        let result = text.and_then(|text| {
            let loaded = self.loader.load_text(&text);
            *self
                .last_text
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = text;
            let config = loaded?;
            (self.build)(config).map_err(|e| build_error(self.loader.path(), e))
        });
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        status.last_attempt = Some(now);
        match result {
            Ok(built) => {
                self.current.store(Arc::new(built));
                status.successful = true;
                status.last_success = now;
                status.last_error = None;
                status.reloads += 1;
                tracing::info!(file = %self.loader.path().display(), "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                status.successful = false;
                status.last_error = Some(e.to_string());
                status.failures += 1;
                tracing::error!(
                    file = %self.loader.path().display(),
                    error = %e,
                    "configuration reload failed; keeping the last good configuration"
                );
                Err(e)
            }
        }
    }

    /// Watches the file's directory and reloads on changes until the returned watcher is
    /// dropped.
    pub fn watch(self: &Arc<Self>, options: WatchOptions) -> Result<ConfigWatcher, notify::Error> {
        let dir = watched_dir(self.loader.path());
        let (tx, rx) = mpsc::channel::<Message>();
        let events = tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let _ = events.send(Message::Fs(event));
            })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let live = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("hookguard-config-watch".into())
            .spawn(move || watch_loop(&*live, &rx, options.debounce))
            .map_err(notify::Error::io)?;
        Ok(ConfigWatcher {
            watcher: Some(watcher),
            stop: tx,
            thread: Some(thread),
            dir,
        })
    }
}

fn build_error(file: &Path, message: String) -> ConfigError {
    ConfigError::new(vec![Problem {
        location: Some(Location::Whole { file: file.into() }),
        path: FieldPath::root(),
        message: format!("the configuration is valid but could not be put in service: {message}"),
        expected: None,
    }])
}

fn watched_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// How the watcher behaves.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Quiet time after the last change before the file is read: an editor's save or a
    /// ConfigMap swap is several events, and the file is read once after them. Only events
    /// on the file (or Kubernetes' `..data` link) count, and the file is read at the latest
    /// ten debounce periods after the first, even if it keeps changing.
    pub debounce: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(250),
        }
    }
}

enum Message {
    Fs(notify::Result<notify::Event>),
    Stop,
}

/// The longest a reload waits, in debounce periods, while events touching the file keep
/// coming (a tool rewriting it in a loop): the debounce alone would wait for ever.
const MAX_DEBOUNCES: u32 = 10;

fn watch_loop<T: Send + Sync + 'static>(
    live: &LiveConfig<T>,
    rx: &mpsc::Receiver<Message>,
    debounce: Duration,
) {
    let touches_config = touches(live.path());
    loop {
        match rx.recv() {
            Ok(Message::Fs(Ok(event))) if touches_config(&event) => {}
            Ok(Message::Fs(Ok(_))) => continue,
            Ok(Message::Fs(Err(e))) => {
                tracing::warn!(error = %e, "configuration watcher error");
                continue;
            }
            Ok(Message::Stop) | Err(_) => return,
        }
        // Wait for the burst of events on the file to end, but not for ever; events on
        // other files in the folder (an access log beside the config) do not count.
        let deadline = Instant::now() + debounce.saturating_mul(MAX_DEBOUNCES);
        let mut quiet_from = Instant::now() + debounce;
        loop {
            let wake = quiet_from.min(deadline);
            let Some(wait) = wake.checked_duration_since(Instant::now()) else {
                break;
            };
            match rx.recv_timeout(wait) {
                Ok(Message::Fs(Ok(event))) if touches_config(&event) => {
                    quiet_from = Instant::now() + debounce;
                }
                Ok(Message::Fs(_)) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        live.reload_if_changed();
    }
}

/// Whether an event may have changed the file at `config`: one naming the file itself, or
/// Kubernetes' `..data` link (a ConfigMap update renames a new `..data` over the old, and
/// the file is a symlink through it). Events without paths (a rescan after a queue
/// overflow) count too: what changed is unknown. Reads (`Access`) never do.
fn touches(config: &Path) -> impl Fn(&notify::Event) -> bool {
    let name = config.file_name().map(ToOwned::to_owned);
    move |event| {
        if matches!(event.kind, EventKind::Access(_)) {
            return false;
        }
        event.need_rescan()
            || event.paths.is_empty()
            || event.paths.iter().any(|path| {
                let file = path.file_name();
                file == name.as_deref() || file == Some(std::ffi::OsStr::new("..data"))
            })
    }
}

/// Watches a configuration's directory; dropping it stops the watch.
pub struct ConfigWatcher {
    watcher: Option<notify::RecommendedWatcher>,
    stop: mpsc::Sender<Message>,
    thread: Option<JoinHandle<()>>,
    dir: PathBuf,
}

impl ConfigWatcher {
    /// The directory being watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl std::fmt::Debug for ConfigWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigWatcher")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        drop(self.watcher.take());
        let _ = self.stop.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
