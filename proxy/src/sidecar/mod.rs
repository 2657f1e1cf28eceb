//! The pingora adapter: pingora accepts connections and parses HTTP/1; this module owns the
//! connection loop and hands each request to [`exchange::serve`].
//!
//! It is a pingora [`ServerApp`], not a `ProxyHttp`: the sidecar buffers whole bodies to
//! verify them, so pingora's streaming proxy state machine (retry buffer, per-phase
//! callbacks, a separate flush of the upstream head) only cost CPU here. Measured before
//! choosing: bench/README.md, "The hot path". Pingora still parses and writes HTTP/1 on
//! both sides (`ServerSession`, `HttpSession`), pools the upstream connections
//! (`TransportConnector`) and runs the listeners, runtimes and graceful shutdown.
//!
//! Files: `connection.rs` (caps and deadlines before any route runs), `exchange.rs` (one
//! request: route, checks, then the app or the queue), `framing.rs` (what the head must
//! not be), `body.rs` (reading it), `forward.rs` (the app), `queue.rs` (queue mode),
//! `respond.rs` (answers the sidecar gives itself), `log.rs` (access log and metrics),
//! `pool.rs` (idle connections to the app, per worker thread).

mod body;
mod connection;
mod exchange;
mod forward;
mod framing;
mod log;
mod pool;
mod queue;
mod respond;

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use async_trait::async_trait;
use hookguard_config::LiveConfig;
use pingora_core::apps::{HttpPersistentSettings, ReusedHttpStream, ServerApp};
use pingora_core::connectors::TransportConnector;
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::Stream;
use pingora_core::server::ShutdownWatch;

use crate::runtime::Snapshot;

pub(crate) use log::flush as flush_access_log;

/// The sidecar: the current configuration snapshot, the probes' state, the upstream pool.
pub(crate) struct Sidecar {
    pub(crate) live: Arc<LiveConfig<Snapshot>>,
    /// Requests being served: the drain ends early when it reaches 0.
    pub(crate) in_flight: Arc<AtomicUsize>,
    /// Opens connections to the app (TCP, TLS, connect timeout); idle ones are kept per
    /// worker thread (`pool.rs`).
    upstreams: TransportConnector,
    /// Open connections, overall and per client address.
    connections: connection::Gate,
}

impl Sidecar {
    pub(crate) fn new(live: Arc<LiveConfig<Snapshot>>) -> Self {
        Self {
            live,
            in_flight: Arc::default(),
            upstreams: TransportConnector::new(None),
            connections: connection::Gate::default(),
        }
    }
}

#[async_trait]
impl ServerApp for Sidecar {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // One `getpeername` per connection (pingora caches it in the socket digest).
        let peer: Option<SocketAddr> = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied());
        let limits = self.live.current().config.connections.clone();
        // Over the caps: closed at once, before a byte is read.
        let _slot = self.connections.enter(peer.map(|p| p.ip()), &limits)?;
        // Formatted once for the connection's requests (their logs and heads for the app).
        let peer_text: Option<Arc<str>> = peer.map(|p| p.ip().to_string().into());
        let head_timeout = limits.head_timeout.get();
        let idle_timeout = limits.idle_timeout.get();

        let mut stream = stream;
        let mut kept: Option<HttpPersistentSettings> = None;
        loop {
            let mut session = ServerSession::new_http1(stream);
            // The head must arrive within `head_timeout` of the connection's start, or of
            // the previous answer plus the idle time a keep-alive connection may wait.
            let deadline = match kept.take() {
                Some(settings) => {
                    settings.apply_to_session(&mut session);
                    idle_timeout + head_timeout
                }
                None => {
                    session.set_keepalive(Some(idle_timeout.as_secs().max(1)));
                    head_timeout
                }
            };
            if *shutdown.borrow() {
                session.set_keepalive(None);
            }
            if !connection::read_head(&mut session, deadline).await {
                return None;
            }
            exchange::serve(self, &mut session, peer, peer_text.as_ref()).await;
            let settings = HttpPersistentSettings::for_session(&session);
            let reusable = session.finish().await.ok().flatten()?;
            let (next, settings) =
                ReusedHttpStream::from_reusable_stream(reusable, settings).consume();
            stream = next;
            kept = settings;
        }
    }
}
