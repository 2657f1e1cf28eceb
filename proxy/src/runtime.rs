//! One configuration snapshot, ready to serve: the route table and the upstream. Built from
//! the config file by `stack::build`, swapped atomically on reload (`ArcSwap<Snapshot>`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
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
    /// Path sent upstream instead of the request's (query kept).
    pub(crate) rewrite: Option<String>,
    /// Checks that need no body: IP filter, rate limit.
    pub(crate) header_stage: Stage,
    /// Checks on the body: signature, replay guard.
    pub(crate) body_stage: Stage,
    /// The scheme's name (for the `x-hookguard-scheme` header when nothing was verified).
    pub(crate) scheme: &'static str,
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

/// A key route: `/webhooks/{key}` resolved by a map lookup.
pub(crate) struct KeyRoute {
    pub(crate) prefix: String,
    pub(crate) keys: HashMap<String, (bool, Arc<Route>)>,
}

/// Path → route.
#[derive(Default)]
pub(crate) struct RouteTable {
    pub(crate) exact: HashMap<String, Arc<Route>>,
    /// Longest prefix first.
    pub(crate) prefixes: Vec<(String, Arc<Route>)>,
    pub(crate) key_routes: Vec<KeyRoute>,
}

impl RouteTable {
    pub(crate) fn lookup(&self, path: &str) -> Lookup<'_> {
        if let Some(route) = self.exact.get(path) {
            return Lookup::Found(route);
        }
        for key_route in &self.key_routes {
            if let Some(key) = path.strip_prefix(key_route.prefix.as_str()) {
                let key = key.trim_end_matches('/');
                return match key_route.keys.get(key) {
                    Some((true, route)) => Lookup::Found(route),
                    Some((false, _)) => Lookup::KeyDisabled,
                    None => Lookup::NotFound,
                };
            }
        }
        self.prefixes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map_or(Lookup::NotFound, |(_, route)| Lookup::Found(route))
    }
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
    pub(crate) routes: RouteTable,
    pub(crate) upstream: Upstream,
}
