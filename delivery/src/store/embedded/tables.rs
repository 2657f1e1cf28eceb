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

/// Every keyspace of one store.
#[derive(Clone)]
pub(super) struct Tables {
    pub(super) db: Database,
    pub(super) messages: Keyspace,
    pub(super) bodies: Keyspace,
    pub(super) due: Keyspace,
    pub(super) lanes: Keyspace,
    pub(super) ages: Keyspace,
    pub(super) settled: Keyspace,
    pub(super) dead: Keyspace,
    pub(super) meta: Keyspace,
}

/// What a read of a head record found.
pub(super) enum Read {
    Missing,
    Corrupt(String),
    Found(Stored),
}

impl Tables {
    pub(super) fn open(db: Database) -> Result<Self, fjall::Error> {
        let ks = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        Ok(Self {
            messages: ks("messages")?,
            bodies: ks("bodies")?,
            due: ks("due")?,
            lanes: ks("lanes")?,
            ages: ks("ages")?,
            settled: ks("settled")?,
            dead: ks("dead")?,
            meta: ks("meta")?,
            db,
        })
    }

    fn table(&self, table: Table) -> &Keyspace {
        match table {
            Table::Messages => &self.messages,
            Table::Bodies => &self.bodies,
            Table::Due => &self.due,
            Table::Lanes => &self.lanes,
            Table::Ages => &self.ages,
            Table::Settled => &self.settled,
            Table::Dead => &self.dead,
            Table::Meta => &self.meta,
        }
    }

    /// The head record of `id`.
    pub(super) fn read(&self, id: &MessageId) -> Result<Read, StoreError> {
        let bytes = self
            .messages
            .get(id.as_bytes())
            .map_err(backend("reading a message"))?;
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
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        for guard in self.table(table).prefix(prefix) {
            let (k, v) = guard.into_inner().map_err(backend("scanning an index"))?;
            if Some(&*k) != skip {
                return Ok(Some((k.to_vec(), v.to_vec())));
            }
        }
        Ok(None)
    }

    /// Writes `ops` in one atomic batch (not yet persisted: the writer persists groups).
    pub(super) fn commit(&self, ops: Ops, counters: &Counters) -> Result<(), StoreError> {
        let mut batch = self.db.batch();
        for ((table, key), value) in ops.writes {
            match value {
                Some(value) => batch.insert(self.table(table), key, value),
                None => batch.remove(self.table(table), key),
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
            .bodies
            .size_of(id.as_bytes())
            .map_err(backend("reading a payload"))?
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
            for guard in self.table(table).prefix(&prefix) {
                let (k, v) = guard.into_inner().map_err(backend("scanning an index"))?;
                if &*v != target {
                    continue;
                }
                if table == Table::Lanes {
                    let lane = &k[..k.len().saturating_sub(8)];
                    if self.is_head(lane, keys::lane_seq(&k).unwrap_or_default())? {
                        self.promote_next(ops, lane, &k)?;
                    }
                }
                ops.del(table, k.to_vec());
            }
        }
        ops.del(Table::Dead, target.to_vec());
        ops.del(Table::Messages, target.to_vec());
        if destination.is_none() {
            for guard in self.settled.iter() {
                let k = guard.key().map_err(backend("scanning an index"))?;
                if keys::settled_id(&k).as_ref() == Some(id) {
                    ops.del(Table::Settled, k.to_vec());
                }
            }
        }
        Ok(())
    }
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
