//! [`InlineSource`]: secrets given in code or configuration.

use std::collections::HashMap;

use super::secret::SecretSet;
use super::source::{refs_of, CredentialSource, FetchFuture};

/// Secrets held in memory, per route: for tests, examples, and configuration files that
/// carry the secrets themselves.
#[derive(Debug, Default)]
pub struct InlineSource {
    routes: HashMap<String, SecretSet>,
}

impl InlineSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `route`'s secrets.
    pub fn route(mut self, route: impl Into<String>, secrets: SecretSet) -> Self {
        self.routes.insert(route.into(), secrets);
        self
    }
}

impl CredentialSource for InlineSource {
    fn name(&self) -> &str {
        "inline"
    }

    fn fetch<'a>(&'a self, route: &'a str) -> FetchFuture<'a> {
        Box::pin(std::future::ready(refs_of(&self.routes, route).cloned()))
    }
}
