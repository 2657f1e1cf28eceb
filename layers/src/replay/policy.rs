//! The replay policy core: which deliveries to admit, with no HTTP-framework types.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::store::{ReplayKey, ReplayStore, Reservation, ReservationToken, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::reject::{Reason, Rejection};
use crate::verify::{DeliveryIdSource, Scheme, Verified};

/// Default window: a delivery id is remembered for 24 hours after the app accepted it.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Default lease of a reservation: how long an id stays reserved when its request is
/// never settled (a crashed replica). Must exceed the longest call to the app.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5 * 60);

/// Longest delivery id accepted, in bytes. Provider ids are UUIDs or short tokens; a
/// longer one is refused rather than stored.
pub const MAX_DELIVERY_ID_LEN: usize = 256;

/// How a delivery the app already accepted is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDuplicate {
    /// `200 OK` with a JSON body saying it was a duplicate and was not forwarded: the
    /// provider stops retrying. The default.
    #[default]
    Acknowledge,
    /// `409 Conflict`: for providers or operators that want duplicates to show as
    /// failures. Most providers then retry until their schedule gives up.
    Conflict,
}

/// What to do with a request whose scheme carries no delivery id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMissingId {
    /// Forward it untracked. The default: the scheme may simply not carry one.
    #[default]
    Pass,
    /// Refuse it with `400`.
    Refuse,
}

/// What to do when the replay store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreError {
    /// Answer `503` with `Retry-After`: the provider retries later, nothing is lost and
    /// nothing is replayed. The default.
    #[default]
    Refuse,
    /// Forward untracked (and log): availability over replay protection.
    Pass,
}

/// How a request that [`ReplayPolicy::check`] lets go on is tracked (a refusal is the
/// `Err` beside it).
#[derive(Debug)]
pub enum Tracking {
    /// Forward without tracking (no delivery id, or the store is down and the policy
    /// passes).
    Untracked,
    /// Forward; the id is reserved and must be settled from the app's answer.
    Pending(PendingDelivery),
}

/// The replay guard of one route: its store, window and answers. Framework-free: the
/// tower service and the sidecar both call [`check`](Self::check).
pub struct ReplayPolicy {
    route: Arc<str>,
    store: Arc<dyn ReplayStore>,
    window: u64,
    tolerance: Option<u64>,
    lease: u64,
    on_duplicate: OnDuplicate,
    on_missing_id: OnMissingId,
    on_store_error: OnStoreError,
    /// The scheme's id headers, each of which must appear at most once.
    id_headers: Vec<http::HeaderName>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ReplayPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayPolicy")
            .field("route", &self.route)
            .field("store", &self.store.name())
            .field("window_secs", &self.window_secs())
            .field("lease_secs", &self.lease)
            .field("on_duplicate", &self.on_duplicate)
            .field("on_missing_id", &self.on_missing_id)
            .field("on_store_error", &self.on_store_error)
            .finish()
    }
}

impl ReplayPolicy {
    /// The guard of `route` with `store`, the 24 h window, the system clock.
    pub fn new(route: impl Into<Arc<str>>, store: impl ReplayStore) -> Self {
        Self::with_store(route, Arc::new(store))
    }

    /// Like [`new`](Self::new) with a store already shared behind an `Arc`.
    pub fn with_store(route: impl Into<Arc<str>>, store: Arc<dyn ReplayStore>) -> Self {
        Self {
            route: route.into(),
            store,
            window: DEFAULT_WINDOW.as_secs(),
            tolerance: None,
            lease: DEFAULT_LEASE.as_secs(),
            on_duplicate: OnDuplicate::default(),
            on_missing_id: OnMissingId::default(),
            on_store_error: OnStoreError::default(),
            id_headers: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// How long an accepted delivery id is remembered. Never shorter than twice the
    /// timestamp tolerance (see [`tolerance`](Self::tolerance)).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.as_secs();
        self
    }

    /// The route's timestamp tolerance in seconds, as given to signature verification.
    ///
    /// A signed timestamp `t` verifies while `|now - t| <= tolerance`, so a captured
    /// request can be replayed from `t - tolerance` to `t + tolerance`: the window is
    /// raised to at least `2 × tolerance` so no replay outlives its record.
    pub fn tolerance(mut self, tolerance: Option<u64>) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Shorthand for [`tolerance`](Self::tolerance) with `scheme`'s default tolerance and
    /// [`delivery_ids`](Self::delivery_ids) with its delivery id source.
    pub fn for_scheme(self, scheme: &dyn Scheme) -> Self {
        self.tolerance(scheme.default_tolerance())
            .delivery_ids(&scheme.delivery_id_source())
    }

    /// Where the scheme's delivery id travels. A request repeating one of its id headers is
    /// refused (`400 duplicate_header`: which copy would the app read?), and when every
    /// delivery carries an id, one without is refused (`400 missing_delivery_id`: else
    /// dropping the id would slip a replay past the guard). Set
    /// [`on_missing_id`](Self::on_missing_id) after this to decide otherwise.
    pub fn delivery_ids(mut self, source: &DeliveryIdSource) -> Self {
        self.id_headers = source.headers.clone();
        if source.always_sent {
            self.on_missing_id = OnMissingId::Refuse;
        }
        self
    }

    /// How long a reservation holds when its request is never settled.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.as_secs().max(1);
        self
    }

    /// How duplicates are answered.
    pub fn on_duplicate(mut self, answer: OnDuplicate) -> Self {
        self.on_duplicate = answer;
        self
    }

    /// What to do without a delivery id.
    pub fn on_missing_id(mut self, action: OnMissingId) -> Self {
        self.on_missing_id = action;
        self
    }

    /// What to do when the store is unreachable.
    pub fn on_store_error(mut self, action: OnStoreError) -> Self {
        self.on_store_error = action;
        self
    }

    /// Replaces the clock (tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The route's id.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The effective window in seconds: the configured one, raised to twice the
    /// tolerance.
    pub fn window_secs(&self) -> u64 {
        let floor = self.tolerance.map_or(0, |t| t.saturating_mul(2));
        self.window.max(floor)
    }

    /// Refuses a request that repeats a delivery id header: schemes read a repeated header
    /// as no id at all, which would let the request pass untracked.
    // `Rejection` is the one refusal type, built on the refusal path only (see `ip`).
    #[allow(clippy::result_large_err)]
    pub fn check_id_headers(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        for name in &self.id_headers {
            let count = headers.get_all(name).iter().count();
            if count > 1 {
                return Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    Reason::DuplicateHeader,
                    format!(
                        "the delivery id header {name} appears {count} times; the replay guard needs it once"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Decides whether a verified request may go on. `verified` is the extension
    /// signature verification left on the request; `None` means the guard is not behind
    /// verification, a wiring mistake that fails closed.
    pub async fn check(&self, verified: Option<&Verified>) -> Result<Tracking, Rejection> {
        let Some(verified) = verified else {
            return Err(Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Reason::NotVerified,
                "replay guard: no verification result on the request; place it after signature verification",
            ));
        };
        let Some(delivery_id) = verified.delivery_id.as_deref() else {
            return match self.on_missing_id {
                OnMissingId::Pass => Ok(Tracking::Untracked),
                OnMissingId::Refuse => Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    Reason::MissingDeliveryId,
                    match self.id_headers.as_slice() {
                        [] => format!(
                            "this route's replay guard requires a delivery id and scheme {} found none",
                            verified.scheme
                        ),
                        names => format!(
                            "this route's replay guard requires a delivery id: {} is missing or empty",
                            names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(" or ")
                        ),
                    },
                )),
            };
        };
        if delivery_id.len() > MAX_DELIVERY_ID_LEN {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                Reason::MalformedHeader,
                format!("delivery id longer than {MAX_DELIVERY_ID_LEN} bytes"),
            ));
        }
        let key = ReplayKey::new(Arc::clone(&self.route), delivery_id);
        let now = self.clock.now_unix();
        let lease_until = now.saturating_add(self.lease as i64);
        match self.store.reserve(&key, now, lease_until).await {
            Ok(Reservation::Reserved(token)) => Ok(Tracking::Pending(PendingDelivery::new(
                Arc::clone(&self.store),
                key,
                token,
                self.window_secs(),
                Arc::clone(&self.clock),
            ))),
            Ok(Reservation::Accepted { .. }) => Err(self.duplicate()),
            Ok(Reservation::InFlight) => Err(in_flight()),
            Err(e) => match self.store_failed(&e) {
                Some(rejection) => Err(rejection),
                None => Ok(Tracking::Untracked),
            },
        }
    }

    fn duplicate(&self) -> Rejection {
        let status = match self.on_duplicate {
            OnDuplicate::Acknowledge => StatusCode::OK,
            OnDuplicate::Conflict => StatusCode::CONFLICT,
        };
        Rejection::new(
            status,
            Reason::Duplicate,
            "duplicate delivery: the app already accepted it; not forwarded again",
        )
    }

    /// The refusal for an unreachable store, or `None` to forward untracked.
    fn store_failed(&self, error: &StoreError) -> Option<Rejection> {
        match self.on_store_error {
            OnStoreError::Pass => {
                tracing::warn!(route = %self.route, %error, "replay store unavailable; forwarding untracked");
                None
            }
            OnStoreError::Refuse => {
                tracing::warn!(route = %self.route, %error, "replay store unavailable; refusing");
                let mut rejection = Rejection::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Reason::ReplayStoreUnavailable,
                    "replay protection is unavailable; retry later",
                );
                rejection
                    .headers
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                Some(rejection)
            }
        }
    }
}

fn in_flight() -> Rejection {
    // Not 200: the first attempt may still fail, and its retry must then be admitted.
    let mut rejection = Rejection::new(
        StatusCode::CONFLICT,
        Reason::DuplicateInFlight,
        "this delivery is being handled right now; retry later",
    );
    rejection
        .headers
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    rejection
}

/// A reserved delivery id, waiting for the app's answer.
///
/// [`commit`](Self::commit) once the app accepted it (2xx), [`release`](Self::release)
/// otherwise. Clones share one reservation, settled once; when the last clone is dropped
/// unsettled (the request was cancelled or timed out), the id is released in the
/// background so the provider's retry is admitted.
///
/// The sidecar receives it in the extensions of the forwarded request and settles it once
/// the upstream has answered.
#[derive(Clone)]
pub struct PendingDelivery(Arc<PendingInner>);

struct PendingInner {
    store: Arc<dyn ReplayStore>,
    key: ReplayKey,
    token: ReservationToken,
    window: u64,
    clock: Arc<dyn Clock>,
    settled: AtomicBool,
}

impl fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("key", &self.0.key)
            .field("settled", &self.0.settled.load(Ordering::Relaxed))
            .finish()
    }
}

impl PendingDelivery {
    fn new(
        store: Arc<dyn ReplayStore>,
        key: ReplayKey,
        token: ReservationToken,
        window: u64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self(Arc::new(PendingInner {
            store,
            key,
            token,
            window,
            clock,
            settled: AtomicBool::new(false),
        }))
    }

    /// The route's id.
    pub fn route(&self) -> &str {
        &self.0.key.route
    }

    /// The provider's delivery id.
    pub fn delivery_id(&self) -> &str {
        &self.0.key.delivery_id
    }

    /// Whether it was committed or released already.
    pub fn is_settled(&self) -> bool {
        self.0.settled.load(Ordering::Acquire)
    }

    /// The app accepted the delivery: later requests with this id are duplicates for the
    /// window. Only the first settle of a reservation has an effect.
    pub async fn commit(&self) -> Result<(), StoreError> {
        if self.0.settled.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let now = self.0.clock.now_unix();
        let until = now.saturating_add(self.0.window as i64);
        let result = self
            .0
            .store
            .commit(&self.0.key, self.0.token, now, until)
            .await;
        if let Err(error) = &result {
            // The app has the delivery; a missed record only lets a replay through.
            tracing::warn!(route = %self.0.key.route, %error, "replay store: could not record an accepted delivery");
        }
        result
    }

    /// The app did not accept the delivery: free the id so the provider's retry passes.
    /// Only the first settle of a reservation has an effect.
    pub async fn release(&self) -> Result<(), StoreError> {
        if self.0.settled.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.0.store.release(&self.0.key, self.0.token).await;
        if let Err(error) = &result {
            // The lease still frees the id when it ends.
            tracing::warn!(route = %self.0.key.route, %error, "replay store: could not release a delivery");
        }
        result
    }
}

impl Drop for PendingInner {
    fn drop(&mut self) {
        if *self.settled.get_mut() {
            return;
        }
        let store = Arc::clone(&self.store);
        let key = self.key.clone();
        let token = self.token;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let _ = store.release(&key, token).await;
                });
            }
            // Outside a runtime only a store that acts when called (the in-memory one)
            // is released here; any other reservation ends with its lease.
            Err(_) => drop(store.release(&key, token)),
        }
    }
}
