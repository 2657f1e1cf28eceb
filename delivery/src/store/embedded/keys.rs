//! The byte layout of every index key (see the module docs for what each keyspace holds).
//!
//! Integers are big-endian so byte order is numeric order; strings are length-prefixed so
//! no destination's prefix is a prefix of another's.

use sha2::{Digest, Sha256};

use crate::message::{Message, MessageId, State, Timestamp};

/// Ordering keys longer than this are replaced by their SHA-256 in lane keys (keys stay
/// well under fjall's 64 KiB limit; a collision would only serialise two lanes).
const MAX_LITERAL_LANE: usize = 255;

/// `u16 len | destination`.
pub(super) fn destination(dest: &str) -> Vec<u8> {
    let bytes = dest.as_bytes();
    // Destinations are route or subscription ids: far below 64 KiB. Longer ones are cut,
    // which can only merge two absurd names into one lane of counters.
    let len = bytes.len().min(u16::MAX as usize);
    let mut out = Vec::with_capacity(2 + len + 16);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&bytes[..len]);
    out
}

/// The destination part (length-prefixed name) of a key that starts with one.
pub(super) fn destination_prefix(key: &[u8]) -> &[u8] {
    let len = key
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as usize);
    &key[..key.len().min(2 + len)]
}

/// Due index: `destination | next_attempt_at | seq` → id.
pub(super) fn due(dest: &str, at: Timestamp, seq: u64) -> Vec<u8> {
    let mut key = destination(dest);
    key.extend_from_slice(&at.0.to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `(next_attempt_at, seq)` of a due key with `prefix_len` bytes of destination.
pub(super) fn parse_due(key: &[u8], prefix_len: usize) -> Option<(Timestamp, u64)> {
    let rest = key.get(prefix_len..)?;
    let at = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let seq = u64::from_be_bytes(rest.get(8..16)?.try_into().ok()?);
    Some((Timestamp(at), seq))
}

/// The prefix shared by one ordering lane: `destination | 0 | u8 len | key` or
/// `destination | 1 | sha256(key)`.
pub(super) fn lane(dest: &str, ordering_key: &str) -> Vec<u8> {
    let mut out = destination(dest);
    let key = ordering_key.as_bytes();
    if key.len() <= MAX_LITERAL_LANE {
        out.push(0);
        out.push(key.len() as u8);
        out.extend_from_slice(key);
    } else {
        out.push(1);
        out.extend_from_slice(&Sha256::digest(key));
    }
    out
}

/// Lane entry: `lane prefix | seq` → id.
pub(super) fn lane_entry(lane: &[u8], seq: u64) -> Vec<u8> {
    let mut key = lane.to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The seq at the end of a lane entry.
pub(super) fn lane_seq(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8).and_then(|at| key.get(at..))?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

/// Age index: `destination | received_at | seq` → id (its first entry per destination is
/// the oldest pending message).
pub(super) fn age(message: &Message) -> Vec<u8> {
    due(&message.destination, message.meta.received_at, message.seq)
}

/// Settled index: `state | updated_at | id` → nothing (retention scans it in time order).
pub(super) fn settled(state: State, at: Timestamp, id: &MessageId) -> Vec<u8> {
    let mut key = Vec::with_capacity(25);
    key.push(settled_tag(state));
    key.extend_from_slice(&at.0.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// The one-byte tag of a settled state in the settled index.
pub(super) fn settled_tag(state: State) -> u8 {
    match state {
        State::Delivered => b'd',
        _ => b'x',
    }
}

/// A message id from 16 stored bytes.
pub(super) fn id(bytes: &[u8]) -> Option<MessageId> {
    Some(MessageId::from_bytes(bytes.try_into().ok()?))
}

/// The id at the end of a settled key.
pub(super) fn settled_id(key: &[u8]) -> Option<MessageId> {
    id(key.get(9..)?)
}
