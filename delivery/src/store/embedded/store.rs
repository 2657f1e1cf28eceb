//! [`EmbeddedQueueStore`]: opening, the [`QueueStore`] calls, and reads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fjall::Database;
use tokio::sync::oneshot;

use super::keys;
use super::options::{CommitCounters, CommitStats, EmbeddedOptions};
use super::record::Stored;
use super::tables::{backend, Counters, Read, Table, Tables};
use super::writer::{Command, Writer};
use crate::message::{Message, MessageId, NewMessage, Settlement, State, Timestamp};
use crate::store::{Bounds, DestinationStats, ListQuery, QueueStore, StoreError};

/// The block cache (fjall's default: 32 MiB).
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// A [`QueueStore`] in a directory on local disk; see the [module docs](super).
pub struct EmbeddedQueueStore {
    path: PathBuf,
    tables: Tables,
    counters: Counters,
    commits: Arc<CommitCounters>,
    broken: Arc<AtomicBool>,
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EmbeddedQueueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedQueueStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedQueueStore {
    /// Opens (or creates) the store in directory `path`: rebuilds the counters, puts every
    /// in-flight message back to waiting, and starts the writer thread. Blocks while it
    /// reads every head record (about 7 s per million messages here).
    pub fn open(path: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let at = |e: StoreError| match e {
            StoreError::Backend(detail) => {
                StoreError::Backend(format!("{}: {detail}", path.display()))
            }
            other => other,
        };
        // Sized for a sidecar (the shipped manifests give the pod 128 MiB): fjall's defaults
        // (32 MiB block cache, 64 MiB memtable per keyspace) took the process to ~340 MB
        // under the load bench. Queue reads are mostly recent records, still in the
        // memtables, so a small cache costs little.
        let db = Database::builder(&path)
            .manual_journal_persist(true)
            .cache_size(CACHE_BYTES)
            .open()
            .map_err(backend("opening the queue store"))
            .map_err(at)?;
        let tables = Tables::open(db)
            .map_err(backend("opening keyspaces"))
            .map_err(at)?;
        let counters = Counters::default();
        let (in_flight, next_seq) = scan(&tables, &counters).map_err(at)?;
        let commits = Arc::new(CommitCounters::default());
        let broken = Arc::new(AtomicBool::new(false));
        let mut writer = Writer {
            tables: tables.clone(),
            counters: counters.clone(),
            next_seq,
            options,
            commits: commits.clone(),
            broken: broken.clone(),
            due_floor: std::collections::HashMap::new(),
        };
        writer.release_leases(in_flight).map_err(at)?;
        tables.persist(fjall::PersistMode::SyncAll).map_err(at)?;
        let (sender, receiver) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("hookguard-queue-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| {
                StoreError::Backend(format!("{}: starting the writer: {e}", path.display()))
            })?;
        Ok(Self {
            path,
            tables,
            counters,
            commits,
            broken,
            commands: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// The directory it lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Totals of the group commits so far.
    pub fn commit_stats(&self) -> CommitStats {
        self.commits.snapshot()
    }

    /// Stops the writer once every change sent so far is committed, and closes the files.
    /// Later calls fail with [`StoreError::Closed`]. Dropping the store does the same.
    pub fn close(&self) {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    async fn send<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let commands = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            let sender = commands.as_ref().ok_or(StoreError::Closed)?;
            sender
                .send(command(reply))
                .map_err(|_| StoreError::Closed)?;
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// A blocking read on a thread of its own, off the async runtime.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Tables) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let tables = self.tables.clone();
        tokio::task::spawn_blocking(move || read(&tables))
            .await
            .map_err(|e| StoreError::Backend(format!("read task: {e}")))?
    }
}

impl Drop for EmbeddedQueueStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads every head record: counts it, finds the highest seq, and collects the in-flight
/// ones. Corrupt records are logged and left for claim (which dead-letters those it meets)
/// or an operator's delete.
fn scan(tables: &Tables, counters: &Counters) -> Result<(Vec<Stored>, u64), StoreError> {
    let mut in_flight = Vec::new();
    let mut next_seq = match tables.get(Table::Meta, b"next_seq")? {
        Some(bytes) => bytes
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .unwrap_or_default(),
        None => 0,
    };
    let mut corrupt = 0u64;
    for entry in tables.range(Table::Messages, &[], None) {
        let (key, value) = entry?;
        match Stored::decode(&value) {
            Ok(stored) => {
                next_seq = next_seq.max(stored.message.seq.saturating_add(1));
                counters.add(&stored);
                if stored.message.state == State::InFlight {
                    in_flight.push(stored);
                }
            }
            Err(detail) => {
                corrupt += 1;
                let id = keys::id(&key).map_or_else(|| format!("{key:?}"), |id| id.to_string());
                tracing::error!(%id, %detail, "queue store: corrupt record");
            }
        }
    }
    if corrupt > 0 {
        tracing::error!(corrupt, "queue store: corrupt records found on open");
    }
    Ok((in_flight, next_seq))
}

/// A whole message (head and payload) of `id`, read from `tables`.
fn get(tables: &Tables, id: &MessageId) -> Result<Option<Message>, StoreError> {
    let mut stored = match tables.read(id)? {
        Read::Missing => return Ok(None),
        Read::Corrupt(detail) => {
            return Err(StoreError::Corrupt {
                id: id.to_string(),
                detail,
            })
        }
        Read::Found(stored) => stored,
    };
    let payload = tables.get(Table::Bodies, id.as_bytes())?;
    // A message deleted between the two reads.
    let Some(payload) = payload else {
        return Ok(None);
    };
    stored.message.payload = Bytes::copy_from_slice(&payload);
    Ok(Some(stored.message))
}

fn list(tables: &Tables, query: &ListQuery) -> Result<Vec<Message>, StoreError> {
    // Dead letters have an index of their own (the DLQ is listed often and is small next
    // to the queue); everything else is a walk over the messages in id order.
    let index = if query.state == Some(State::Dead) {
        Table::Dead
    } else {
        Table::Messages
    };
    let start = query
        .after
        .as_ref()
        .map(|id| {
            let mut after = id.as_bytes().to_vec();
            after.push(0);
            after
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for entry in tables.range(index, &start, None) {
        if out.len() >= query.page() {
            break;
        }
        let (key, _) = entry?;
        let Some(id) = keys::id(&key) else { continue };
        match get(tables, &id) {
            Ok(Some(message)) if query.matches(&message) => out.push(message),
            Ok(_) => {}
            Err(StoreError::Corrupt { id, detail }) => {
                tracing::warn!(%id, %detail, "queue store: corrupt record left out of a list");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn stats(tables: &Tables, counters: &Counters) -> Result<Vec<DestinationStats>, StoreError> {
    let mut all: Vec<DestinationStats> = counters.lock().values().cloned().collect();
    all.sort_by(|a, b| a.destination.cmp(&b.destination));
    for stats in &mut all {
        if stats.pending() == 0 {
            continue;
        }
        let prefix = keys::destination(&stats.destination);
        if let Some(entry) = tables.prefix(Table::Ages, &prefix).next() {
            let (key, _) = entry?;
            stats.oldest_pending = keys::parse_due(&key, prefix.len()).map(|(at, _)| at);
        }
    }
    Ok(all)
}

#[async_trait]
impl QueueStore for EmbeddedQueueStore {
    async fn enqueue(&self, message: NewMessage, bounds: Bounds) -> Result<MessageId, StoreError> {
        self.send(|reply| Command::Enqueue(message, bounds, reply))
            .await
    }

    async fn claim(
        &self,
        destination: &str,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Message>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let destination = destination.to_owned();
        self.send(|reply| Command::Claim {
            destination,
            now,
            limit,
            lease,
            reply,
        })
        .await
    }

    async fn settle(
        &self,
        id: &MessageId,
        settlement: Settlement,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.send(|reply| Command::Settle(id.clone(), settlement, now, reply))
            .await
    }

    async fn get(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        let id = id.clone();
        self.read(move |tables| get(tables, &id)).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Message>, StoreError> {
        let query = query.clone();
        self.read(move |tables| list(tables, &query)).await
    }

    async fn requeue(&self, id: &MessageId, now: Timestamp) -> Result<bool, StoreError> {
        self.send(|reply| Command::Requeue(id.clone(), now, reply))
            .await
    }

    async fn delete(&self, id: &MessageId) -> Result<bool, StoreError> {
        self.send(|reply| Command::Delete(id.clone(), reply)).await
    }

    async fn stats(&self) -> Result<Vec<DestinationStats>, StoreError> {
        let counters = self.counters.clone();
        self.read(move |tables| stats(tables, &counters)).await
    }

    async fn expire(
        &self,
        now: Timestamp,
        delivered_for: Duration,
        dead_for: Duration,
    ) -> Result<u64, StoreError> {
        self.send(|reply| Command::Expire {
            now,
            delivered_for,
            dead_for,
            reply,
        })
        .await
    }

    async fn healthy(&self) -> Result<(), StoreError> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(StoreError::Backend(format!(
                "{}: a commit failed; restart to recover the store",
                self.path.display()
            )));
        }
        let open = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|h| !h.is_finished());
        if open {
            Ok(())
        } else {
            Err(StoreError::Closed)
        }
    }
}
