//! Subscriptions as the outbound side uses them: from the config file and from the admin
//! API, with their secrets fetched, scheme built and rate limiter made; and where the
//! API-made ones are kept ([`SubscriptionStore`]).
//!
//! - [`ApiFile`] (the default): a file next to the queue's directory
//!   (`<queue.path>.subscriptions`): the JSON each subscription was posted with, sealed
//!   like queued messages (encrypted at rest when `queue.encryption_keys` is set — posted
//!   secrets may be inline). It is replaced atomically (write, fsync, rename, fsync the
//!   directory), so a crash leaves the old list or the new one.
//! - [`RedisSubscriptions`] (`[state] backend = "redis"`): one sealed record per
//!   subscription in Redis, shared by every replica, which reloads its subscriptions
//!   within a second of another's change. Sealed as the file is; and since Redis is
//!   another machine, a subscription with an inline secret value is refused there unless
//!   `queue.encryption_keys` encrypts it ([`SubscriptionStore::needs_encryption`]).

use std::collections::HashMap;
use std::io::Write as _;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hookguard_config::{AuthKind, Config, Subscription};
use hookguard_delivery::{Request, Sealer, Timestamp};
use hookguard_layers::credentials::CredentialSource as _;
use hookguard_layers::verify::{Key, Scheme};
use secrecy::{ExposeSecret as _, SecretString};

use crate::stack::ConfigSource;

/// A token bucket per endpoint; attempts wait for a token.
pub(crate) type Limiter = governor::DefaultDirectRateLimiter;

/// Where a subscription came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `[[subscriptions]]` in the config file (changed by editing it).
    Config,
    /// The admin API (kept in the subscriptions file).
    Api,
}

impl Origin {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Api => "api",
        }
    }
}

/// A subscription ready to sign and send with. `Debug` names no secret.
pub(crate) struct Resolved {
    pub(crate) spec: Subscription,
    pub(crate) origin: Origin,
    pub(crate) scheme: Arc<dyn Scheme>,
    /// The first secret's signing key.
    pub(crate) signing_key: Key,
    pub(crate) auth: Option<Auth>,
    pub(crate) limiter: Option<Arc<Limiter>>,
    pub(crate) expires_at: Option<Timestamp>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("id", &self.spec.id)
            .field("origin", &self.origin)
            .field("scheme", &self.scheme.name())
            .finish_non_exhaustive()
    }
}

/// Endpoint credentials, resolved.
pub(crate) struct Auth {
    pub(crate) kind: AuthKind,
    pub(crate) header: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) primary: SecretString,
    pub(crate) next: Option<SecretString>,
}

impl Resolved {
    pub(crate) fn expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// What the API shows: no secret values, and the URL without its query (it may hold a
    /// token).
    pub(crate) fn summary(&self) -> serde_json::Value {
        let spec = &self.spec;
        let mut url = spec.url.clone();
        if let Some(q) = url.find('?') {
            url.truncate(q);
            url.push_str("?…");
        }
        serde_json::json!({
            "id": spec.id,
            "url": url,
            "events": spec.events,
            "enabled": spec.enabled,
            "scheme": spec.scheme,
            "secrets": spec.secrets.iter().map(|s| &s.id).collect::<Vec<_>>(),
            "max_retries": spec.max_retries,
            "timeout_seconds": spec.timeout.get().as_secs(),
            "concurrency": spec.concurrency,
            "rate_limit": spec.rate_limit.map(|r| serde_json::json!({
                "requests": r.requests, "per_seconds": r.per.get().as_secs_f64(), "burst": r.burst,
            })),
            "headers": spec.headers.keys().collect::<Vec<_>>(),
            "auth": spec.auth.as_ref().map(|a| serde_json::json!({
                "kind": a.kind, "primary": a.primary.id, "next": a.next.as_ref().map(|n| &n.id),
            })),
            "expires_at": self.expires_at.map(|t| t.as_unix_secs()),
            "origin": self.origin.as_str(),
        })
    }
}

/// Fetches the secrets of `spec` and builds what sending needs.
pub(crate) async fn resolve(
    spec: Subscription,
    origin: Origin,
    base_dir: &Path,
) -> Result<Resolved, String> {
    let scheme = spec.build_scheme().map_err(|e| e.to_string())?;
    let secrets = fetch(&spec.secrets, base_dir, "secrets").await?;
    let first = secrets
        .into_iter()
        .next()
        .ok_or_else(|| "no signing secret".to_owned())?;
    let signing_key = scheme
        .parse_signing_key(first.expose_secret())
        .map_err(|e| format!("secrets[0]: {}: expected {}", e.problem, e.expected))?;
    let auth = match &spec.auth {
        None => None,
        Some(a) => {
            let primary = fetch(std::slice::from_ref(&a.primary), base_dir, "auth.primary")
                .await?
                .remove(0);
            let next = match &a.next {
                Some(n) => Some(
                    fetch(std::slice::from_ref(n), base_dir, "auth.next")
                        .await?
                        .remove(0),
                ),
                None => None,
            };
            Some(Auth {
                kind: a.kind,
                header: a.header.clone(),
                username: a.username.clone(),
                primary,
                next,
            })
        }
    };
    let limiter = spec
        .rate_limit
        .map(|rate| limiter(&rate).map(Arc::new))
        .transpose()?;
    let expires_at = spec
        .expires_at
        .map(|t| Timestamp((t.0.unix_timestamp_nanos() / 1_000_000).max(0) as u64));
    Ok(Resolved {
        spec,
        origin,
        scheme,
        signing_key,
        auth,
        limiter,
        expires_at,
    })
}

/// The token bucket for `rate`, with the layers' quota rules (burst defaults to
/// `requests`).
fn limiter(rate: &hookguard_config::Rate) -> Result<Limiter, String> {
    let mut quota = hookguard_layers::rate::RateQuota::new(rate.requests, rate.per.get())
        .map_err(|e| format!("rate_limit: {e}"))?;
    if let Some(burst) = rate.burst {
        quota = quota.burst(burst).map_err(|e| format!("rate_limit: {e}"))?;
    }
    let burst = NonZeroU32::new(quota.limit()).ok_or("rate_limit: a burst of 0")?;
    let governor = governor::Quota::with_period(quota.replenish_interval())
        .ok_or("rate_limit: a period of 0")?
        .allow_burst(burst);
    Ok(governor::RateLimiter::direct(governor))
}

/// The values of `specs`, fetched from their sources (`what` names them in errors).
pub(crate) async fn fetch(
    specs: &[hookguard_config::SecretSpec],
    base_dir: &Path,
    what: &str,
) -> Result<Vec<SecretString>, String> {
    let source = ConfigSource::new(specs, base_dir.to_path_buf())?;
    let set = source
        .fetch("subscription")
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    Ok(set.entries().iter().map(|e| e.value.clone()).collect())
}

/// Every subscription by id.
pub(crate) type Registry = HashMap<String, Arc<Resolved>>;

/// The subscriptions of `config` and the API-made ones (parsed, not yet resolved): those
/// whose id the file now uses are left out, with a warning.
pub(crate) fn specs(config: &Config, api: &[serde_json::Value]) -> Vec<(Subscription, Origin)> {
    let mut out: Vec<(Subscription, Origin)> = config
        .subscriptions
        .iter()
        .map(|s| (s.clone(), Origin::Config))
        .collect();
    for raw in api {
        match serde_json::from_value::<Subscription>(raw.clone()) {
            Ok(spec)
                if out.iter().any(|(s, _)| s.id == spec.id) || config.route(&spec.id).is_some() =>
            {
                tracing::warn!(subscription = %spec.id, "outbound: an API-made subscription's id is now used by the config file; it is not used");
            }
            Ok(spec) => out.push((spec, Origin::Api)),
            Err(e) => {
                tracing::warn!(error = %e, "outbound: a stored subscription cannot be read; it is not used")
            }
        }
    }
    out
}

/// Where the API-made subscriptions are kept: the JSON each was posted with, by id.
#[async_trait::async_trait]
pub(crate) trait SubscriptionStore: Send + Sync {
    /// Every stored subscription's JSON (none before the first).
    async fn load(&self) -> Result<Vec<serde_json::Value>, String>;
    /// Creates or replaces the subscription `id`, durably.
    async fn put(&self, id: &str, raw: &serde_json::Value) -> Result<(), String>;
    /// Removes the subscription `id`; whether there was one.
    async fn delete(&self, id: &str) -> Result<bool, String>;
    /// Whether an inline secret value must be encrypted before it is stored (the store is
    /// on another machine).
    fn needs_encryption(&self) -> bool {
        false
    }
    /// Resolves when another replica may have changed the set; a store of this process
    /// alone never does.
    async fn changed(&self) {
        std::future::pending::<()>().await;
    }
}

/// Whether `spec` carries a secret value inline (rather than a reference to a source).
pub(crate) fn has_inline_secret(spec: &Subscription) -> bool {
    let auth = spec
        .auth
        .iter()
        .flat_map(|a| std::iter::once(&a.primary).chain(a.next.as_ref()));
    spec.secrets.iter().chain(auth).any(|s| s.value.is_some())
}

/// The API-made subscriptions' file.
pub(crate) struct ApiFile {
    path: PathBuf,
    sealer: Sealer,
}

impl ApiFile {
    pub(crate) fn new(queue_dir: &Path, sealer: Sealer) -> Self {
        let mut name = queue_dir.file_name().unwrap_or_default().to_os_string();
        name.push(".subscriptions");
        Self {
            path: queue_dir.with_file_name(name),
            sealer,
        }
    }

    /// The stored subscriptions' JSON (none when the file does not exist yet).
    pub(crate) fn load(&self) -> Result<Vec<serde_json::Value>, String> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        let request = self
            .sealer
            .open(&bytes)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        serde_json::from_slice(&request.body).map_err(|e| format!("{}: {e}", self.path.display()))
    }

    /// Replaces the file's content with `subscriptions`, durably.
    pub(crate) fn save(&self, subscriptions: &[serde_json::Value]) -> Result<(), String> {
        let body = serde_json::to_vec(subscriptions).map_err(|e| e.to_string())?;
        let sealed = self.sealer.seal(&Request {
            method: "PUT".into(),
            target: "subscriptions".into(),
            headers: Vec::new(),
            body: body.into(),
        });
        let tmp = self.path.with_extension("subscriptions.tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&sealed)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

#[async_trait::async_trait]
impl SubscriptionStore for ApiFile {
    async fn load(&self) -> Result<Vec<serde_json::Value>, String> {
        ApiFile::load(self)
    }

    async fn put(&self, id: &str, raw: &serde_json::Value) -> Result<(), String> {
        let mut all = ApiFile::load(self)?;
        match all.iter_mut().find(|v| v["id"] == id) {
            Some(slot) => *slot = raw.clone(),
            None => all.push(raw.clone()),
        }
        self.save(&all)
    }

    async fn delete(&self, id: &str) -> Result<bool, String> {
        let mut all = ApiFile::load(self)?;
        let before = all.len();
        all.retain(|v| v["id"] != id);
        if all.len() == before {
            return Ok(false);
        }
        self.save(&all).map(|()| true)
    }
}

/// The API-made subscriptions in Redis: one record per subscription, its posted JSON
/// sealed (as the file seals its list).
pub(crate) struct RedisSubscriptions {
    records: Arc<hookguard_redis::RedisRecords>,
    sealer: Sealer,
}

impl RedisSubscriptions {
    pub(crate) fn new(records: Arc<hookguard_redis::RedisRecords>, sealer: Sealer) -> Self {
        Self { records, sealer }
    }

    fn failed(&self, doing: &str, e: hookguard_redis::RedisError) -> String {
        format!(
            "{doing} in redis at {}: {e}; the subscriptions already loaded keep delivering, changes wait until redis answers",
            self.records.url()
        )
    }
}

#[async_trait::async_trait]
impl SubscriptionStore for RedisSubscriptions {
    async fn load(&self) -> Result<Vec<serde_json::Value>, String> {
        let all = self
            .records
            .all()
            .await
            .map_err(|e| self.failed("reading the subscriptions", e))?;
        all.iter()
            .map(|(id, sealed)| {
                let request = self
                    .sealer
                    .open(sealed)
                    .map_err(|e| format!("subscription {id} stored in redis: {e}"))?;
                serde_json::from_slice(&request.body)
                    .map_err(|e| format!("subscription {id} stored in redis: {e}"))
            })
            .collect()
    }

    async fn put(&self, id: &str, raw: &serde_json::Value) -> Result<(), String> {
        let body = serde_json::to_vec(raw).map_err(|e| e.to_string())?;
        let sealed = self.sealer.seal(&Request {
            method: "PUT".into(),
            target: "subscription".into(),
            headers: Vec::new(),
            body: body.into(),
        });
        self.records
            .put(id, &sealed)
            .await
            .map_err(|e| self.failed("writing a subscription", e))
    }

    async fn delete(&self, id: &str) -> Result<bool, String> {
        self.records
            .delete(id)
            .await
            .map_err(|e| self.failed("removing a subscription", e))
    }

    fn needs_encryption(&self) -> bool {
        true
    }

    async fn changed(&self) {
        self.records.changed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookguard_delivery::EncryptionKey;
    use serde_json::json;

    const INLINE: &str = "whsec_inline-secret-7d1f";

    fn sub(id: &str, enabled: bool) -> serde_json::Value {
        json!({ "id": id, "url": "https://example.com/h", "events": ["a.*"], "enabled": enabled,
                "secrets": [{ "id": "v1", "value": INLINE }] })
    }

    fn ids(all: &[serde_json::Value]) -> Vec<(String, bool)> {
        let mut ids: Vec<(String, bool)> = all
            .iter()
            .map(|v| (v["id"].as_str().unwrap().to_owned(), v["enabled"] == true))
            .collect();
        ids.sort();
        ids
    }

    /// The same checks for every backend.
    async fn conformance(store: &dyn SubscriptionStore) {
        assert!(store.load().await.unwrap().is_empty());
        store.put("b", &sub("b", true)).await.unwrap();
        store.put("a", &sub("a", true)).await.unwrap();
        store.put("b", &sub("b", false)).await.unwrap();
        assert_eq!(
            ids(&store.load().await.unwrap()),
            [("a".into(), true), ("b".into(), false)],
            "by id, last write wins"
        );
        assert_eq!(
            store.load().await.unwrap().iter().find(|v| v["id"] == "a"),
            Some(&sub("a", true)),
            "the posted JSON comes back as it was"
        );
        assert!(store.delete("a").await.unwrap());
        assert!(!store.delete("a").await.unwrap());
        assert_eq!(ids(&store.load().await.unwrap()), [("b".into(), false)]);
    }

    fn sealer() -> Sealer {
        Sealer::new(vec![("k1".into(), EncryptionKey::from_bytes([7; 32]))]).unwrap()
    }

    #[tokio::test]
    async fn the_file_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let file = ApiFile::new(&dir.path().join("queue"), sealer());
        assert!(!file.needs_encryption());
        conformance(&file).await;
    }

    #[tokio::test]
    async fn redis_conforms_and_keeps_no_inline_secret_in_plain() {
        let server = hookguard_tests::RedisServer::start();
        let settings = hookguard_redis::RedisSettings::new(server.url());
        let redis = hookguard_redis::Redis::connect_lazy(settings).unwrap();
        let records = Arc::new(hookguard_redis::RedisRecords::new(redis, "subscriptions"));
        let store = RedisSubscriptions::new(records, sealer());
        assert!(store.needs_encryption());
        conformance(&store).await;
        let raw = server.command("HGETALL {hookguard:records:subscriptions}");
        assert!(raw.contains('b'), "the record is there: {raw}");
        assert!(!raw.contains(INLINE), "sealed, not plain: {raw}");
    }

    #[test]
    fn inline_secret_values_are_found_in_secrets_and_auth() {
        let parse = |v: serde_json::Value| serde_json::from_value::<Subscription>(v).unwrap();
        assert!(has_inline_secret(&parse(sub("a", true))));
        let by_env = json!({ "id": "e", "url": "https://example.com/h", "events": ["a"],
            "secrets": [{ "id": "v1", "env": "SECRET" }] });
        assert!(!has_inline_secret(&parse(by_env.clone())));
        let mut with_auth = by_env;
        with_auth["auth"] = json!({ "kind": "bearer", "primary": { "id": "p", "env": "T" },
            "next": { "id": "n", "value": "token-2" } });
        assert!(has_inline_secret(&parse(with_auth)));
    }
}
