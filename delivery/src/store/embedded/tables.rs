//! The keyspaces, and the one function that keeps every index in step with a message's
//! change ([`Tables::transition`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::keys;
use super::record::Stored;
use crate::message::{DeadCode, DeadReason, Direction, Message, MessageId, State, Timestamp};
use crate::store::{DestinationStats, StoreError};

/// The backend error of a fjall call, with what was being done.
/// One keyspace's memtable before it is flushed to a segment.
const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;

pub(super) fn backend(doing: &str) -> impl FnOnce(fjall::Error) -> StoreError + '_ {
    move |e| StoreError::Backend(format!("{doing}: {e}"))
}

/// Which keyspace an [`Ops`] entry writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Table {
    Messages,
    Bodies,
    Due,
    Lanes,
    Ages,
    Settled,
    Dead,
    Meta,
}

/// The store's keyspaces: heads, payloads, and one for every index (each index under a
/// tag byte: creating a fjall keyspace costs several fsyncs, ~85 ms here, and each one
/// holds a memtable of its own).
#[derive(Clone)]
pub(super) struct Tables {
    pub(super) db: Database,
    messages: Keyspace,
    bodies: Keyspace,
    index: Keyspace,
}

/// An entry with its index's tag byte removed.
pub(super) type Entry = (Vec<u8>, Vec<u8>);

/// What a read of a head record found (taken apart at once: its size does not matter).
#[allow(clippy::large_enum_variant)]
pub(super) enum Read {
    Missing,
    Corrupt(String),
    Found(Stored),
}

impl Tables {
    pub(super) fn open(db: Database) -> Result<Self, fjall::Error> {
        // Memtables of 8 MiB (fjall: 64 MiB each): see the memory note in `store.rs`.
        let ks = |name: &str| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
            })
        };
        Ok(Self {
            messages: ks("messages")?,
            bodies: ks("bodies")?,
            index: ks("index")?,
            db,
        })
    }

    fn tag(table: Table) -> Option<u8> {
        match table {
            Table::Messages | Table::Bodies => None,
            Table::Due => Some(b'D'),
            Table::Lanes => Some(b'L'),
            Table::Ages => Some(b'A'),
            Table::Settled => Some(b'S'),
            Table::Dead => Some(b'X'),
            Table::Meta => Some(b'M'),
        }
    }

    fn keyspace(&self, table: Table) -> &Keyspace {
        match table {
            Table::Messages => &self.messages,
            Table::Bodies => &self.bodies,
            _ => &self.index,
        }
    }

    /// `key` as stored: behind its index's tag.
    fn stored_key(table: Table, key: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + key.len());
        out.extend(Self::tag(table));
        out.extend_from_slice(key);
        out
    }

    /// The value of `key` in `table`.
    pub(super) fn get(&self, table: Table, key: &[u8]) -> Result<Option<fjall::Slice>, StoreError> {
        self.keyspace(table)
            .get(Self::stored_key(table, key))
            .map_err(backend("reading"))
    }

    /// The stored size of `key`'s value in `table`.
    pub(super) fn size_of(&self, table: Table, key: &[u8]) -> Result<Option<u32>, StoreError> {
        self.keyspace(table)
            .size_of(Self::stored_key(table, key))
            .map_err(backend("reading"))
    }

    /// Entries of `table` under `prefix`, in key order.
    pub(super) fn prefix(
        &self,
        table: Table,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<Entry, StoreError>> + '_ {
        let skip = usize::from(Self::tag(table).is_some());
        self.keyspace(table)
            .prefix(Self::stored_key(table, prefix))
            .map(move |guard| strip(guard, skip))
    }

    /// Entries of `table` from `low` (inclusive) to `high` (inclusive; `None`: the end).
    pub(super) fn range(
        &self,
        table: Table,
        low: &[u8],
        high: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<Entry, StoreError>> + '_ {
        use std::ops::Bound;
        let tag = Self::tag(table);
        let skip = usize::from(tag.is_some());
        let high = match (high, tag) {
            (Some(high), _) => Bound::Included(Self::stored_key(table, high)),
            (None, Some(tag)) => Bound::Excluded(vec![tag + 1]),
            (None, None) => Bound::Unbounded,
        };
        let low = Bound::Included(Self::stored_key(table, low));
        self.keyspace(table)
            .range::<Vec<u8>, _>((low, high))
            .map(move |guard| strip(guard, skip))
    }

    /// The head record of `id`.
    pub(super) fn read(&self, id: &MessageId) -> Result<Read, StoreError> {
        let bytes = self.get(Table::Messages, id.as_bytes())?;
        Ok(match bytes {
            None => Read::Missing,
            Some(bytes) => match Stored::decode(&bytes) {
                Ok(stored) => Read::Found(stored),
                Err(detail) => Read::Corrupt(detail),
            },
        })
    }

    /// The first `(key, value)` under `prefix` whose key is not `skip`.
    fn first(
        &self,
        table: Table,
        prefix: &[u8],
        skip: Option<&[u8]>,
    ) -> Result<Option<Entry>, StoreError> {
        for entry in self.prefix(table, prefix) {
            let (k, v) = entry?;
            if Some(k.as_slice()) != skip {
                return Ok(Some((k, v)));
            }
        }
        Ok(None)
    }

    /// Writes `ops` in one atomic batch (not yet persisted: the writer persists groups).
    pub(super) fn commit(&self, ops: Ops, counters: &Counters) -> Result<(), StoreError> {
        let mut batch = self.db.batch();
        for ((table, key), value) in ops.writes {
            match value {
                Some(value) => {
                    batch.insert(self.keyspace(table), Self::stored_key(table, &key), value)
                }
                None => batch.remove(self.keyspace(table), Self::stored_key(table, &key)),
            }
        }
        batch.commit().map_err(backend("writing a batch"))?;
        counters.apply(ops.counts);
        Ok(())
    }

    /// Persists every committed batch as `mode` asks.
    pub(super) fn persist(&self, mode: PersistMode) -> Result<(), StoreError> {
        self.db
            .persist(mode)
            .map_err(backend("persisting the journal"))
    }

    /// Writes, into `ops`, whatever keeps every index true when a message goes from `old`
    /// to `new` (`None`: absent). The invariants are in the module docs.
    pub(super) fn transition(
        &self,
        ops: &mut Ops,
        old: Option<&Stored>,
        new: Option<&Stored>,
    ) -> Result<(), StoreError> {
        let Some(any) = new.or(old) else {
            return Ok(());
        };
        let message = &any.message;
        let id = message.id.as_bytes().to_vec();
        match new {
            Some(n) => ops.put(Table::Messages, id.clone(), n.encode()),
            None => ops.del(Table::Messages, id.clone()),
        }
        if let Some(o) = old {
            ops.count(o, -1);
        }
        if let Some(n) = new {
            ops.count(n, 1);
        }

        let settled_key = |s: &Stored| {
            matches!(s.message.state, State::Delivered | State::Dead)
                .then(|| keys::settled(s.message.state, s.message.updated_at, &s.message.id))
        };
        let age_key = |s: &Stored| s.is_pending().then(|| keys::age(&s.message));
        let dead_key = |s: &Stored| (s.message.state == State::Dead).then(|| id.clone());
        ops.replace(
            Table::Settled,
            old.and_then(settled_key),
            new.and_then(settled_key),
            &[],
        );
        ops.replace(
            Table::Ages,
            old.and_then(age_key),
            new.and_then(age_key),
            &id,
        );
        ops.replace(
            Table::Dead,
            old.and_then(dead_key),
            new.and_then(dead_key),
            &[],
        );

        let old = old.filter(|s| s.is_pending());
        let new = new.filter(|s| s.is_pending());
        let due_key = |s: &Stored| {
            keys::due(
                &s.message.destination,
                s.message.next_attempt_at,
                s.message.seq,
            )
        };
        let lane = message
            .ordering_key
            .as_deref()
            .map(|k| keys::lane(&message.destination, k));
        let entry = lane.as_deref().map(|l| keys::lane_entry(l, message.seq));
        match (old, new, lane.as_deref()) {
            (None, None, _) => {}
            (Some(o), Some(n), lane) => {
                let head = match lane {
                    Some(lane) => self.is_head(lane, message.seq)?,
                    None => true,
                };
                if head {
                    ops.replace(Table::Due, Some(due_key(o)), Some(due_key(n)), &id);
                }
            }
            (Some(o), None, lane) => {
                ops.del(Table::Due, due_key(o));
                if let (Some(lane), Some(entry)) = (lane, entry) {
                    let was_head = self.is_head(lane, message.seq)?;
                    ops.del(Table::Lanes, entry.clone());
                    if was_head {
                        self.promote_next(ops, lane, &entry)?;
                    }
                }
            }
            (None, Some(n), None) => ops.put(Table::Due, due_key(n), id.clone()),
            (None, Some(n), Some(lane)) => {
                let first = self.first(Table::Lanes, lane, None)?;
                let displaced = match &first {
                    None => None,
                    Some((k, v)) if keys::lane_seq(k).is_some_and(|s| s > message.seq) => {
                        Some(v.clone())
                    }
                    Some(_) => {
                        ops.put(Table::Lanes, entry.unwrap_or_default(), id.clone());
                        return Ok(());
                    }
                };
                ops.put(Table::Lanes, entry.unwrap_or_default(), id.clone());
                ops.put(Table::Due, due_key(n), id.clone());
                // An earlier message came back (an operator's retry): the lane's head so
                // far waits behind it again.
                if let Some(other) = displaced.as_deref().and_then(keys::id) {
                    if let Read::Found(o) = self.read(&other)? {
                        ops.del(Table::Due, due_key(&o));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether no pending message of `lane` comes before `seq`.
    fn is_head(&self, lane: &[u8], seq: u64) -> Result<bool, StoreError> {
        Ok(match self.first(Table::Lanes, lane, None)? {
            Some((k, _)) => keys::lane_seq(&k).is_none_or(|first| first >= seq),
            None => true,
        })
    }

    /// Puts the lane's next message (after `leaving`, which is being removed) in the due
    /// index. One whose record is missing or corrupt is made due at once, so the next
    /// claim finds it and dead-letters it rather than letting it block the lane.
    fn promote_next(&self, ops: &mut Ops, lane: &[u8], leaving: &[u8]) -> Result<(), StoreError> {
        let Some((key, value)) = self.first(Table::Lanes, lane, Some(leaving))? else {
            return Ok(());
        };
        let Some(next) = keys::id(&value) else {
            ops.del(Table::Lanes, key);
            return Ok(());
        };
        let seq = keys::lane_seq(&key).unwrap_or_default();
        let dest_len = lane
            .first_chunk::<2>()
            .map_or(0, |l| u16::from_be_bytes(*l));
        let dest =
            String::from_utf8_lossy(lane.get(2..2 + usize::from(dest_len)).unwrap_or_default());
        let due = match self.read(&next)? {
            Read::Found(n) => keys::due(
                &n.message.destination,
                n.message.next_attempt_at,
                n.message.seq,
            ),
            Read::Missing | Read::Corrupt(_) => keys::due(&dest, Timestamp(0), seq),
        };
        ops.put(Table::Due, due, value);
        Ok(())
    }

    /// Turns a message whose head record cannot be decoded (found by claim at `due_key`)
    /// into a dead letter with [`DeadCode::Undecodable`], so it neither blocks its lane nor
    /// is found again. What the record held besides its destination and seq is lost.
    pub(super) fn quarantine(
        &self,
        ops: &mut Ops,
        destination: &str,
        due_key: &[u8],
        id: &MessageId,
        detail: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (at, seq) =
            keys::parse_due(due_key, keys::destination(destination).len()).unwrap_or_default();
        ops.del(Table::Due, due_key.to_vec());
        self.purge_refs(ops, Some(destination), id)?;
        let payload_len = self
            .size_of(Table::Bodies, id.as_bytes())?
            .unwrap_or_default();
        let dead = Stored {
            payload_len: u64::from(payload_len),
            message: Message {
                id: id.clone(),
                seq,
                destination: destination.to_owned(),
                direction: Direction::Inbound,
                ordering_key: None,
                payload: bytes::Bytes::new(),
                meta: Default::default(),
                state: State::Dead,
                attempts: Vec::new(),
                next_attempt_at: at,
                dead_reason: Some(DeadReason {
                    code: DeadCode::Undecodable,
                    detail: format!(
                        "the stored record is corrupt ({detail}); its metadata is lost"
                    ),
                }),
                updated_at: now,
            },
        };
        self.transition(ops, None, Some(&dead))
    }

    /// Removes every index entry that points at `id` (whose record cannot be read, so its
    /// keys cannot be computed), scanning `destination`'s part of the indexes or, unknown,
    /// all of them; promotes the next message of a lane it headed. Slow, and only for
    /// corrupt records.
    pub(super) fn purge_refs(
        &self,
        ops: &mut Ops,
        destination: Option<&str>,
        id: &MessageId,
    ) -> Result<(), StoreError> {
        let prefix = destination.map(keys::destination).unwrap_or_default();
        let target = id.as_bytes();
        for table in [Table::Due, Table::Lanes, Table::Ages] {
            for entry in self.prefix(table, &prefix) {
                let (k, v) = entry?;
                if v != target {
                    continue;
                }
                if table == Table::Lanes {
                    let lane = &k[..k.len().saturating_sub(8)];
                    if self.is_head(lane, keys::lane_seq(&k).unwrap_or_default())? {
                        self.promote_next(ops, lane, &k)?;
                    }
                }
                ops.del(table, k);
            }
        }
        ops.del(Table::Dead, target.to_vec());
        ops.del(Table::Messages, target.to_vec());
        if destination.is_none() {
            for entry in self.prefix(Table::Settled, &[]) {
                let (k, _) = entry?;
                if keys::settled_id(&k).as_ref() == Some(id) {
                    ops.del(Table::Settled, k);
                }
            }
        }
        Ok(())
    }
}

fn strip(guard: fjall::Guard, skip: usize) -> Result<Entry, StoreError> {
    let (k, v) = guard.into_inner().map_err(backend("scanning"))?;
    Ok((k.get(skip..).unwrap_or_default().to_vec(), v.to_vec()))
}

/// One command's writes, keyed so that a key written twice keeps the last value (a fjall
/// batch must not hold the same key twice), and its changes to the counters.
#[derive(Default)]
pub(super) struct Ops {
    writes: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>,
    counts: Vec<(String, State, u64, i64)>,
}

impl Ops {
    pub(super) fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert((table, key), Some(value));
    }

    pub(super) fn del(&mut self, table: Table, key: Vec<u8>) {
        self.writes.insert((table, key), None);
    }

    /// The keys this batch writes (not deletes) in `table`.
    pub(super) fn puts(&self, table: Table) -> impl Iterator<Item = &[u8]> + '_ {
        self.writes
            .iter()
            .filter(move |((t, _), v)| *t == table && v.is_some())
            .map(|((_, k), _)| k.as_slice())
    }

    /// Removes `old` and writes `new` (value `value`), skipping a no-op.
    fn replace(&mut self, table: Table, old: Option<Vec<u8>>, new: Option<Vec<u8>>, value: &[u8]) {
        if let Some(old) = old {
            if new.as_ref() != Some(&old) {
                self.del(table, old);
            }
        }
        if let Some(new) = new {
            self.put(table, new, value.to_vec());
        }
    }

    fn count(&mut self, stored: &Stored, sign: i64) {
        let m = &stored.message;
        self.counts
            .push((m.destination.clone(), m.state, stored.payload_len, sign));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// Per destination counts and pending bytes, kept in memory and rebuilt on open.
#[derive(Debug, Default, Clone)]
pub(super) struct Counters(Arc<Mutex<HashMap<String, DestinationStats>>>);

impl Counters {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<String, DestinationStats>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, counts: Vec<(String, State, u64, i64)>) {
        let mut map = self.lock();
        for (destination, state, size, sign) in counts {
            let stats = map
                .entry(destination)
                .or_insert_with_key(|d| DestinationStats {
                    destination: d.clone(),
                    ..DestinationStats::default()
                });
            let count = stats.count_mut(state);
            *count = count.saturating_add_signed(sign);
            if state.is_pending() {
                stats.pending_bytes = stats
                    .pending_bytes
                    .saturating_add_signed(sign * size as i64);
            }
        }
        map.retain(|_, s| State::ALL.iter().any(|&state| s.count(state) > 0));
    }

    /// Counts `stored` (the open scan).
    pub(super) fn add(&self, stored: &Stored) {
        let mut ops = Ops::default();
        ops.count(stored, 1);
        self.apply(ops.counts);
    }
}
