//! [`EnvSource`]: secrets from environment variables, read through the [`Env`] trait
//! (`crate::env`, shared with hookguard's configuration) so tests never call
//! `std::env::set_var`.

use std::collections::HashMap;

use secrecy::SecretString;

use super::secret::SecretEntry;
use super::source::{collect_refs, refs_of, CredentialSource, FetchFuture, SecretRef, SourceError};

pub use crate::env::{Env, SystemEnv};

/// Secrets in environment variables: per route, one variable per secret.
///
/// The environment is read on every fetch, so a value changed by the process (rare) is
/// seen at the next refresh.
#[derive(Default)]
pub struct EnvSource<E = SystemEnv> {
    env: E,
    routes: HashMap<String, Vec<SecretRef>>,
}

impl<E> std::fmt::Debug for EnvSource<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The environment holds the values: only the variable names are shown.
        f.debug_struct("EnvSource")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl EnvSource<SystemEnv> {
    /// A source reading the process environment.
    pub fn new() -> Self {
        Self::with_env(SystemEnv)
    }
}

impl<E: Env> EnvSource<E> {
    /// A source reading `env`.
    pub fn with_env(env: E) -> Self {
        Self {
            env,
            routes: HashMap::new(),
        }
    }

    /// The variables holding `route`'s secrets (`SecretRef::name` is the variable name).
    pub fn route(
        mut self,
        route: impl Into<String>,
        secrets: impl IntoIterator<Item = SecretRef>,
    ) -> Self {
        self.routes
            .insert(route.into(), secrets.into_iter().collect());
        self
    }

    fn read(&self, secret: &SecretRef) -> Result<Option<SecretEntry>, SourceError> {
        let Some(raw) = self.env.var_os(&secret.name) else {
            return Ok(None);
        };
        let invalid = |problem| SourceError::Invalid {
            what: "environment variable",
            name: secret.name.clone(),
            problem,
        };
        let value = raw.into_string().map_err(|_| invalid("not valid UTF-8"))?;
        if value.is_empty() {
            return Err(invalid("empty"));
        }
        Ok(Some(SecretEntry::new(
            secret.id.clone(),
            SecretString::from(value),
        )))
    }
}

impl<E: Env> CredentialSource for EnvSource<E> {
    fn name(&self) -> &str {
        "env"
    }

    fn fetch<'a>(&'a self, route: &'a str) -> FetchFuture<'a> {
        let result = refs_of(&self.routes, route)
            .and_then(|refs| collect_refs(refs, "environment variable", |s| self.read(s)));
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn reads_the_mapped_variables_in_order_and_skips_an_absent_next() {
        let source = EnvSource::with_env(env(&[("GH_SECRET", "s1"), ("GH_NEXT", "s2")]))
            .route(
                "github",
                [SecretRef::primary("GH_SECRET"), SecretRef::next("GH_NEXT")],
            )
            .route(
                "stripe",
                [
                    SecretRef::primary("GH_SECRET"),
                    SecretRef::next("STRIPE_NEXT"),
                ],
            );
        let set = source.fetch("github").await.unwrap();
        let got: Vec<(&str, &str)> = set
            .entries()
            .iter()
            .map(|e| (&*e.id, e.value.expose_secret()))
            .collect();
        assert_eq!(got, [("primary", "s1"), ("next", "s2")]);
        assert_eq!(source.fetch("stripe").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn missing_required_variable_is_named_without_values() {
        let source = EnvSource::with_env(env(&[("OTHER", "hunter2")]))
            .route("github", [SecretRef::primary("GH_SECRET")]);
        let error = source.fetch("github").await.unwrap_err().to_string();
        assert_eq!(error, "environment variable GH_SECRET not found");
        let printed = format!("{source:?}");
        assert!(
            printed.contains("GH_SECRET") && !printed.contains("hunter2"),
            "{printed}"
        );
    }

    #[tokio::test]
    async fn empty_variable_and_unknown_route_are_errors() {
        let source = EnvSource::with_env(env(&[("GH_SECRET", "")]))
            .route("github", [SecretRef::primary("GH_SECRET")]);
        assert_eq!(
            source.fetch("github").await.unwrap_err().to_string(),
            "environment variable GH_SECRET: empty"
        );
        assert_eq!(
            source.fetch("gitlab").await.unwrap_err().to_string(),
            "no secrets configured for route gitlab"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn non_utf8_variable_is_reported() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;

        struct Raw;
        impl Env for Raw {
            fn var_os(&self, _: &str) -> Option<OsString> {
                Some(OsString::from_vec(vec![0xff, 0xfe]))
            }

            fn vars_with_prefix(&self, _: &str) -> Vec<(String, String)> {
                Vec::new()
            }
        }
        let source = EnvSource::with_env(Raw).route("github", [SecretRef::primary("GH")]);
        assert_eq!(
            source.fetch("github").await.unwrap_err().to_string(),
            "environment variable GH: not valid UTF-8"
        );
    }
}
