//! What the sandbox received: a bounded list, the oldest dropped first.

use std::collections::VecDeque;

use serde::Serialize;

use crate::diagnose::Hypothesis;

/// One received request and what the sandbox did with it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry {
    /// Increasing from 1 for the life of the process.
    pub(crate) id: u64,
    /// RFC 3339.
    pub(crate) received_at: String,
    /// The same, in Unix seconds (what `explain` and `replay` judge timestamps against).
    pub(crate) received_unix: i64,
    pub(crate) method: String,
    /// Path and query, as sent.
    pub(crate) target: String,
    /// Every header in order, values as received (replay needs the exact signature).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body_bytes: usize,
    /// The exact body, base64 (bodies need not be text).
    pub(crate) body_base64: String,
    pub(crate) answer: Answer,
    /// The signature check, when the sandbox verifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) signature: Option<SignatureCheck>,
}

/// What the sandbox answered.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Answer {
    /// `None` for a timeout (the connection was closed without an answer).
    pub(crate) status: Option<u16>,
    pub(crate) delay_ms: u64,
    /// The status came from `error_rate`.
    pub(crate) injected_error: bool,
    pub(crate) timed_out: bool,
}

/// The signature check of one request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SignatureCheck {
    pub(crate) scheme: &'static str,
    pub(crate) valid: bool,
    /// Which secret matched (`secret 0` is the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) delivery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timestamp: Option<i64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// The likely mistakes that explain the failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) likely_mistakes: Vec<Hypothesis>,
}

/// The last `capacity` entries.
pub(crate) struct History {
    entries: VecDeque<Entry>,
    capacity: usize,
    next_id: u64,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            next_id: 1,
        }
    }

    /// The id the next entry gets.
    pub(crate) fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// A new bound; the oldest entries over it go at once.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn get(&self, id: u64) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// Newest first.
    pub(crate) fn newest(&self, limit: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().rev().take(limit)
    }

    /// Empties the list; returns how many entries went.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64) -> Entry {
        Entry {
            id,
            received_at: String::new(),
            received_unix: 0,
            method: "POST".into(),
            target: "/".into(),
            headers: Vec::new(),
            body_bytes: 0,
            body_base64: String::new(),
            answer: Answer {
                status: Some(200),
                delay_ms: 0,
                injected_error: false,
                timed_out: false,
            },
            signature: None,
        }
    }

    #[test]
    fn the_history_keeps_the_newest_entries_up_to_its_bound() {
        let mut h = History::new(3);
        for _ in 0..5 {
            let id = h.take_id();
            h.push(entry(id));
        }
        let ids: Vec<u64> = h.newest(10).map(|e| e.id).collect();
        assert_eq!(ids, [5, 4, 3]);
        assert!(h.get(2).is_none());
        h.set_capacity(1);
        assert_eq!(h.newest(10).map(|e| e.id).collect::<Vec<_>>(), [5]);
        assert_eq!(h.clear(), 1);
        assert_eq!(h.take_id(), 6, "ids are never reused");
    }
}
