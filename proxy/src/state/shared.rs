//! The Redis backend of the admin state (`[state] backend = "redis"`): API-made keys, the
//! API's changes to config keys, and the audit log in Redis, so every replica serves the
//! same keys. The Redis side (one hash per set, a version, pub/sub, the capped log) is
//! hookguard-redis's [`RedisRecords`]; this file only says how a [`KeyRecord`] and an
//! [`AuditEntry`] are written there — JSON, as the embedded store writes them.
//!
//! Why the trait is implemented here rather than in hookguard-redis: `KeyRecord` belongs
//! to the admin API (its schema, its redaction), and the dependency points proxy → redis;
//! moving the record down would split one type across two crates. The Redis behaviour has
//! one place (`RedisRecords`), the record's form another (this file and `keys.rs`).
//!
//! The event log stays in each replica's embedded store: it records the requests that
//! replica served.

use std::sync::Arc;

use async_trait::async_trait;
use hookguard_redis::{RedisError, RedisRecords};

use super::keys::KeyRecord;
use super::store::{AuditEntry, KeyStore, StoreError};

/// Keys and the audit log in Redis.
#[derive(Debug, Clone)]
pub(crate) struct RedisKeyStore {
    records: Arc<RedisRecords>,
}

impl RedisKeyStore {
    /// The store over `records` (the set named `keys`).
    pub(crate) fn new(records: Arc<RedisRecords>) -> Self {
        Self { records }
    }

    fn failed(&self, doing: &str) -> impl FnOnce(RedisError) -> StoreError + '_ {
        let doing = doing.to_owned();
        move |e| {
            StoreError(format!(
                "{doing} in redis at {}: {e}; the keys already loaded keep working, changes wait until redis answers",
                self.records.url()
            ))
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError(format!("a {what} stored in redis is unreadable: {e}")))
}

#[async_trait]
impl KeyStore for RedisKeyStore {
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let all = self
            .records
            .all()
            .await
            .map_err(self.failed("reading the keys"))?;
        all.values().map(|v| decode("key record", v)).collect()
    }

    async fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let value = serde_json::to_vec(record).map_err(|e| StoreError(e.to_string()))?;
        self.records
            .put(&record.id, &value)
            .await
            .map_err(self.failed("writing a key"))
    }

    async fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        self.records
            .delete(id)
            .await
            .map_err(self.failed("removing a key"))
    }

    async fn append_audit(&self, entry: &AuditEntry, keep: usize) -> Result<(), StoreError> {
        let value = serde_json::to_vec(entry).map_err(|e| StoreError(e.to_string()))?;
        self.records
            .push_log(&value, keep)
            .await
            .map_err(self.failed("writing the audit log"))
    }

    async fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = self
            .records
            .log(limit)
            .await
            .map_err(self.failed("reading the audit log"))?;
        entries.iter().map(|v| decode("audit entry", v)).collect()
    }

    fn shared(&self) -> bool {
        true
    }

    async fn changed(&self) {
        self.records.changed().await;
    }
}
