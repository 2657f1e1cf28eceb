//! One configuration snapshot, ready to serve: the route table and the upstream. Built from
//! the config file by `stack::build`, swapped atomically on reload (`ArcSwap<Snapshot>`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookguard_layers::credentials::{CachedCredentials, RefresherHandle, RouteKeys};
use hookguard_layers::Admission;
use http::Request;
use http_body_util::Full;
use tower::util::BoxCloneSyncService;

/// A half of a route's stack: the header stage (no body yet) or the body stage.
pub(crate) type Stage = BoxCloneSyncService<Request<Full<Bytes>>, Admission, Infallible>;

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
}

/// The upstream app.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// `host:port`.
    pub(crate) address: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
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
        match self.router.lookup(path) {
            hookguard_config::Lookup::Route { index } => self
                .routes
                .get(index)
                .map_or(Lookup::NotFound, Lookup::Found),
            hookguard_config::Lookup::KeyDisabled { .. } => Lookup::KeyDisabled,
            hookguard_config::Lookup::NotFound => Lookup::NotFound,
        }
    }
}
