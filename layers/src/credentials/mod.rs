//! Credentials: each route's secrets, fetched from where they live and kept parsed.
//!
//! - [`CredentialSource`]: fetches a route's [`SecretSet`] (primary, next during a
//!   rotation, more). Sources: [`InlineSource`], [`EnvSource`] (environment, read
//!   through [`Env`]), [`FileSource`] (a mounted Kubernetes secret, picked up again when
//!   it changes), [`VaultSource`] (HashiCorp Vault KV v2, feature `vault`),
//!   [`InfisicalSource`] (Universal Auth, feature `infisical`). Closures are sources too.
//! - [`CachedCredentials`]: parses each route's secrets for its scheme once per fetch and
//!   hands [`RouteKeys`] to [`VerifySignatureLayer`](crate::verify::VerifySignatureLayer)
//!   as its [`KeySource`](crate::verify::KeySource): a lookup is one atomic load. TTL
//!   (300 s) with refresh ahead in the background, stale-if-error, a timeout on every
//!   fetch, invalidation, rotation counters and source health in
//!   [`stats`](CachedCredentials::stats).
//!
//! Secret values are [`secrecy::SecretString`]s: never printed by `Debug`, never in
//! errors or logs, zeroed when dropped.
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use hookguard_layers::credentials::{CachedCredentials, InlineSource, SecretSet};
//! use hookguard_layers::verify::{schemes, VerifySignatureLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let source = InlineSource::new()
//!     .route("github", SecretSet::primary("It's a Secret to Everybody").with_next("rotated-in"));
//! let cache = CachedCredentials::new();
//! let scheme = schemes::by_name("github").unwrap();
//! let keys = cache.load("github", scheme.clone(), Arc::new(source)).await.unwrap();
//! // Keeps idle routes fresh and notices changed files.
//! let _refresher = cache.spawn_refresher(std::time::Duration::from_secs(10));
//!
//! let app = ServiceBuilder::new()
//!     .layer(VerifySignatureLayer::new(scheme, keys))
//!     .service(service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
//!     }));
//! let req = Request::post("/hook")
//!     .header("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
//!     .body(Full::from("Hello, World!"))
//!     .unwrap();
//! assert_eq!(app.oneshot(req).await.unwrap().status(), 200);
//! cache.record_match("github", "primary");
//! assert_eq!(cache.stats().routes[0].secrets[0].matches, 1);
//! # });
//! ```

mod cache;
mod env;
mod error;
mod file;
#[cfg(feature = "infisical")]
mod infisical;
mod inline;
mod keys;
#[cfg(any(feature = "vault", feature = "infisical"))]
mod remote;
mod secret;
mod source;
mod stats;
#[cfg(all(test, any(feature = "vault", feature = "infisical")))]
mod testing;
#[cfg(feature = "vault")]
mod vault;

pub use cache::{
    CachedCredentials, CachedCredentialsBuilder, RefresherHandle, DEFAULT_FETCH_TIMEOUT,
    DEFAULT_MAX_STALE, DEFAULT_REFRESH_AHEAD, DEFAULT_RETRY_AFTER, DEFAULT_TTL,
};
pub use env::{Env, EnvSource, SystemEnv};
pub use error::{CredentialError, FetchProblem};
pub use file::FileSource;
#[cfg(feature = "infisical")]
#[cfg_attr(docsrs, doc(cfg(feature = "infisical")))]
pub use infisical::{InfisicalSource, INFISICAL_CLOUD};
pub use inline::InlineSource;
pub use keys::RouteKeys;
#[cfg(any(feature = "vault", feature = "infisical"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "vault", feature = "infisical"))))]
pub use remote::DEFAULT_REQUEST_TIMEOUT;
pub use secret::{SecretEntry, SecretSet, NEXT, PRIMARY};
pub use source::{CredentialSource, FetchFuture, SecretRef, SourceError};
pub use stats::{CredentialStats, RequestStats, RouteStats, SecretStats, SourceState, SourceStats};
#[cfg(feature = "vault")]
#[cfg_attr(docsrs, doc(cfg(feature = "vault")))]
pub use vault::VaultSource;
