//! The embedded backend of the admin state: one fjall database (the engine the queue
//! uses) with three keyspaces — `keys` (id → JSON record), `audit` and `events` (big-endian
//! sequence number → JSON, so key order is age order and the oldest are dropped first).
//!
//! Key changes and audit entries are flushed to the disk before the call answers (an
//! operator's change must survive a crash); events are written by one background thread
//! in batches and are not fsynced (a crash may lose the last second of the log, never
//! the process's time on the request path).

use std::path::Path;

use async_trait::async_trait;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::events::Event;
use super::keys::KeyRecord;
use super::store::{AuditEntry, KeyStore, StoreError};

/// Each keyspace's memtable: these tables are small.
const MEMTABLE_BYTES: u64 = 2 * 1024 * 1024;

/// The admin state on local disk.
#[derive(Clone)]
pub(crate) struct EmbeddedStore {
    db: Database,
    keys: Keyspace,
    audit: Keyspace,
    events: Keyspace,
}

fn failed(doing: &'static str) -> impl FnOnce(fjall::Error) -> StoreError {
    move |e| StoreError(format!("{doing}: {e}"))
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError(format!("a stored {what} is unreadable: {e}")))
}

impl EmbeddedStore {
    /// Opens (or creates) the store in the directory `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::builder(path)
            .open()
            .map_err(|e| StoreError(format!("opening {}: {e}", path.display())))?;
        let ks = |name: &str| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
            })
            .map_err(|e| StoreError(format!("opening {} in {}: {e}", name, path.display())))
        };
        Ok(Self {
            keys: ks("keys")?,
            audit: ks("audit")?,
            events: ks("events")?,
            db,
        })
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(failed("flushing to disk"))
    }

    fn last_seq(ks: &Keyspace) -> Result<u64, StoreError> {
        match ks.iter().next_back() {
            Some(guard) => {
                let (k, _) = guard.into_inner().map_err(failed("reading"))?;
                Ok(seq_of(&k))
            }
            None => Ok(0),
        }
    }

    /// Drops the oldest entries of `ks` until at most `keep` remain.
    fn trim(ks: &Keyspace, keep: usize) -> Result<(), StoreError> {
        let len = ks.len().map_err(failed("counting"))?;
        if len <= keep {
            return Ok(());
        }
        let doomed: Vec<Vec<u8>> = ks
            .iter()
            .take(len - keep)
            .map(|g| g.key().map(|k| k.to_vec()).map_err(failed("reading")))
            .collect::<Result<_, _>>()?;
        for key in doomed {
            ks.remove(key).map_err(failed("removing"))?;
        }
        Ok(())
    }

    /// The events kept, oldest first.
    pub(crate) fn load_events(&self) -> Result<Vec<Event>, StoreError> {
        let mut events = Vec::new();
        for guard in self.events.iter() {
            let (_, v) = guard.into_inner().map_err(failed("reading events"))?;
            // One unreadable event (a format change) does not cost the rest.
            if let Ok(event) = decode::<Event>("event", &v) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Writes `events` and removes the events with the ids in `dropped`.
    pub(crate) fn write_events(&self, events: &[Event], dropped: &[u64]) -> Result<(), StoreError> {
        let mut batch = self.db.batch();
        for event in events {
            let value = serde_json::to_vec(event).map_err(|e| StoreError(e.to_string()))?;
            batch.insert(&self.events, event.id.to_be_bytes(), value);
        }
        for id in dropped {
            batch.remove(&self.events, id.to_be_bytes());
        }
        batch.commit().map_err(failed("writing events"))
    }
}

fn seq_of(key: &[u8]) -> u64 {
    key.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

#[async_trait]
impl KeyStore for EmbeddedStore {
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.keys
            .iter()
            .map(|guard| {
                let (_, v) = guard.into_inner().map_err(failed("reading keys"))?;
                decode("key record", &v)
            })
            .collect()
    }

    async fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let value = serde_json::to_vec(record).map_err(|e| StoreError(e.to_string()))?;
        self.keys
            .insert(record.id.as_bytes(), value)
            .map_err(failed("writing a key"))?;
        self.sync()
    }

    async fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        let existed = self
            .keys
            .contains_key(id.as_bytes())
            .map_err(failed("reading a key"))?;
        self.keys
            .remove(id.as_bytes())
            .map_err(failed("removing a key"))?;
        self.sync()?;
        Ok(existed)
    }

    async fn append_audit(&self, entry: &AuditEntry, keep: usize) -> Result<(), StoreError> {
        let seq = Self::last_seq(&self.audit)? + 1;
        let value = serde_json::to_vec(entry).map_err(|e| StoreError(e.to_string()))?;
        self.audit
            .insert(seq.to_be_bytes(), value)
            .map_err(failed("writing the audit log"))?;
        Self::trim(&self.audit, keep)?;
        self.sync()
    }

    async fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit
            .iter()
            .rev()
            .take(limit)
            .map(|guard| {
                let (_, v) = guard
                    .into_inner()
                    .map_err(failed("reading the audit log"))?;
                decode("audit entry", &v)
            })
            .collect()
    }
}
