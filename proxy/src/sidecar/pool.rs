//! Idle connections to the app, kept per worker thread.
//!
//! pingora's `TransportConnector` pool (still used to open connections: TCP, TLS, timeouts)
//! costs, per request, an `Arc<Mutex<Stream>>`, a spawned watcher task with its own timer,
//! a notification to stop it and a `getpeername` — measured at several µs per request on a
//! path whose whole budget is ~25 µs (bench/README.md, "The hot path"). The sidecar's
//! worker threads each run their own runtime, so a connection released on a thread is
//! taken again on the same thread: a plain thread-local stack needs no lock, no task and no
//! timer. Written here because no pool crate keeps pingora `Stream`s this way.
//!
//! A connection the app closed while it sat idle is noticed when it is taken (its socket is
//! readable: EOF or unexpected bytes) and dropped; one closed in the instant between that
//! check and the write fails at once and the request is retried on a new connection
//! (`forward::exchange`), as pingora's proxy does.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use pingora_core::protocols::Stream;
use tokio::io::AsyncReadExt;

/// The most idle connections one worker thread keeps (per app address).
const PER_THREAD: usize = 256;

struct Idle {
    /// `HttpPeer::reuse_hash` of the app address the connection goes to.
    key: u64,
    stream: Stream,
    since: Instant,
}

thread_local! {
    static IDLE: RefCell<Vec<Idle>> = const { RefCell::new(Vec::new()) };
}

/// An idle connection to `key`'s app, most recently used first; `None` when there is none
/// still open and younger than `max_idle` at `now` (the caller's clock reading: one fewer
/// per request).
pub(super) fn take(key: u64, max_idle: Duration, now: Instant) -> Option<Stream> {
    loop {
        let idle = IDLE.with(|idle| {
            let mut idle = idle.borrow_mut();
            let at = idle.iter().rposition(|c| c.key == key)?;
            Some(idle.remove(at))
        })?;
        let mut stream = idle.stream;
        if now.duration_since(idle.since) < max_idle && still_open(&mut stream) {
            return Some(stream);
        }
        // Too old or closed by the app: dropped (closed), the next one is tried.
    }
}

/// Keeps a connection whose exchange ended cleanly `at` for the next request on this thread.
pub(super) fn put(key: u64, stream: Stream, at: Instant) {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        // Counted only when the stack could be full (not on every return).
        if idle.len() >= PER_THREAD && idle.iter().filter(|c| c.key == key).count() >= PER_THREAD {
            // The oldest for this app goes (closed when dropped).
            if let Some(at) = idle.iter().position(|c| c.key == key) {
                idle.remove(at);
            }
        }
        idle.push(Idle {
            key,
            stream,
            since: at,
        });
    });
}

/// Whether an idle connection can carry a request: not readable. A read that is ready at
/// once means EOF (the app closed it), an error, or bytes nobody asked for — in each case
/// the connection is unusable. Costs no system call while the socket is not readable (the
/// runtime's readiness says so).
fn still_open(stream: &mut Stream) -> bool {
    let mut byte = [0u8; 1];
    // Polled once, never awaited: `unconstrained` so the task's budget cannot fake a
    // "pending" (the answer is only ever "ready" or "not yet").
    let read = pin!(tokio::task::unconstrained(stream.read(&mut byte)));
    read.poll(&mut Context::from_waker(Waker::noop()))
        .is_pending()
}
