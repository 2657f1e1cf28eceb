//! A message's head record: everything but the payload, which lives in its own keyspace so
//! that a claim or a settlement rewrites ~100 bytes, not the whole request.

use serde::{Deserialize, Serialize};

use crate::message::Message;

/// The head format's version byte (the first byte of every head record).
const HEAD_V1: u8 = 1;

/// A message as its head record holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Stored {
    /// The payload's length, so bounds and stats are rebuilt on open without reading
    /// payloads.
    pub(super) payload_len: u64,
    /// The message, its payload left empty.
    pub(super) message: Message,
}

impl Stored {
    /// The head of `message` (its payload is dropped here: it is stored apart).
    pub(super) fn new(mut message: Message) -> Self {
        let payload_len = message.payload.len() as u64;
        message.payload = bytes::Bytes::new();
        Self {
            payload_len,
            message,
        }
    }

    /// The head record's bytes.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = vec![HEAD_V1];
        // postcard into a Vec cannot fail for these types.
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    /// Decodes a head record; the error says what is wrong (for `StoreError::Corrupt`).
    pub(super) fn decode(bytes: &[u8]) -> Result<Self, String> {
        match bytes.split_first() {
            Some((&HEAD_V1, rest)) => {
                postcard::from_bytes(rest).map_err(|e| format!("head record: {e}"))
            }
            Some((v, _)) => Err(format!("head record: unknown version byte {v}")),
            None => Err("head record: empty".into()),
        }
    }

    /// Whether it waits for delivery.
    pub(super) fn is_pending(&self) -> bool {
        self.message.state.is_pending()
    }
}
