//! Where the admin API's own state is kept: API-made webhook keys (and the states the API
//! set on the config file's keys) and the audit log.
//!
//! [`KeyStore`] is the seam for a shared backend: the embedded store ([`EmbeddedStore`],
//! fjall) is the default; with `[state] backend = "redis"` the Redis store
//! ([`RedisKeyStore`](super::shared::RedisKeyStore)) implements the same trait so that every
//! replica sees the same keys, and says when another replica changed them
//! ([`KeyStore::changed`]). [`MemoryStore`] serves tests. One conformance function below
//! runs against each. The event log is per replica (each replica logs the requests it
//! served) and lives in the embedded store only.

#[cfg(test)]
use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::keys::KeyRecord;

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
#[error("admin store: {0}")]
pub(crate) struct StoreError(pub(crate) String);

/// One state-changing admin call: who (the token's id, never its value), what, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct AuditEntry {
    /// Unix milliseconds.
    pub(crate) at_ms: u64,
    /// The id of the admin token the call was made with.
    pub(crate) token_id: String,
    /// What was done, e.g. `key.disable`.
    pub(crate) action: String,
    /// What it was done to, and how.
    pub(crate) detail: serde_json::Value,
}

/// API-made keys, key states and the audit log. Implemented by the embedded store, the
/// in-memory one and the Redis one.
#[async_trait]
pub(crate) trait KeyStore: Send + Sync {
    /// Every key record, in id order.
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Creates or replaces the record with `record.id`.
    async fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError>;
    /// Removes the record with `id`; whether there was one.
    async fn delete_key(&self, id: &str) -> Result<bool, StoreError>;
    /// Appends to the audit log, dropping the oldest entries past `keep`.
    async fn append_audit(&self, entry: &AuditEntry, keep: usize) -> Result<(), StoreError>;
    /// The newest `limit` audit entries, newest first.
    async fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Whether other replicas share the store (and may change it behind this one's back).
    fn shared(&self) -> bool {
        false
    }
    /// Resolves when another replica may have changed the keys. A store of this process
    /// alone never does.
    async fn changed(&self) {
        std::future::pending::<()>().await;
    }
}

/// Everything in memory: the reference the embedded store is checked against.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    keys: Mutex<BTreeMap<String, KeyRecord>>,
    audit: Mutex<Vec<AuditEntry>>,
}

#[cfg(test)]
#[async_trait]
impl KeyStore for MemoryStore {
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(lock(&self.keys).values().cloned().collect())
    }

    async fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        lock(&self.keys).insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.keys).remove(id).is_some())
    }

    async fn append_audit(&self, entry: &AuditEntry, keep: usize) -> Result<(), StoreError> {
        let mut audit = lock(&self.audit);
        audit.push(entry.clone());
        let excess = audit.len().saturating_sub(keep);
        audit.drain(..excess);
        Ok(())
    }

    async fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(lock(&self.audit)
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) use super::embedded::EmbeddedStore;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::keys::{generate_key, Origin};

    fn record(id: &str) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            route: "hooks".into(),
            key: generate_key(),
            origin: Origin::Api,
            enabled: true,
            created_ms: 1,
            changed_ms: 2,
            changed_by: Some("ops".into()),
            retired: None,
            rate_limit: None,
        }
    }

    fn entry(n: u64) -> AuditEntry {
        AuditEntry {
            at_ms: n,
            token_id: "ops".into(),
            action: format!("key.{n}"),
            detail: serde_json::json!({ "n": n }),
        }
    }

    /// The same checks for every backend (a Redis backend is added to the list).
    async fn conformance(store: &dyn KeyStore) {
        assert!(store.keys().await.unwrap().is_empty());
        let (a, mut b) = (record("k_a"), record("k_b"));
        store.put_key(&b).await.unwrap();
        store.put_key(&a).await.unwrap();
        b.enabled = false;
        store.put_key(&b).await.unwrap();
        assert_eq!(
            store.keys().await.unwrap(),
            [a.clone(), b.clone()],
            "id order, last write wins"
        );
        assert!(store.delete_key("k_a").await.unwrap());
        assert!(!store.delete_key("k_a").await.unwrap());
        assert_eq!(store.keys().await.unwrap(), [b]);
        for n in 1..=5 {
            store.append_audit(&entry(n), 3).await.unwrap();
        }
        assert_eq!(
            store.audit(10).await.unwrap(),
            [entry(5), entry(4), entry(3)]
        );
        assert_eq!(store.audit(1).await.unwrap(), [entry(5)]);
    }

    #[tokio::test]
    async fn memory_store_conforms() {
        conformance(&MemoryStore::default()).await;
    }

    #[tokio::test]
    async fn redis_store_conforms_and_keeps_keys_across_a_reconnect() {
        let server = hookguard_tests::RedisServer::start();
        let open = || {
            let settings = hookguard_redis::RedisSettings::new(server.url());
            let redis = hookguard_redis::Redis::connect_lazy(settings).unwrap();
            let records = hookguard_redis::RedisRecords::new(redis, "keys");
            super::super::shared::RedisKeyStore::new(std::sync::Arc::new(records))
        };
        let store = open();
        assert!(store.shared());
        conformance(&store).await;
        drop(store);
        let reopened = open();
        assert_eq!(reopened.keys().await.unwrap().len(), 1);
        assert_eq!(reopened.audit(10).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn embedded_store_conforms_and_keeps_keys_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        conformance(&store).await;
        drop(store);
        let reopened = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(reopened.keys().await.unwrap().len(), 1);
        assert_eq!(reopened.audit(10).await.unwrap().len(), 3);
    }
}
