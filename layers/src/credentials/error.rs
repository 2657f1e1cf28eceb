//! Why a route's keys could not be loaded.

use std::sync::Arc;
use std::time::Duration;

use super::source::SourceError;
use crate::verify::SecretError;

/// Why a route's keys could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
#[error("route {route}: secret source {source_name}: {problem}")]
pub struct CredentialError {
    /// The route.
    pub route: Arc<str>,
    /// The source's name.
    pub source_name: String,
    /// What went wrong.
    #[source]
    pub problem: FetchProblem,
}

/// What went wrong in one fetch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchProblem {
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The source did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A secret is not in the format the route's scheme needs.
    #[error("secret {id}: {error}")]
    Unusable {
        /// The secret's id.
        id: Arc<str>,
        /// Why it cannot be used (never its value).
        #[source]
        error: SecretError,
    },
    /// The source returned no secret at all.
    #[error("no secrets returned")]
    Empty,
}
