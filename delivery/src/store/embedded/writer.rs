//! The writer thread: applies every change in arrival order and group-commits them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fjall::PersistMode;
use tokio::sync::oneshot;

use super::keys;
use super::options::{CommitCounters, EmbeddedOptions};
use super::record::Stored;
use super::tables::{Counters, Ops, Read, Table, Tables};
use crate::message::{Message, MessageId, NewMessage, Settlement, State, Timestamp};
use crate::store::{crossed_bound, Bounds, DestinationStats, Durability, StoreError};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A change, sent by a caller who awaits its reply.
pub(super) enum Command {
    Enqueue(NewMessage, Bounds, Reply<MessageId>),
    Claim {
        destination: String,
        now: Timestamp,
        limit: usize,
        lease: Duration,
        reply: Reply<Vec<Message>>,
    },
    Settle(MessageId, Settlement, Timestamp, Reply<bool>),
    Requeue(MessageId, Timestamp, Reply<bool>),
    Delete(MessageId, Reply<bool>),
    Expire {
        now: Timestamp,
        delivered_for: Duration,
        dead_for: Duration,
        reply: Reply<u64>,
    },
}

impl Command {
    /// Whether its acknowledgement promises the durability mode (see `Writer::run`).
    fn needs_sync(&self) -> bool {
        matches!(
            self,
            Command::Enqueue(..) | Command::Requeue(..) | Command::Delete(..)
        )
    }
}

/// An answer held back until its group is on disk.
type Pending = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

fn hold<T: Send + 'static>(reply: Reply<T>, result: Result<T, StoreError>) -> Pending {
    Box::new(move |persisted| {
        // The caller may have given up waiting (a dropped future): nothing to tell.
        let _ = reply.send(persisted.and(result));
    })
}

/// The writer's state: the tables, the counters it alone changes, the next seq.
pub(super) struct Writer {
    pub(super) tables: Tables,
    pub(super) counters: Counters,
    pub(super) next_seq: u64,
    pub(super) options: EmbeddedOptions,
    pub(super) commits: Arc<CommitCounters>,
    pub(super) broken: Arc<AtomicBool>,
    /// Per destination prefix, a due key below which the due index holds nothing live.
    /// An LSM tree keeps a tombstone for every claimed entry, and a scan from the start of
    /// the destination walks them all (measured: claims fell to ~650/s behind a backlog of
    /// 30,000, the writer busy in skiplist `next`); claims start here instead. Lowered by
    /// every write of a due key below it (`commit`), raised past what a claim consumed.
    pub(super) due_floor: std::collections::HashMap<Vec<u8>, Vec<u8>>,
}

impl Writer {
    /// Runs until every sender is gone: takes a first command, gathers more until the
    /// commit interval has passed since it or `max_batch` are held, applies each as one
    /// atomic batch, then persists the group once and answers every caller.
    pub(super) fn run(mut self, commands: Receiver<Command>) {
        let mode = match self.options.durability {
            Durability::Fsync => PersistMode::SyncAll,
            Durability::Os => PersistMode::Buffer,
        };
        while let Ok(first) = commands.recv() {
            let deadline = Instant::now() + self.options.commit_interval;
            // Only a group that acknowledges an enqueue (or an operator's requeue or delete)
            // waits for the durability mode's flush. Claims and settlements are written to
            // the OS, which a crash of the process does not lose; a power loss can undo one,
            // which delivers that message again (at least once) and loses nothing. Groups
            // run in order, so a claim only ever sees enqueues already flushed.
            let mut needs_sync = first.needs_sync();
            let mut pending = vec![self.execute(first)];
            while pending.len() < self.options.max_batch.max(1) {
                let wait = deadline.saturating_duration_since(Instant::now());
                match commands.recv_timeout(wait) {
                    Ok(command) => {
                        needs_sync |= command.needs_sync();
                        pending.push(self.execute(command));
                    }
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            let started = Instant::now();
            let persisted = self.tables.persist(if needs_sync {
                mode
            } else {
                PersistMode::Buffer
            });
            let latency = started.elapsed();
            if let Err(e) = &persisted {
                // fjall poisons itself after a failed write: every later call fails too.
                tracing::error!(error = %e, "queue store: commit failed");
                self.broken.store(true, Ordering::Relaxed);
            }
            self.commits.record(pending.len(), latency);
            if let Some(observer) = &self.options.observer {
                observer.on_commit(pending.len(), latency);
            }
            for reply in pending {
                reply(clone_result(&persisted));
            }
        }
        let _ = self.tables.persist(mode);
    }

    fn execute(&mut self, command: Command) -> Pending {
        match command {
            Command::Enqueue(new, bounds, reply) => hold(reply, self.enqueue(new, bounds)),
            Command::Claim {
                destination,
                now,
                limit,
                lease,
                reply,
            } => hold(reply, self.claim(&destination, now, limit, lease)),
            Command::Settle(id, settlement, now, reply) => {
                hold(reply, self.settle(&id, settlement, now))
            }
            Command::Requeue(id, now, reply) => hold(reply, self.requeue(&id, now)),
            Command::Delete(id, reply) => hold(reply, self.delete(&id)),
            Command::Expire {
                now,
                delivered_for,
                dead_for,
                reply,
            } => hold(reply, self.expire(now, delivered_for, dead_for)),
        }
    }

    fn commit(&mut self, ops: Ops) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        for key in ops.puts(Table::Due) {
            let prefix = keys::destination_prefix(key);
            if let Some(floor) = self.due_floor.get_mut(prefix) {
                if key < floor.as_slice() {
                    *floor = key.to_vec();
                }
            }
        }
        self.tables.commit(ops, &self.counters)
    }

    fn enqueue(&mut self, new: NewMessage, bounds: Bounds) -> Result<MessageId, StoreError> {
        let size = new.payload.len() as u64;
        let stats = self
            .counters
            .lock()
            .get(&new.destination)
            .cloned()
            .unwrap_or_else(DestinationStats::default);
        if let Some(what) = crossed_bound(&stats, size, bounds) {
            return Err(StoreError::Full {
                destination: new.destination,
                what,
            });
        }
        let id = MessageId::generate();
        let seq = self.next_seq;
        let payload = new.payload.clone();
        let stored = Stored::new(Message::from_new(new, id.clone(), seq));
        let mut ops = Ops::default();
        ops.put(Table::Bodies, id.as_bytes().to_vec(), payload.to_vec());
        ops.put(
            Table::Meta,
            b"next_seq".to_vec(),
            (seq + 1).to_be_bytes().to_vec(),
        );
        self.tables.transition(&mut ops, None, Some(&stored))?;
        self.commit(ops)?;
        self.next_seq = seq + 1;
        Ok(id)
    }

    fn claim(
        &mut self,
        destination: &str,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Message>, StoreError> {
        let prefix = keys::destination(destination);
        let end = keys::due(destination, now, u64::MAX);
        let start = self
            .due_floor
            .get(&prefix)
            .filter(|floor| {
                floor.as_slice() > prefix.as_slice() && floor.as_slice() <= end.as_slice()
            })
            .cloned()
            .unwrap_or_else(|| prefix.clone());
        let mut ops = Ops::default();
        let mut claimed = Vec::new();
        let mut consumed: Option<Vec<u8>> = None;
        for entry in self.tables.range(Table::Due, &start, Some(&end)) {
            if claimed.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            // Every entry this loop reaches leaves the due index in this batch (claimed,
            // quarantined or dropped), so the next claim may start after it.
            consumed = Some(key.to_vec());
            let Some(id) = keys::id(&value) else {
                ops.del(Table::Due, key.to_vec());
                continue;
            };
            let old = match self.tables.read(&id)? {
                Read::Found(old) => old,
                Read::Missing => {
                    self.tables.purge_refs(&mut ops, Some(destination), &id)?;
                    continue;
                }
                Read::Corrupt(detail) => {
                    tracing::error!(%id, %detail, "queue store: corrupt record dead-lettered");
                    self.tables
                        .quarantine(&mut ops, destination, &key, &id, &detail, now)?;
                    continue;
                }
            };
            let m = &old.message;
            if !old.is_pending() || keys::due(&m.destination, m.next_attempt_at, m.seq) != *key {
                // Cannot happen while batches are atomic; never hand out what it points at.
                ops.del(Table::Due, key.to_vec());
                continue;
            }
            let Some(payload) = self.tables.get(Table::Bodies, id.as_bytes())? else {
                let detail = "its payload is missing";
                tracing::error!(%id, detail, "queue store: corrupt record dead-lettered");
                self.tables
                    .quarantine(&mut ops, destination, &key, &id, detail, now)?;
                continue;
            };
            let mut new = old.clone();
            new.message.claim(now, lease);
            self.tables.transition(&mut ops, Some(&old), Some(&new))?;
            let mut message = new.message;
            message.payload = Bytes::copy_from_slice(&payload);
            claimed.push(message);
        }
        // Set before the commit, which lowers it again for any due key this batch writes
        // below it (a lane promoted past a quarantined head).
        if let Some(key) = consumed {
            self.due_floor.insert(prefix, key);
        }
        self.commit(ops)?;
        Ok(claimed)
    }

    /// Reads `id` for a change: `Ok(None)` when it does not exist.
    fn read_for_change(&self, id: &MessageId) -> Result<Option<Stored>, StoreError> {
        match self.tables.read(id)? {
            Read::Found(stored) => Ok(Some(stored)),
            Read::Missing => Ok(None),
            Read::Corrupt(detail) => Err(StoreError::Corrupt {
                id: id.to_string(),
                detail,
            }),
        }
    }

    fn settle(
        &mut self,
        id: &MessageId,
        settlement: Settlement,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(old) = self.read_for_change(id)? else {
            return Ok(false);
        };
        if old.message.state != State::InFlight {
            return Ok(false);
        }
        let mut new = old.clone();
        new.message.apply(settlement, now);
        self.change(&old, Some(&new))?;
        Ok(true)
    }

    fn requeue(&mut self, id: &MessageId, now: Timestamp) -> Result<bool, StoreError> {
        let Some(old) = self.read_for_change(id)? else {
            return Ok(false);
        };
        if old.message.state != State::Dead {
            return Ok(false);
        }
        let mut new = old.clone();
        new.message.requeue(now);
        self.change(&old, Some(&new))?;
        Ok(true)
    }

    fn delete(&mut self, id: &MessageId) -> Result<bool, StoreError> {
        let mut ops = Ops::default();
        match self.tables.read(id)? {
            Read::Missing => return Ok(false),
            Read::Found(old) => self.tables.transition(&mut ops, Some(&old), None)?,
            Read::Corrupt(_) => self.tables.purge_refs(&mut ops, None, id)?,
        }
        ops.del(Table::Bodies, id.as_bytes().to_vec());
        self.commit(ops)?;
        Ok(true)
    }

    fn change(&mut self, old: &Stored, new: Option<&Stored>) -> Result<(), StoreError> {
        let mut ops = Ops::default();
        self.tables.transition(&mut ops, Some(old), new)?;
        self.commit(ops)
    }

    fn expire(
        &mut self,
        now: Timestamp,
        delivered_for: Duration,
        dead_for: Duration,
    ) -> Result<u64, StoreError> {
        let mut expired = Vec::new();
        for (state, keep) in [(State::Delivered, delivered_for), (State::Dead, dead_for)] {
            let Some(cutoff) = now.0.checked_sub(keep.as_millis() as u64) else {
                continue;
            };
            let tag = keys::settled_tag(state);
            let mut end = vec![tag];
            end.extend_from_slice(&cutoff.to_be_bytes());
            end.extend_from_slice(&[0xff; 16]);
            for entry in self.tables.range(Table::Settled, &[tag], Some(&end)) {
                expired.push(entry?.0);
            }
        }
        let mut removed = 0;
        for chunk in expired.chunks(4096) {
            let mut ops = Ops::default();
            for key in chunk {
                let Some(id) = keys::settled_id(key) else {
                    ops.del(Table::Settled, key.clone());
                    continue;
                };
                match self.tables.read(&id)? {
                    Read::Found(old) if old.message.expired(now, delivered_for, dead_for) => {
                        self.tables.transition(&mut ops, Some(&old), None)?;
                        ops.del(Table::Bodies, id.as_bytes().to_vec());
                        removed += 1;
                    }
                    Read::Found(_) => {}
                    Read::Missing => ops.del(Table::Settled, key.clone()),
                    Read::Corrupt(_) => {
                        self.tables.purge_refs(&mut ops, None, &id)?;
                        ops.del(Table::Settled, key.clone());
                        ops.del(Table::Bodies, id.as_bytes().to_vec());
                        removed += 1;
                    }
                }
            }
            self.commit(ops)?;
        }
        Ok(removed)
    }

    /// On open: every in-flight message goes back to waiting, due at the time it was
    /// claimed (this process owns the files alone, so no worker holds a lease).
    pub(super) fn release_leases(&mut self, in_flight: Vec<Stored>) -> Result<(), StoreError> {
        for chunk in in_flight.chunks(4096) {
            let mut ops = Ops::default();
            for old in chunk {
                let mut new = old.clone();
                let claimed_at = new.message.updated_at;
                new.message
                    .apply(Settlement::Defer { at: claimed_at }, claimed_at);
                self.tables.transition(&mut ops, Some(old), Some(&new))?;
            }
            self.commit(ops)?;
        }
        Ok(())
    }
}

fn clone_result(result: &Result<(), StoreError>) -> Result<(), StoreError> {
    match result {
        Ok(()) => Ok(()),
        Err(e) => Err(StoreError::Backend(e.to_string())),
    }
}
