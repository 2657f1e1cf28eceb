//! [`EmbeddedQueueStore`]: the sidecar's default store, in a directory on local disk, on
//! [fjall](https://docs.rs/fjall) 3 (an LSM tree with a write-ahead journal and atomic
//! cross-keyspace batches). No server to run; one process owns the directory.
//!
//! # Design constraints and invariants
//! - **One process, one writer.** fjall locks the directory; a second process fails to
//!   open it. Inside the process one writer thread applies every change (enqueue, claim,
//!   settle, requeue, delete, expire) in arrival order, each as one atomic fjall batch, so
//!   indexes never disagree with records and no two claims can take the same message.
//!   Reads (`get`, `list`, `stats`) go straight to fjall from any thread.
//! - **Group commit; what is acknowledged when.** The writer takes a change, keeps taking
//!   more until `commit_interval` has passed since the first or `max_batch` are held, then
//!   persists the journal once — `fsync` ([`Durability::Fsync`]) or a `write` to the
//!   operating system ([`Durability::Os`]) — and only then answers every caller of the
//!   group. Every change is acknowledged this way, not only enqueues: an `Ok` from
//!   `enqueue`, `settle`, `requeue`, `delete` or `expire` means the change survives a crash
//!   (and with `Fsync` a power loss); a claim is answered after the commit too, so a
//!   worker never delivers a message whose enqueue could still be lost.
//! - **Key layout.** Three keyspaces: `messages`, `bodies`, and `index`, which holds every
//!   index below under a tag byte (each fjall keyspace costs ~85 ms of fsyncs to create
//!   and a memtable of its own). Integers are big-endian, strings length-prefixed:
//!   - `messages`: id → head record (`1 | postcard(payload length, message without
//!     payload)`); `bodies`: id → payload. A claim or a settlement rewrites only the head.
//!   - `due`: `destination | next_attempt_at | seq` → id, for every pending message that
//!     may be claimed when due: those without an ordering key and the **head** of each
//!     lane. In-flight messages stay in it at their lease's end, so an expired lease is
//!     claimable again with no sweep. `claim` is one range scan up to `now`.
//!   - `lanes`: `destination | key | seq` → id for every pending message with an ordering
//!     key (keys over 255 bytes by their SHA-256). A lane's head is its first entry; when
//!     it is delivered, dead or deleted, the next entry is put in `due` — non-heads are
//!     never scanned by a claim, however many wait behind a failing head.
//!   - `ages`: `destination | received_at | seq` → id for pending messages (the first
//!     entry is `stats`' oldest pending); `settled`: `state | updated_at | id` for
//!     delivered and dead messages (retention scans it in time order); `dead`: id → ()
//!     (the dead-letter list in id order); `meta`: the next seq, never reused.
//! - **Counters** (messages per state, pending bytes, per destination) live in memory,
//!   changed by the writer after each batch and rebuilt on open from the head records;
//!   they decide [`StoreError::Full`] against [`Bounds`](crate::Bounds).
//! - **Reads see what is written, not only what is durable.** `stats` (the counters) and
//!   `get`/`list` (fjall) show a change as soon as its batch is written, up to one group
//!   commit before the change is persisted and its caller answered. A crash in that window
//!   undoes it: a settlement seen as delivered is then delivered again (at least once).
//!   What is durable is what was acknowledged.
//! - **Open.** Every head record is read (not the payloads): counters, the next seq, and
//!   every `InFlight` message back to waiting (ready, or scheduled if it has attempts),
//!   due at the time it was claimed — the process owns the files alone, so no worker can
//!   still hold a lease. A torn journal tail from a crash is dropped by fjall's recovery:
//!   only unacknowledged changes were in it.
//! - **Corruption.** A head record that does not decode is never a panic: `get` answers
//!   [`StoreError::Corrupt`], `list` leaves it out (logged), open logs it, and when a claim
//!   meets it in the due index (or its payload is missing) it becomes a dead letter with
//!   [`DeadCode::Undecodable`](crate::DeadCode::Undecodable) — its destination and seq are
//!   known from the index key, the rest is lost — so it blocks neither the destination nor
//!   its lane. `delete` removes it and every index entry pointing at it.
//! - **Why fjall, not redb.** Most writes are small: a journal append in an LSM, where
//!   redb's copy-on-write B-tree rewrites the page path of every key a commit touches
//!   (five or six indexes here). fjall also writes a batch without syncing and persists
//!   the journal later in one call, which is group commit as it is. redb was not
//!   measured here; fjall's figures are in the crate README.
//!
//! ```
//! use hookguard_delivery::{
//!     Bounds, Direction, EmbeddedOptions, EmbeddedQueueStore, Metadata, NewMessage,
//!     QueueStore, Timestamp,
//! };
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = EmbeddedQueueStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
//! let new = NewMessage {
//!     destination: "github".into(),
//!     direction: Direction::Inbound,
//!     ordering_key: None,
//!     payload: "request bytes".into(),
//!     meta: Metadata { received_at: Timestamp::now(), ..Metadata::default() },
//! };
//! let id = store.enqueue(new, Bounds::UNBOUNDED).await.unwrap(); // fsync'd
//! assert_eq!(store.get(&id).await.unwrap().unwrap().payload, "request bytes");
//! assert_eq!(store.commit_stats().commits, 1);
//! # });
//! ```
//!
//! [`Durability::Fsync`]: crate::Durability::Fsync
//! [`Durability::Os`]: crate::Durability::Os

mod keys;
mod options;
mod record;
mod store;
mod tables;
mod writer;

#[cfg(test)]
mod tests;

pub use options::{CommitObserver, CommitStats, EmbeddedOptions};
pub use store::EmbeddedQueueStore;
