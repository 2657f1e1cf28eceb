//! [`MemoryQueueStore`]: every message in one map behind a mutex.
//!
//! Nothing survives the process, so the sidecar never uses it for real traffic; it is the
//! executable statement of the [`QueueStore`] contract — small enough to read at once —
//! that the conformance suite and the model-based tests hold the other backends to, and a
//! store for tests of the engine. Scans are linear on purpose: clarity over speed.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{crossed_bound, Bounds, DestinationStats, ListQuery, QueueStore, StoreError};
use crate::message::{Message, MessageId, NewMessage, Settlement, State, Timestamp};

/// An in-process [`QueueStore`]; see the module docs.
#[derive(Debug, Default)]
pub struct MemoryQueueStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    messages: BTreeMap<MessageId, Message>,
    next_seq: u64,
}

impl MemoryQueueStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn stats_of(&self, destination: &str) -> DestinationStats {
        let mut stats = DestinationStats {
            destination: destination.to_owned(),
            ..DestinationStats::default()
        };
        for m in self
            .messages
            .values()
            .filter(|m| m.destination == destination)
        {
            add(&mut stats, m);
        }
        stats
    }

    /// Whether an earlier message of the same lane is still pending.
    fn blocked(&self, message: &Message) -> bool {
        let Some(key) = &message.ordering_key else {
            return false;
        };
        self.messages.values().any(|other| {
            other.destination == message.destination
                && other.ordering_key.as_ref() == Some(key)
                && other.seq < message.seq
                && other.state.is_pending()
        })
    }
}

fn add(stats: &mut DestinationStats, m: &Message) {
    *stats.count_mut(m.state) += 1;
    if m.state.is_pending() {
        stats.pending_bytes += m.size();
        let at = m.meta.received_at;
        stats.oldest_pending = Some(stats.oldest_pending.map_or(at, |o| o.min(at)));
    }
}

#[async_trait]
impl QueueStore for MemoryQueueStore {
    async fn enqueue(&self, new: NewMessage, bounds: Bounds) -> Result<MessageId, StoreError> {
        let mut inner = self.lock();
        let stats = inner.stats_of(&new.destination);
        if let Some(what) = crossed_bound(&stats, new.payload.len() as u64, bounds) {
            return Err(StoreError::Full {
                destination: new.destination,
                what,
            });
        }
        let id = MessageId::generate();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let message = Message::from_new(new, id.clone(), seq);
        inner.messages.insert(id.clone(), message);
        Ok(id)
    }

    async fn claim(
        &self,
        destination: &str,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Message>, StoreError> {
        let mut inner = self.lock();
        let mut candidates: Vec<(Timestamp, u64, MessageId)> = inner
            .messages
            .values()
            .filter(|m| m.destination == destination && m.is_due(now) && !inner.blocked(m))
            .map(|m| (m.next_attempt_at, m.seq, m.id.clone()))
            .collect();
        candidates.sort();
        let mut claimed = Vec::new();
        for (_, _, id) in candidates.into_iter().take(limit) {
            if let Some(m) = inner.messages.get_mut(&id) {
                m.claim(now, lease);
                claimed.push(m.clone());
            }
        }
        Ok(claimed)
    }

    async fn settle(
        &self,
        id: &MessageId,
        settlement: Settlement,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(m) = inner.messages.get_mut(id) else {
            return Ok(false);
        };
        if m.state != State::InFlight {
            return Ok(false);
        }
        m.apply(settlement, now);
        Ok(true)
    }

    async fn get(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        Ok(self.lock().messages.get(id).cloned())
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Message>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .messages
            .values()
            .filter(|m| query.after.as_ref().is_none_or(|after| &m.id > after))
            .filter(|m| query.matches(m))
            .take(query.page())
            .cloned()
            .collect())
    }

    async fn requeue(&self, id: &MessageId, now: Timestamp) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.messages.get_mut(id) {
            Some(m) if m.state == State::Dead => {
                m.requeue(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, id: &MessageId) -> Result<bool, StoreError> {
        Ok(self.lock().messages.remove(id).is_some())
    }

    async fn stats(&self) -> Result<Vec<DestinationStats>, StoreError> {
        let inner = self.lock();
        let mut by: BTreeMap<&str, DestinationStats> = BTreeMap::new();
        for m in inner.messages.values() {
            let stats = by
                .entry(m.destination.as_str())
                .or_insert_with(|| DestinationStats {
                    destination: m.destination.clone(),
                    ..DestinationStats::default()
                });
            add(stats, m);
        }
        Ok(by.into_values().collect())
    }

    async fn expire(
        &self,
        now: Timestamp,
        delivered_for: Duration,
        dead_for: Duration,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.messages.len();
        inner
            .messages
            .retain(|_, m| !m.expired(now, delivered_for, dead_for));
        Ok((before - inner.messages.len()) as u64)
    }
}
