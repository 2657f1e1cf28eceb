//! Counters of the credential cache, as plain atomics read by
//! [`CachedCredentials::stats`](super::CachedCredentials::stats); the sidecar exports
//! them as metrics.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A snapshot of the cache's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialStats {
    /// Key lookups by result, over all routes.
    pub requests: RequestStats,
    /// Successful fetches.
    pub refreshes: u64,
    /// Failed fetches (errors, timeouts, unusable secrets).
    pub refresh_failures: u64,
    /// Fetches that did not answer within the fetch timeout (counted in failures too).
    pub timeouts: u64,
    /// Failed fetches after which the previous keys stayed in service (stale-if-error).
    pub stale_fallbacks: u64,
    /// Secrets found older than the configured maximum age (once per secret version).
    pub old_secret_warnings: u64,
    /// Health of each source, by name.
    pub sources: Vec<SourceStats>,
    /// Each route's keys and secrets.
    pub routes: Vec<RouteStats>,
}

/// Key lookups by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Answered with keys inside their TTL.
    pub fresh: u64,
    /// Answered with keys past their TTL, because refreshing failed or is under way.
    pub stale: u64,
    /// Refused: no keys loaded yet, or the last ones are older than the stale limit.
    pub missing: u64,
}

/// Whether a source answered its last fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceState {
    /// Not asked yet.
    #[default]
    Unknown,
    /// The last fetch succeeded.
    Up,
    /// The last fetch failed.
    Down,
}

/// Health of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// The source's name.
    pub name: String,
    /// Up or down, from its last fetch.
    pub state: SourceState,
    /// Successful fetches.
    pub fetches_ok: u64,
    /// Failed fetches.
    pub fetches_failed: u64,
    /// When the last fetch succeeded (Unix seconds).
    pub last_success: Option<i64>,
    /// When the last fetch failed (Unix seconds).
    pub last_failure: Option<i64>,
    /// The last failure's message (never a secret).
    pub last_error: Option<String>,
}

/// One route's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteStats {
    /// The route's id.
    pub route: Arc<str>,
    /// The scheme its keys are parsed for.
    pub scheme: &'static str,
    /// Its source's name.
    pub source: String,
    /// Key lookups by result.
    pub requests: RequestStats,
    /// When the keys in service were fetched.
    pub fetched_at: Option<i64>,
    /// When they stop being fresh.
    pub expires_at: Option<i64>,
    /// The secrets in service, primary first.
    pub secrets: Vec<SecretStats>,
}

/// One secret of a route, for rotation: which secret providers still sign with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretStats {
    /// The secret's id.
    pub id: Arc<str>,
    /// Its position in the keyring (0 = primary).
    pub position: usize,
    /// Verified requests that matched it.
    pub matches: u64,
    /// When one last matched (Unix seconds).
    pub last_match: Option<i64>,
    /// When it was rotated, if the source knows.
    pub rotated_at: Option<i64>,
    /// Whether it is older than the configured maximum age.
    pub too_old: bool,
}

const NEVER: i64 = i64::MIN;

pub(crate) fn load_time(cell: &AtomicI64) -> Option<i64> {
    Some(cell.load(Ordering::Relaxed)).filter(|&t| t != NEVER)
}

/// Lookups of one route, by result.
#[derive(Debug, Default)]
pub(crate) struct RequestCounters {
    pub(crate) fresh: AtomicU64,
    pub(crate) stale: AtomicU64,
    pub(crate) missing: AtomicU64,
}

impl RequestCounters {
    pub(crate) fn snapshot(&self) -> RequestStats {
        RequestStats {
            fresh: self.fresh.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            missing: self.missing.load(Ordering::Relaxed),
        }
    }
}

/// Cache-wide fetch counters.
#[derive(Debug, Default)]
pub(crate) struct FetchCounters {
    pub(crate) refreshes: AtomicU64,
    pub(crate) refresh_failures: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) stale_fallbacks: AtomicU64,
    pub(crate) old_secret_warnings: AtomicU64,
}

/// Matches of one secret; survives refreshes (keyed by the secret's id).
#[derive(Debug)]
pub(crate) struct SecretUsage {
    pub(crate) matches: AtomicU64,
    pub(crate) last_match: AtomicI64,
    /// The `rotated_at` an age warning was last given for, so each version warns once.
    pub(crate) warned_for: AtomicI64,
}

impl Default for SecretUsage {
    fn default() -> Self {
        Self {
            matches: AtomicU64::new(0),
            last_match: AtomicI64::new(NEVER),
            warned_for: AtomicI64::new(NEVER),
        }
    }
}

/// Health of one source.
#[derive(Debug)]
pub(crate) struct SourceHealth {
    name: String,
    state: AtomicU8,
    ok: AtomicU64,
    failed: AtomicU64,
    last_success: AtomicI64,
    last_failure: AtomicI64,
    last_error: Mutex<Option<String>>,
}

impl SourceHealth {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            state: AtomicU8::new(0),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_success: AtomicI64::new(NEVER),
            last_failure: AtomicI64::new(NEVER),
            last_error: Mutex::new(None),
        }
    }

    pub(crate) fn succeeded(&self, now: i64) {
        self.ok.fetch_add(1, Ordering::Relaxed);
        self.last_success.store(now, Ordering::Relaxed);
        self.state.store(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, now: i64, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.last_failure.store(now, Ordering::Relaxed);
        self.state.store(2, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    pub(crate) fn snapshot(&self) -> SourceStats {
        SourceStats {
            name: self.name.clone(),
            state: match self.state.load(Ordering::Relaxed) {
                1 => SourceState::Up,
                2 => SourceState::Down,
                _ => SourceState::Unknown,
            },
            fetches_ok: self.ok.load(Ordering::Relaxed),
            fetches_failed: self.failed.load(Ordering::Relaxed),
            last_success: load_time(&self.last_success),
            last_failure: load_time(&self.last_failure),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}
