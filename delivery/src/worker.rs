//! The [`Engine`]: one tokio task per destination takes due messages from the store,
//! sends them, and settles each one.
//!
//! Design constraints, in the order they win:
//! - **The store is the only queue.** A retry is a `Retry { at }` settlement; nothing
//!   waits in a sleeping task, so a restart loses no schedule. Loops find due messages by
//!   polling (every 200 ms by default) and are woken at once by [`Engine::notify`] after
//!   an enqueue.
//! - **At least once.** A message is settled only after its attempt; if the process dies
//!   first, its lease runs out and it is claimed again.
//! - **A failing destination holds back only itself.** Each destination has its own loop,
//!   concurrency bound and [`Breaker`]; while the breaker is open the loop claims
//!   nothing, so waiting messages burn no attempts. Ordering lanes are the store's
//!   (`claim` never hands out a message behind a pending one of the same key).
//! - **Nothing panics on data.** A payload the [`Sealer`] cannot open is dead-lettered as
//!   [`DeadCode::Undecodable`]; a store error is logged and retried with backoff.
//! - **Reloads do not lose messages.** A destination missing from the policies is simply
//!   not worked: its messages wait until it comes back (the engine never uses
//!   [`DeadCode::NoDestination`]; an operator's tool may, for destinations removed for
//!   good).
//!
//! ```
//! use std::{collections::HashMap, sync::Arc};
//! use hookguard_delivery::{
//!     DestinationPolicy, Engine, HttpTransport, MemoryQueueStore, Sealer,
//! };
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryQueueStore::new());
//! let transport = Arc::new(HttpTransport::to_base("http://127.0.0.1:3000")?.attempt_header(true));
//! let engine = Engine::new(store, Sealer::plain(), transport);
//! engine.set_destinations(HashMap::from([("github".to_owned(), DestinationPolicy::default())]));
//! // … after each enqueue for "github":
//! engine.notify("github");
//! engine.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};

use crate::breaker::{Breaker, BreakerState, Permit};
use crate::clock::{Clock, SystemClock};
use crate::message::{Attempt, DeadCode, DeadReason, Message, MessageId, Settlement};
use crate::observer::{NoopObserver, Observer};
use crate::policy::DestinationPolicy;
use crate::schedule::{describe, verdict, Decision, Verdict};
use crate::seal::Sealer;
use crate::store::QueueStore;
use crate::transport::Transport;

/// How often a loop looks for due messages when nothing wakes it.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Delivers queued messages; see the module docs.
pub struct Engine {
    ctx: Ctx,
    destinations: Mutex<HashMap<String, Running>>,
    /// Loops of removed destinations, finishing their attempts.
    retired: Mutex<Vec<JoinHandle<()>>>,
    stopped: AtomicBool,
}

/// What every loop and attempt shares.
#[derive(Clone)]
struct Ctx {
    store: Arc<dyn QueueStore>,
    sealer: Arc<Sealer>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer>,
    poll_interval: Duration,
}

/// A destination's running loop, as the engine holds it.
struct Running {
    policy: watch::Sender<DestinationPolicy>,
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    breaker: Arc<SharedBreaker>,
    task: JoinHandle<()>,
}

impl Engine {
    /// An engine with no destinations yet ([`Engine::set_destinations`] starts them).
    pub fn new(store: Arc<dyn QueueStore>, sealer: Sealer, transport: Arc<dyn Transport>) -> Self {
        Self {
            ctx: Ctx {
                store,
                sealer: Arc::new(sealer),
                transport,
                clock: Arc::new(SystemClock),
                observer: Arc::new(NoopObserver),
                poll_interval: DEFAULT_POLL_INTERVAL,
            },
            destinations: Mutex::default(),
            retired: Mutex::default(),
            stopped: AtomicBool::new(false),
        }
    }

    /// Uses `clock` for every timestamp (set before [`Engine::set_destinations`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.ctx.clock = clock;
        self
    }

    /// Reports to `observer` (set before [`Engine::set_destinations`]).
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.ctx.observer = observer;
        self
    }

    /// How often loops look for due messages unwoken (default 200 ms).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.ctx.poll_interval = every.max(Duration::from_millis(1));
        self
    }

    /// Makes `policies` the destinations worked: starts a loop for each new one, hands
    /// the new policy to those that stay (their breaker state is kept), and stops those
    /// missing (their attempts under way finish; their messages wait in the store).
    ///
    /// Must be called within a tokio runtime.
    pub fn set_destinations(&self, policies: HashMap<String, DestinationPolicy>) {
        if self.stopped.load(Ordering::SeqCst) {
            tracing::warn!("delivery engine is shut down: destinations not started");
            return;
        }
        let mut destinations = lock(&self.destinations);
        let mut retired = lock(&self.retired);
        retired.retain(|task| !task.is_finished());
        for (name, running) in destinations.extract_if(|name, _| !policies.contains_key(name)) {
            tracing::info!(destination = %name, "delivery stopped: destination removed");
            running.stop.send_replace(true);
            retired.push(running.task);
        }
        for (name, policy) in policies {
            match destinations.get(&name) {
                Some(running) => {
                    running.breaker.set_config(policy.breaker.clone());
                    running.policy.send_if_modified(|current| {
                        let changed = *current != policy;
                        *current = policy;
                        changed
                    });
                }
                None => {
                    let running = self.start(&name, policy);
                    destinations.insert(name, running);
                }
            }
        }
    }

    fn start(&self, name: &str, policy: DestinationPolicy) -> Running {
        let breaker = Arc::new(SharedBreaker {
            destination: name.to_owned(),
            inner: Mutex::new((Breaker::new(policy.breaker.clone()), BreakerState::Closed)),
            observer: Arc::clone(&self.ctx.observer),
        });
        let (policy_tx, policy_rx) = watch::channel(policy);
        let (stop_tx, stop_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let destination = Destination {
            ctx: self.ctx.clone(),
            name: name.into(),
            breaker: Arc::clone(&breaker),
        };
        let task = tokio::spawn(destination.run(policy_rx, stop_rx, Arc::clone(&wake)));
        tracing::info!(destination = %name, "delivery started");
        Running {
            policy: policy_tx,
            stop: stop_tx,
            wake,
            breaker,
            task,
        }
    }

    /// Wakes `destination`'s loop now (call after an enqueue, for low latency). Unknown
    /// destinations are ignored.
    pub fn notify(&self, destination: &str) {
        if let Some(running) = lock(&self.destinations).get(destination) {
            running.wake.notify_one();
        }
    }

    /// Every worked destination's breaker state, sorted by destination.
    pub fn breaker_states(&self) -> Vec<(String, BreakerState)> {
        let now = self.ctx.clock.now();
        let mut states: Vec<_> = lock(&self.destinations)
            .iter()
            .map(|(name, running)| (name.clone(), running.breaker.state(now)))
            .collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        states
    }

    /// Stops claiming and waits for the attempts under way to be settled. Drop the future
    /// (e.g. at the end of a grace period) to stop waiting: messages still in flight are
    /// claimed again after their lease.
    pub async fn shutdown(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let mut tasks: Vec<JoinHandle<()>> = lock(&self.retired).drain(..).collect();
        for (_, running) in lock(&self.destinations).drain() {
            running.stop.send_replace(true);
            tasks.push(running.task);
        }
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "delivery loop ended abnormally");
            }
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = lock(&self.destinations).keys().cloned().collect();
        f.debug_struct("Engine")
            .field("destinations", &names)
            .field("poll_interval", &self.ctx.poll_interval)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A destination's breaker, shared by its loop and attempts; reports each change.
struct SharedBreaker {
    destination: String,
    /// The breaker, and the state last told to the observer.
    inner: Mutex<(Breaker, BreakerState)>,
    observer: Arc<dyn Observer>,
}

impl SharedBreaker {
    fn state(&self, now: crate::Timestamp) -> BreakerState {
        lock(&self.inner).0.state(now)
    }

    fn set_config(&self, config: crate::BreakerConfig) {
        lock(&self.inner).0.set_config(config);
    }

    fn open_until(&self) -> Option<crate::Timestamp> {
        lock(&self.inner).0.open_until()
    }

    fn still_admits(&self, permit: Permit) -> bool {
        lock(&self.inner).0.still_admits(permit)
    }

    /// Runs `f` on the breaker and reports a change of state since the last report
    /// (including an open breaker whose cool-down ran out).
    fn with<R>(&self, now: crate::Timestamp, f: impl FnOnce(&mut Breaker) -> R) -> R {
        let mut inner = lock(&self.inner);
        let (breaker, reported) = &mut *inner;
        let result = f(breaker);
        let state = breaker.state(now);
        if *reported != state {
            *reported = state;
            // Reported under the lock, so a gauge never ends on a stale state.
            tracing::info!(destination = %self.destination, state = state.as_str(), "delivery breaker");
            self.observer.breaker(&self.destination, state);
        }
        result
    }
}

/// One destination's loop and what its attempts need.
#[derive(Clone)]
struct Destination {
    ctx: Ctx,
    name: Arc<str>,
    breaker: Arc<SharedBreaker>,
}

impl Destination {
    async fn run(
        self,
        mut policy: watch::Receiver<DestinationPolicy>,
        mut stop: watch::Receiver<bool>,
        wake: Arc<Notify>,
    ) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut store_backoff = Backoff::default();
        while !*stop.borrow() {
            while let Some(done) = in_flight.try_join_next() {
                self.reaped(done);
            }
            let current = policy.borrow_and_update().clone();
            let room = current.concurrency.max(1).saturating_sub(in_flight.len());
            let mut wait = self.ctx.poll_interval;
            let mut store_failing = false;
            if room > 0 {
                let now = self.ctx.clock.now();
                match self.breaker.with(now, |b| b.admit(now)) {
                    Some(permit) => {
                        let limit = if permit.is_probe() { 1 } else { room };
                        match self
                            .ctx
                            .store
                            .claim(&self.name, now, limit, current.lease)
                            .await
                        {
                            Ok(messages) => {
                                store_backoff = Backoff::default();
                                if messages.is_empty() {
                                    self.breaker.with(now, |b| b.cancel(permit));
                                }
                                for message in messages {
                                    let this = self.clone();
                                    let policy = current.clone();
                                    in_flight.spawn(this.attempt(policy, message, permit));
                                }
                            }
                            Err(e) => {
                                self.breaker.with(now, |b| b.cancel(permit));
                                tracing::warn!(destination = %self.name, error = %e, "delivery: claiming failed; retrying");
                                store_failing = true;
                                wait = store_backoff.next();
                            }
                        }
                    }
                    None => {
                        let until = self.breaker.open_until();
                        if let Some(until) = until {
                            wait = wait.min(until.since(now));
                        }
                    }
                }
            }
            tokio::select! {
                // While the store fails, enqueues do not cut the backoff short.
                _ = wake.notified(), if !store_failing => {}
                Some(done) = in_flight.join_next() => self.reaped(done),
                _ = tokio::time::sleep(wait) => {}
                changed = stop.changed() => if changed.is_err() { break },
                changed = policy.changed() => if changed.is_err() { break },
            }
        }
        // Stopped: no more claims; let what is under way finish and settle.
        while let Some(done) = in_flight.join_next().await {
            self.reaped(done);
        }
    }

    fn reaped(&self, done: Result<(), tokio::task::JoinError>) {
        if let Err(e) = done {
            tracing::error!(destination = %self.name, error = %e, "delivery attempt task failed");
        }
    }

    /// Opens, sends and settles one claimed message.
    async fn attempt(self, policy: DestinationPolicy, message: Message, permit: Permit) {
        let Ctx {
            sealer,
            transport,
            clock,
            observer,
            ..
        } = &self.ctx;
        let direction = message.direction;
        let request = match sealer.open(&message.payload) {
            Ok(request) => request,
            Err(e) => {
                let now = clock.now();
                self.breaker.with(now, |b| b.cancel(permit));
                tracing::warn!(destination = %self.name, id = %message.id, error = %e, "delivery: payload cannot be opened; dead-lettered");
                let reason = DeadReason {
                    code: DeadCode::Undecodable,
                    detail: e.to_string(),
                };
                let settlement = Settlement::Dead {
                    attempt: None,
                    reason,
                };
                if self.settle(&message.id, settlement, &policy).await {
                    observer.dead_lettered(&self.name, direction, DeadCode::Undecodable);
                }
                return;
            }
        };
        if !self.breaker.still_admits(permit) {
            // The breaker opened while this one was being claimed: wait, unburned.
            let at = self.breaker.open_until().unwrap_or_else(|| clock.now());
            self.settle(&message.id, Settlement::Defer { at }, &policy)
                .await;
            return;
        }

        let number = message.attempts.len() as u32 + 1;
        let started_at = clock.now();
        let started = tokio::time::Instant::now();
        let outcome = transport
            .send(&message, &request, number, policy.timeout)
            .await;
        let duration = started.elapsed();
        observer.attempt(&self.name, direction, &outcome, duration);
        let now = clock.now();
        let failed = verdict(&outcome) == Verdict::Retryable;
        self.breaker.with(now, |b| b.record(permit, now, failed));
        tracing::debug!(destination = %self.name, id = %message.id, attempt = number, outcome = %describe(&outcome), "delivery attempt");

        let decision = policy
            .schedule
            .decide(&outcome, number, policy.max_retries, now);
        let attempt = Attempt {
            at: started_at,
            duration_ms: duration.as_millis() as u64,
            outcome,
        };
        let settlement = match &decision {
            Decision::Delivered => Settlement::Delivered(attempt),
            Decision::Retry { at, .. } => Settlement::Retry { attempt, at: *at },
            Decision::Dead(reason) => {
                tracing::info!(destination = %self.name, id = %message.id, reason = reason.code.as_str(), detail = %reason.detail, "delivery: dead-lettered");
                Settlement::Dead {
                    attempt: Some(attempt),
                    reason: reason.clone(),
                }
            }
        };
        if !self.settle(&message.id, settlement, &policy).await {
            return;
        }
        match decision {
            Decision::Delivered => {
                let lag = now.since(message.meta.received_at);
                observer.delivered(&self.name, direction, lag);
            }
            Decision::Retry { delay, .. } => observer.retry_scheduled(&self.name, direction, delay),
            Decision::Dead(reason) => observer.dead_lettered(&self.name, direction, reason.code),
        }
    }

    /// Settles with retries while the lease lasts; `true` when the store applied it.
    /// Past the lease the message is claimable again anyway, so it is left to that.
    async fn settle(
        &self,
        id: &MessageId,
        settlement: Settlement,
        policy: &DestinationPolicy,
    ) -> bool {
        let give_up = tokio::time::Instant::now() + policy.lease;
        let mut backoff = Backoff::default();
        loop {
            match self
                .ctx
                .store
                .settle(id, settlement.clone(), self.ctx.clock.now())
                .await
            {
                Ok(applied) => return applied,
                Err(e) if tokio::time::Instant::now() + backoff.peek() < give_up => {
                    tracing::warn!(destination = %self.name, %id, error = %e, "delivery: settling failed; retrying");
                    tokio::time::sleep(backoff.next()).await;
                }
                Err(e) => {
                    tracing::error!(destination = %self.name, %id, error = %e, "delivery: settling failed; left for the lease to expire");
                    return false;
                }
            }
        }
    }
}

/// Doubling waits after store errors: 100 ms up to 5 s.
#[derive(Debug)]
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    fn peek(&self) -> Duration {
        self.0
    }

    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        wait
    }
}
