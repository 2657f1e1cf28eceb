//! The [`CredentialSource`] trait: where a route's secrets come from.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::secret::{SecretEntry, SecretSet, NEXT, PRIMARY};

/// A boxed, sendable future of a fetch, so sources can be shared as
/// `Arc<dyn CredentialSource>`.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SecretSet, SourceError>> + Send + 'a>>;

/// Fetches the secrets of a route from a store: environment, file, Vault, Infisical, or
/// anything else.
///
/// Closures `Fn(&str) -> impl Future<Output = Result<SecretSet, SourceError>>` are
/// sources too (named `fn`); annotate the argument (`|route: &str| …`).
pub trait CredentialSource: Send + Sync + 'static {
    /// The source's kind, for logs and health (`env`, `file`, `vault`, `infisical`).
    fn name(&self) -> &str;

    /// The secrets of `route`, primary first. Errors never contain a secret value.
    fn fetch<'a>(&'a self, route: &'a str) -> FetchFuture<'a>;

    /// A cheap fingerprint of the route's secrets that changes when they change (file
    /// metadata), checked by the cache's refresher between TTL refreshes. `None` when the
    /// source cannot tell: it is then refreshed on its TTL only.
    fn revision(&self, route: &str) -> Option<u64> {
        let _ = route;
        None
    }
}

impl<F, Fut> CredentialSource for F
where
    F: Fn(&str) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<SecretSet, SourceError>> + Send + 'static,
{
    fn name(&self) -> &str {
        "fn"
    }

    fn fetch<'a>(&'a self, route: &'a str) -> FetchFuture<'a> {
        Box::pin(self(route))
    }
}

/// Where one secret of a route lives in a source: an environment variable, a file, a
/// Vault key, an Infisical secret name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's id (`primary`, `next`, …).
    pub id: Arc<str>,
    /// Its name in the source.
    pub name: String,
    /// Whether its absence is an error (otherwise it is skipped).
    pub required: bool,
}

impl SecretRef {
    /// A required secret.
    pub fn new(id: impl Into<Arc<str>>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            required: true,
        }
    }

    /// The required `primary` secret.
    pub fn primary(name: impl Into<String>) -> Self {
        Self::new(PRIMARY, name)
    }

    /// The `next` secret of a rotation: optional, since it exists only during one.
    pub fn next(name: impl Into<String>) -> Self {
        Self::new(NEXT, name).optional()
    }

    /// Makes the secret optional.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}

/// Why a source could not produce a route's secrets. Names what and where; never holds a
/// secret value or a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source has no secrets configured for the route.
    #[error("no secrets configured for route {route}")]
    UnknownRoute {
        /// The route asked for.
        route: String,
    },
    /// A required secret does not exist.
    #[error("{what} {name} not found")]
    Missing {
        /// The kind of location (`environment variable`, `file`, `vault key`).
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A secret exists but cannot be used.
    #[error("{what} {name}: {problem}")]
    Invalid {
        /// The kind of location.
        what: &'static str,
        /// Its name.
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// Reading a file failed.
    #[error("reading {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
    /// The store answered with an error status.
    #[error("{url}: HTTP {status}: {detail}")]
    Status {
        /// The URL called (no credentials in it).
        url: String,
        /// The status.
        status: u16,
        /// The store's own error message, or what the status means.
        detail: String,
    },
    /// The store could not be reached, or answered something unexpected.
    #[error("{url}: {problem}")]
    Request {
        /// The URL called.
        url: String,
        /// What went wrong.
        problem: String,
    },
    /// The source's own configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
}

/// Collects a route's secrets from `refs`, looking each up with `lookup`: a missing
/// required secret is an error, a missing optional one is skipped.
pub(crate) fn collect_refs(
    refs: &[SecretRef],
    what: &'static str,
    mut lookup: impl FnMut(&SecretRef) -> Result<Option<SecretEntry>, SourceError>,
) -> Result<SecretSet, SourceError> {
    let mut set = SecretSet::new();
    for secret in refs {
        match lookup(secret)? {
            Some(entry) => set.push(entry),
            None if secret.required => {
                return Err(SourceError::Missing {
                    what,
                    name: secret.name.clone(),
                })
            }
            None => {}
        }
    }
    Ok(set)
}

/// The secrets configured for `route`, or the error naming it.
pub(crate) fn refs_of<'m, T>(
    routes: &'m std::collections::HashMap<String, T>,
    route: &str,
) -> Result<&'m T, SourceError> {
    routes.get(route).ok_or_else(|| SourceError::UnknownRoute {
        route: route.to_owned(),
    })
}
