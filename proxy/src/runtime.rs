//! One configuration snapshot, ready to serve: the route table and the upstream. Built from
//! the config file by `stack::build`, swapped atomically on reload (`ArcSwap<Snapshot>`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookguard_layers::credentials::{CachedCredentials, RefresherHandle, RouteKeys};
use hookguard_layers::Verdict;
use http::Request;
use http_body_util::Full;
use pingora_core::upstreams::peer::HttpPeer;
use tower::util::BoxCloneSyncService;

/// A half of a route's stack: the header stage (no body yet) or the body stage.
pub(crate) type Stage = BoxCloneSyncService<Request<Full<Bytes>>, Verdict, Infallible>;

/// Everything the sidecar needs to serve one route.
pub(crate) struct Route {
    /// The route's id in the config (metric label, log field).
    pub(crate) id: Arc<str>,
    /// Report-only: checks run, are logged and counted, nothing is refused.
    pub(crate) shadow: bool,
    /// Largest body accepted.
    pub(crate) body_limit: usize,
    /// Bound on reading the whole body.
    pub(crate) body_timeout: Duration,
    /// The route as configured (the path rewrite lives there: `upstream_path`).
    pub(crate) config: hookguard_config::Route,
    /// Queue mode: where admitted requests go instead of the app.
    pub(crate) queue: Option<crate::queue::QueuedRoute>,
    /// Checks that need no body: IP filter, rate limit.
    pub(crate) header_stage: Stage,
    /// Checks on the body: signature, replay guard.
    pub(crate) body_stage: Stage,
    /// The scheme's name (for the `x-hookguard-scheme` header when nothing was verified).
    pub(crate) scheme: &'static str,
    /// The route's keys, to count which secret matched (rotation progress).
    pub(crate) keys: Option<RouteKeys>,
    /// The route's latency and size series.
    pub(crate) metrics: crate::metrics::RouteMetrics,
}

/// The upstream app.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// `host:port`.
    pub(crate) address: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    /// Pingora's description of the app when the address is an `IP:port`, built once per
    /// configuration (the key of the connection pool); a host name is resolved per request,
    /// so a changed DNS record is followed.
    literal: Option<HttpPeer>,
    pub(crate) forwarded_for: hookguard_config::ForwardedFor,
}

/// How long an idle pooled connection to the app is kept (apps close theirs too).
const POOL_IDLE: Duration = Duration::from_secs(30);

impl Upstream {
    pub(crate) fn new(config: &hookguard_config::Upstream) -> Self {
        let mut upstream = Self {
            address: config.address.clone(),
            connect_timeout: config.connect_timeout.get(),
            read_timeout: config.read_timeout.get(),
            literal: None,
            forwarded_for: config.forwarded_for,
        };
        upstream.literal = config
            .address
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|addr| upstream.peer_at(addr));
        upstream
    }

    /// The app's peer: the one built for an `IP:port`, else the host name resolved now.
    pub(crate) fn peer(&self) -> Result<std::borrow::Cow<'_, HttpPeer>, String> {
        if let Some(peer) = &self.literal {
            return Ok(std::borrow::Cow::Borrowed(peer));
        }
        use std::net::ToSocketAddrs;
        let addr = self
            .address
            .to_socket_addrs()
            .map_err(|e| format!("resolving upstream.address {}: {e}", self.address))?
            .next()
            .ok_or_else(|| format!("upstream.address {} resolves to nothing", self.address))?;
        Ok(std::borrow::Cow::Owned(self.peer_at(addr)))
    }

    fn peer_at(&self, addr: std::net::SocketAddr) -> HttpPeer {
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(self.connect_timeout);
        peer.options.read_timeout = Some(self.read_timeout);
        peer.options.write_timeout = Some(self.read_timeout);
        peer.options.idle_timeout = Some(POOL_IDLE);
        peer
    }
}

/// One configuration, ready to serve.
pub(crate) struct Snapshot {
    /// Path → index into `routes` (the config crate's matcher).
    pub(crate) router: hookguard_config::Router,
    /// In the config's order.
    pub(crate) routes: Vec<Arc<Route>>,
    pub(crate) upstream: Upstream,
    /// This snapshot's credential cache and its background refresher: both live exactly as
    /// long as the snapshot, so a reload drops the old ones.
    pub(crate) credentials: (CachedCredentials, RefresherHandle),
    /// The configuration it was built from.
    pub(crate) config: Arc<hookguard_config::Config>,
    /// The durable queue, once a configuration had a queued route (process-wide).
    pub(crate) queue: Option<Arc<crate::queue::Queue>>,
    /// API-made keys, the event log, statistics: once an admin token was configured.
    pub(crate) state: Option<Arc<crate::state::OperatorState>>,
    /// The distinct key prefixes of the key routes.
    pub(crate) key_prefixes: Vec<String>,
    /// Route id → index into `routes`.
    pub(crate) route_index: std::collections::HashMap<String, usize>,
}

/// How a request path resolved.
pub(crate) enum Lookup<'a> {
    /// A route serves it.
    Found(&'a Arc<Route>),
    /// A key route's key exists but is disabled.
    KeyDisabled,
    /// Nothing serves it.
    NotFound,
}

impl Snapshot {
    pub(crate) fn lookup(&self, path: &str) -> Lookup<'_> {
        // The key table (config keys with the API's changes, and API-made keys) answers
        // first; without admin state, the config's router alone.
        if let Some(state) = &self.state {
            let table = state.keys.load();
            if let Some((index, enabled)) =
                self.resolve_key(path, &table, hookguard_delivery::Timestamp::now().0)
            {
                return match (enabled, self.routes.get(index)) {
                    (true, Some(route)) => Lookup::Found(route),
                    (false, Some(_)) => Lookup::KeyDisabled,
                    (_, None) => Lookup::NotFound,
                };
            }
        }
        match self.router.lookup(path) {
            hookguard_config::Lookup::Route { index } => self
                .routes
                .get(index)
                .map_or(Lookup::NotFound, Lookup::Found),
            hookguard_config::Lookup::KeyDisabled { .. } => Lookup::KeyDisabled,
            hookguard_config::Lookup::NotFound => Lookup::NotFound,
        }
    }

    /// The route index and state of the webhook key in `path`, when `table` knows it for a
    /// key route of this snapshot with that prefix.
    fn resolve_key(
        &self,
        path: &str,
        table: &crate::state::KeyTable,
        now_ms: u64,
    ) -> Option<(usize, bool)> {
        self.key_match(path, table, now_ms)
            .map(|(index, resolved)| (index, resolved.enabled))
    }

    fn key_match<'t>(
        &self,
        path: &str,
        table: &'t crate::state::KeyTable,
        now_ms: u64,
    ) -> Option<(usize, &'t crate::state::keys::Resolved)> {
        for prefix in &self.key_prefixes {
            let Some(key) = path.strip_prefix(prefix.as_str()) else {
                continue;
            };
            let Some(resolved) = table.resolve(key, now_ms) else {
                continue;
            };
            let Some(&index) = self.route_index.get(&*resolved.route) else {
                continue;
            };
            let same_prefix = self
                .routes
                .get(index)
                .is_some_and(|r| r.config.matches.key_prefix.as_deref() == Some(prefix.as_str()));
            if same_prefix {
                return Some((index, resolved));
            }
        }
        None
    }

    /// The id and route of the webhook key in `path` (for its statistics), enabled or not.
    pub(crate) fn key_of(
        &self,
        path: &str,
        table: &crate::state::KeyTable,
        now_ms: u64,
    ) -> Option<(String, String)> {
        self.key_match(path, table, now_ms)
            .map(|(_, resolved)| (resolved.id.to_string(), resolved.route.to_string()))
    }
}
