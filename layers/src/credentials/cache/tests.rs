use std::sync::atomic::AtomicUsize;
use std::sync::Mutex as StdMutex;

use http::{HeaderMap, Method, Uri};
use tokio::sync::Semaphore;

use super::*;
use crate::clock::FixedClock;
use crate::credentials::stats::SourceState;
use crate::credentials::{FetchProblem, SecretEntry, SecretSet, SourceError};
use crate::verify::{schemes, KeySource, Verifier, VerifyError};

const T0: i64 = 1_700_000_000;
const DAY: i64 = 86_400;
// GitHub docs, "Validating webhook deliveries": secret "It's a Secret to Everybody",
// payload "Hello, World!" (the same vector as verify/schemes/github.rs).
const DOCS_SECRET: &str = "It's a Secret to Everybody";
const DOCS_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// A source the test scripts: what the next fetch returns, whether it waits for a
/// permit, and what revision it reports.
#[derive(Clone)]
struct Scripted(Arc<ScriptedState>);

struct ScriptedState {
    answer: StdMutex<Result<SecretSet, String>>,
    fetches: AtomicUsize,
    permits: Semaphore,
    hang: std::sync::atomic::AtomicBool,
}

impl Scripted {
    fn new(set: SecretSet) -> Self {
        Self(Arc::new(ScriptedState {
            answer: StdMutex::new(Ok(set)),
            fetches: AtomicUsize::new(0),
            permits: Semaphore::new(Semaphore::MAX_PERMITS),
            hang: false.into(),
        }))
    }
    fn answer(&self, answer: Result<SecretSet, &str>) {
        *self.0.answer.lock().unwrap() = answer.map_err(str::to_owned);
    }
    fn fetches(&self) -> usize {
        self.0.fetches.load(Ordering::SeqCst)
    }
    fn hang(&self) {
        self.0.hang.store(true, Ordering::SeqCst);
    }
    /// Fetches wait until `release` is called.
    fn hold(&self) {
        let held = self.0.permits.available_permits();
        self.0.permits.forget_permits(held);
    }
    fn release(&self) {
        self.0.permits.add_permits(Semaphore::MAX_PERMITS);
    }
}

impl CredentialSource for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn fetch<'a>(&'a self, _route: &'a str) -> super::super::FetchFuture<'a> {
        Box::pin(async move {
            self.0.fetches.fetch_add(1, Ordering::SeqCst);
            if self.0.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            drop(self.0.permits.acquire().await);
            self.0
                .answer
                .lock()
                .unwrap()
                .clone()
                .map_err(|problem| SourceError::Request {
                    url: "test://store".into(),
                    problem,
                })
        })
    }
}

/// A set whose primary secret has id `version`, so tests can tell sets apart.
fn set(version: &str) -> SecretSet {
    SecretSet::new().with(SecretEntry::new(version, DOCS_SECRET))
}

fn version_of(keys: &RouteKeys) -> Arc<str> {
    Arc::clone(&keys.keyring().unwrap().entries()[0].id)
}

fn cache(clock: &FixedClock) -> CachedCredentials {
    CachedCredentials::builder()
        .ttl(Duration::from_secs(300))
        .refresh_ahead(Duration::from_secs(60))
        .max_stale(Some(Duration::from_secs(3600)))
        .retry_after(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
}

async fn load(cache: &CachedCredentials, source: &Scripted) -> RouteKeys {
    let scheme = schemes::by_name("github").unwrap();
    cache
        .load("github", scheme, Arc::new(source.clone()))
        .await
        .unwrap()
}

#[tokio::test]
async fn cache_hit_serves_the_same_parsed_keyring_without_fetching() {
    let clock = FixedClock::new(T0);
    let (cache, source) = (cache(&clock), Scripted::new(set("v1")));
    let keys = load(&cache, &source).await;
    let first = keys.keyring().unwrap();
    let second = keys.keyring().unwrap();
    assert!(Arc::ptr_eq(&first, &second), "keyring parsed again");
    assert_eq!(source.fetches(), 1);
    let stats = cache.stats();
    assert_eq!(stats.requests.fresh, 2);
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.routes[0].fetched_at, Some(T0));
    assert_eq!(stats.routes[0].expires_at, Some(T0 + 300));
}

#[tokio::test]
async fn cached_keys_verify_a_request() {
    let clock = FixedClock::new(T0);
    let (cache, source) = (cache(&clock), Scripted::new(set("primary")));
    let keys = load(&cache, &source).await;
    let verifier = Verifier::new(schemes::by_name("github").unwrap(), keys);
    let mut headers = HeaderMap::new();
    headers.insert("x-hub-signature-256", DOCS_SIGNATURE.parse().unwrap());
    let verified = verifier
        .verify(
            &Method::POST,
            &Uri::from_static("/hook"),
            &headers,
            b"Hello, World!",
        )
        .unwrap();
    assert_eq!(&*verified.secret_id, "primary");
}

#[tokio::test]
async fn first_lookup_before_any_fetch_fails_closed_and_starts_one() {
    let clock = FixedClock::new(T0);
    let (cache, source) = (cache(&clock), Scripted::new(set("v1")));
    let keys = cache.route(
        "github",
        schemes::by_name("github").unwrap(),
        Arc::new(source.clone()),
    );
    assert!(matches!(keys.keyring(), Err(VerifyError::NoSecret)));
    keys.settled().await;
    assert_eq!(&*version_of(&keys), "v1");
    assert_eq!(source.fetches(), 1);
    assert_eq!(cache.stats().requests.missing, 1);
}

#[tokio::test]
async fn refresh_starts_ahead_of_expiry_once_and_keeps_serving_meanwhile() {
    let clock = FixedClock::new(T0);
    let (cache, source) = (cache(&clock), Scripted::new(set("v1")));
    let keys = load(&cache, &source).await;
    source.answer(Ok(set("v2")));

    clock.advance(239);
    assert_eq!(&*version_of(&keys), "v1");
    assert_eq!(source.fetches(), 1, "refreshed before the margin");

    clock.advance(1);
    source.hold();
    for _ in 0..10 {
        assert_eq!(&*version_of(&keys), "v1");
    }
    tokio::task::yield_now().await;
    source.release();
    keys.settled().await;
    assert_eq!(source.fetches(), 2, "one refresh for many lookups");
    assert_eq!(&*version_of(&keys), "v2");
    assert_eq!(cache.stats().requests.stale, 0);
}

#[tokio::test]
async fn failed_refresh_keeps_the_last_keys_until_the_stale_limit() {
    let clock = FixedClock::new(T0);
    let (cache, source) = (cache(&clock), Scripted::new(set("v1")));
    let keys = load(&cache, &source).await;
    source.answer(Err("connection refused"));

    clock.advance(300);
    assert_eq!(&*version_of(&keys), "v1");
    keys.settled().await;
    assert_eq!(source.fetches(), 2);
    let stats = cache.stats();
    assert_eq!((stats.requests.stale, stats.stale_fallbacks), (1, 1));
    assert_eq!(stats.refresh_failures, 1);
    let health = &stats.sources[0];
    assert_eq!(
        (health.name.as_str(), health.state),
        ("scripted", SourceState::Down)
    );
    assert_eq!(health.last_failure, Some(T0 + 300));
    assert_eq!(
        health.last_error.as_deref(),
        Some("test://store: connection refused")
    );

    // Not retried before `retry_after`…
    clock.advance(4);
    keys.keyring().unwrap();
    keys.settled().await;
    assert_eq!(source.fetches(), 2);
    // …then retried.
    clock.advance(1);
    keys.keyring().unwrap();
    keys.settled().await;
    assert_eq!(source.fetches(), 3);

    // Past the stale limit, requests fail closed.
    clock.set(T0 + 300 + 3600);
    assert!(keys.keyring().is_ok());
    clock.advance(1);
    assert!(matches!(keys.keyring(), Err(VerifyError::NoSecret)));
    keys.settled().await;

    // The source recovers.
    source.answer(Ok(set("v2")));
    clock.advance(5);
    let _ = keys.keyring();
    keys.settled().await;
    assert_eq!(&*version_of(&keys), "v2");
    assert_eq!(cache.stats().sources[0].state, SourceState::Up);
}

#[tokio::test(start_paused = true)]
async fn hanging_source_times_out_and_the_old_keys_stay() {
    let clock = FixedClock::new(T0);
    let cache = CachedCredentials::builder()
        .fetch_timeout(Duration::from_secs(2))
        .clock(clock.clone())
        .build();
    let source = Scripted::new(set("v1"));
    let keys = load(&cache, &source).await;
    source.hang();
    let error = keys.reload().await.unwrap_err();
    assert!(matches!(error.problem, FetchProblem::Timeout(_)), "{error}");
    assert_eq!(
        error.to_string(),
        "route github: secret source scripted: no answer within 2s"
    );
    assert_eq!(cache.stats().timeouts, 1);
    assert_eq!(&*version_of(&keys), "v1");
}

#[tokio::test]
async fn invalidation_refetches_and_serves_the_old_keys_until_then() {
    let clock = FixedClock::new(T0);
    let (cache, source) = (cache(&clock), Scripted::new(set("v1")));
    let keys = load(&cache, &source).await;
    source.answer(Ok(set("v2")));
    cache.invalidate("github");
    // The refetch has not run yet: the old keys answer, as stale.
    assert_eq!(&*version_of(&keys), "v1");
    keys.settled().await;
    assert_eq!(&*version_of(&keys), "v2");

    source.answer(Ok(set("v3")));
    cache.invalidate_all();
    keys.settled().await;
    assert_eq!(&*version_of(&keys), "v3");
    assert_eq!(source.fetches(), 3);
}

#[tokio::test]
async fn invalidation_during_a_fetch_triggers_another() {
    let clock = FixedClock::new(T0);
    let (cache, source) = (cache(&clock), Scripted::new(set("v1")));
    let keys = load(&cache, &source).await;
    source.hold();
    let reload = tokio::spawn({
        let keys = keys.clone();
        async move { keys.reload().await }
    });
    while source.fetches() < 2 {
        tokio::task::yield_now().await;
    }
    // The secret changes while the fetch is under way; it may have read the old one.
    keys.invalidate();
    source.release();
    reload.await.unwrap().unwrap();
    keys.settled().await;
    assert_eq!(source.fetches(), 3);
}

#[tokio::test]
async fn rotation_counters_follow_each_secret_across_refreshes() {
    let clock = FixedClock::new(T0);
    let rotating = SecretSet::primary(DOCS_SECRET).with_next("the-next-secret");
    let (cache, source) = (cache(&clock), Scripted::new(rotating));
    let keys = load(&cache, &source).await;
    clock.advance(10);
    cache.record_match("github", "next");
    cache.record_match("github", "next");
    assert!(keys.record_match("primary"));
    assert!(!keys.record_match("retired"));
    cache.record_match("gitlab", "primary");
    keys.reload().await.unwrap();

    let route = &cache.stats().routes[0];
    let seen: Vec<(&str, usize, u64, Option<i64>)> = route
        .secrets
        .iter()
        .map(|s| (&*s.id, s.position, s.matches, s.last_match))
        .collect();
    assert_eq!(
        seen,
        [
            ("primary", 0, 1, Some(T0 + 10)),
            ("next", 1, 2, Some(T0 + 10)),
        ]
    );
}

#[tokio::test]
async fn secret_older_than_the_maximum_age_warns_once_per_version() {
    let clock = FixedClock::new(T0);
    let cache = CachedCredentials::builder()
        .max_secret_age(Duration::from_secs(90 * DAY as u64))
        .clock(clock.clone())
        .build();
    let aged = |rotated_at| {
        SecretSet::new()
            .with(SecretEntry::new("primary", DOCS_SECRET).rotated_at(rotated_at))
            .with(SecretEntry::new("next", "fresh-secret").rotated_at(T0 - DAY))
    };
    let source = Scripted::new(aged(T0 - 100 * DAY));
    let keys = load(&cache, &source).await;
    keys.reload().await.unwrap();
    let stats = cache.stats();
    assert_eq!(stats.old_secret_warnings, 1);
    let too_old: Vec<bool> = stats.routes[0].secrets.iter().map(|s| s.too_old).collect();
    assert_eq!(too_old, [true, false]);

    // Re-written but still old: a new version, a new warning.
    source.answer(Ok(aged(T0 - 95 * DAY)));
    keys.reload().await.unwrap();
    assert_eq!(cache.stats().old_secret_warnings, 2);
    source.answer(Ok(aged(T0)));
    keys.reload().await.unwrap();
    assert_eq!(cache.stats().old_secret_warnings, 2);
}

#[tokio::test]
async fn a_secret_s_own_maximum_age_overrides_the_cache_s() {
    let clock = FixedClock::new(T0);
    // No cache-wide maximum: only the secrets' own.
    let cache = CachedCredentials::builder().clock(clock.clone()).build();
    let source = Scripted::new(
        SecretSet::new()
            .with(
                SecretEntry::new("primary", DOCS_SECRET)
                    .rotated_at(T0 - 100 * DAY)
                    .max_age(Duration::from_secs(90 * DAY as u64)),
            )
            .with(
                SecretEntry::new("next", "fresh-secret")
                    .rotated_at(T0 - 100 * DAY)
                    .max_age(Duration::from_secs(365 * DAY as u64)),
            )
            .with(SecretEntry::new("other", "no-policy").rotated_at(T0 - 1000 * DAY)),
    );
    load(&cache, &source).await;
    let stats = cache.stats();
    let too_old: Vec<bool> = stats.routes[0].secrets.iter().map(|s| s.too_old).collect();
    assert_eq!(too_old, [true, false, false]);
    assert_eq!(stats.old_secret_warnings, 1);
}

#[tokio::test]
async fn unusable_or_empty_secrets_are_errors_that_name_the_secret() {
    let clock = FixedClock::new(T0);
    let cache = cache(&clock);
    let scheme = schemes::by_name("standard-webhooks").unwrap();
    let bad = Scripted::new(
        SecretSet::primary("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").with_next("whsec_!!!"),
    );
    let error = cache
        .load("svix", scheme.clone(), Arc::new(bad))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("route svix: secret source scripted: secret next: secret 1:"),
        "{error}"
    );
    assert!(!error.contains("!!!"), "{error}");

    let empty = Scripted::new(SecretSet::new());
    let error = cache
        .load("empty", scheme, Arc::new(empty))
        .await
        .unwrap_err();
    assert!(matches!(error.problem, FetchProblem::Empty));
}

#[tokio::test]
async fn refresher_pass_refreshes_due_routes_only() {
    let clock = FixedClock::new(T0);
    let (cache, source) = (cache(&clock), Scripted::new(set("v1")));
    let keys = load(&cache, &source).await;
    cache.maintain().await;
    assert_eq!(source.fetches(), 1);
    source.answer(Ok(set("v2")));
    clock.advance(240);
    cache.maintain().await;
    assert_eq!(source.fetches(), 2);
    assert_eq!(&*version_of(&keys), "v2");
}

#[tokio::test]
async fn changed_file_is_picked_up_by_the_refresher_before_the_ttl() {
    use crate::credentials::{FileSource, SecretRef};

    let dir = std::env::temp_dir().join(format!("hookguard-cache-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("primary"), DOCS_SECRET).unwrap();
    let source = FileSource::new().base_dir(&dir).route(
        "github",
        [SecretRef::primary("primary"), SecretRef::next("next")],
    );
    let clock = FixedClock::new(T0);
    let cache = cache(&clock);
    let keys = cache
        .load(
            "github",
            schemes::by_name("github").unwrap(),
            Arc::new(source),
        )
        .await
        .unwrap();
    assert_eq!(keys.keyring().unwrap().len(), 1);

    cache.maintain().await;
    assert_eq!(cache.stats().refreshes, 1, "unchanged file refetched");
    std::fs::write(dir.join("next"), "the-next-secret").unwrap();
    cache.maintain().await;
    assert_eq!(cache.stats().refreshes, 2);
    assert_eq!(keys.keyring().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn closures_are_sources() {
    let clock = FixedClock::new(T0);
    let cache = cache(&clock);
    let source = |route: &str| {
        let route = route.to_owned();
        async move { Ok(SecretSet::new().with(SecretEntry::new(route, DOCS_SECRET))) }
    };
    let keys = cache
        .load(
            "github",
            schemes::by_name("github").unwrap(),
            Arc::new(source),
        )
        .await
        .unwrap();
    assert_eq!(&*version_of(&keys), "github");
    assert_eq!(cache.stats().sources[0].name, "fn");
}

#[tokio::test(start_paused = true)]
async fn spawned_refresher_runs_passes_until_dropped() {
    let clock = FixedClock::new(T0);
    let (cache, source) = (cache(&clock), Scripted::new(set("v1")));
    let keys = load(&cache, &source).await;
    source.answer(Ok(set("v2")));
    clock.advance(240);
    let refresher = cache.spawn_refresher(Duration::from_secs(10));
    while source.fetches() < 2 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    keys.settled().await;
    assert_eq!(&*version_of(&keys), "v2");
    drop(refresher);
    clock.advance(300);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(source.fetches(), 2, "refresher still running after drop");
}

#[test]
fn debug_output_names_routes_not_secrets() {
    let cache = CachedCredentials::new();
    let source =
        crate::credentials::InlineSource::new().route("github", SecretSet::primary("hunter2"));
    let keys = cache.route(
        "github",
        schemes::by_name("github").unwrap(),
        Arc::new(source),
    );
    let printed = format!("{cache:?} {keys:?}");
    assert!(
        printed.contains("github") && !printed.contains("hunter2"),
        "{printed}"
    );
}
