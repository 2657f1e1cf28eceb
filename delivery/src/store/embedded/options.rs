//! How the embedded store commits, and what it tells about its commits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::store::Durability;

/// Options of [`EmbeddedQueueStore::open`](super::EmbeddedQueueStore::open).
#[derive(Clone)]
pub struct EmbeddedOptions {
    /// What an acknowledgement promises (see [`Durability`]).
    pub durability: Durability,
    /// The longest a write waits for others to share its commit, counted from the first
    /// write of the group. Zero: commit as soon as no write is waiting.
    pub commit_interval: Duration,
    /// A group commits at once when it holds this many writes.
    pub max_batch: usize,
    /// Called after every commit (metrics).
    pub observer: Option<Arc<dyn CommitObserver>>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Fsync,
            commit_interval: Duration::from_millis(1),
            max_batch: 256,
            observer: None,
        }
    }
}

impl EmbeddedOptions {
    /// These options with `durability`.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// These options calling `observer` after every commit.
    pub fn observer(mut self, observer: impl CommitObserver) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }
}

impl std::fmt::Debug for EmbeddedOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedOptions")
            .field("durability", &self.durability)
            .field("commit_interval", &self.commit_interval)
            .field("max_batch", &self.max_batch)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Told about every group commit: how many writes it made durable and how long the write
/// to disk (and fsync, with [`Durability::Fsync`]) took. The sidecar feeds
/// `hookguard_queue_commit_batch_size` and `hookguard_queue_commit_seconds` from it.
pub trait CommitObserver: Send + Sync + 'static {
    /// One commit of `records` writes took `latency`.
    fn on_commit(&self, records: usize, latency: Duration);
}

impl<F> CommitObserver for F
where
    F: Fn(usize, Duration) + Send + Sync + 'static,
{
    fn on_commit(&self, records: usize, latency: Duration) {
        self(records, latency)
    }
}

/// Totals of the store's group commits since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Group commits (one fsync each with [`Durability::Fsync`]).
    pub commits: u64,
    /// Writes (enqueues, claims, settlements, …) made durable by them.
    pub records: u64,
    /// Writes in the last commit.
    pub last_batch: u64,
    /// How long the last commit's write to disk took.
    pub last_latency: Duration,
    /// Time spent writing to disk, summed over every commit.
    pub total_latency: Duration,
}

impl CommitStats {
    /// Writes per commit, on average.
    pub fn avg_batch(&self) -> f64 {
        if self.commits == 0 {
            0.0
        } else {
            self.records as f64 / self.commits as f64
        }
    }

    /// Time per commit, on average.
    pub fn avg_latency(&self) -> Duration {
        match u32::try_from(self.commits) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.total_latency / n,
            Err(_) => Duration::from_nanos(
                (self.total_latency.as_nanos() / u128::from(self.commits)) as u64,
            ),
        }
    }
}

/// The writer's counters, read by [`EmbeddedQueueStore::commit_stats`](super::EmbeddedQueueStore::commit_stats).
#[derive(Debug, Default)]
pub(super) struct CommitCounters {
    commits: AtomicU64,
    records: AtomicU64,
    last_batch: AtomicU64,
    last_nanos: AtomicU64,
    total_nanos: AtomicU64,
}

impl CommitCounters {
    pub(super) fn record(&self, records: usize, latency: Duration) {
        let nanos = latency.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records as u64, Ordering::Relaxed);
        self.last_batch.store(records as u64, Ordering::Relaxed);
        self.last_nanos.store(nanos, Ordering::Relaxed);
        self.total_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            last_batch: self.last_batch.load(Ordering::Relaxed),
            last_latency: Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed)),
            total_latency: Duration::from_nanos(self.total_nanos.load(Ordering::Relaxed)),
        }
    }
}
