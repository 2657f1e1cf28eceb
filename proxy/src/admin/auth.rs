//! The admin API's bearer tokens: resolved from their secret sources at each (re)load,
//! compared in constant time, named in logs by id only.

use std::path::Path;

use hookguard_config::SecretSpec;
use hookguard_layers::credentials::CredentialSource;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::stack::ConfigSource;

/// The tokens the admin API accepts. `Debug` shows ids only.
#[derive(Default)]
pub(crate) struct Tokens(Vec<(String, SecretString)>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(id, _)| id))
            .finish()
    }
}

impl Tokens {
    /// Fetches every configured token from its source.
    pub(crate) async fn resolve(specs: &[SecretSpec], base_dir: &Path) -> Result<Self, String> {
        Self::resolve_named(specs, base_dir, "admin.tokens").await
    }

    /// Like [`Tokens::resolve`], for the tokens at config field `field`.
    pub(crate) async fn resolve_named(
        specs: &[SecretSpec],
        base_dir: &Path,
        field: &str,
    ) -> Result<Self, String> {
        if specs.is_empty() {
            return Ok(Self::default());
        }
        let source = ConfigSource::new(specs, base_dir.to_path_buf())?;
        let set = source
            .fetch("admin")
            .await
            .map_err(|e| format!("{field}: {e}"))?;
        Ok(Self(
            set.entries()
                .iter()
                .map(|e| (e.id.to_string(), e.value.clone()))
                .collect(),
        ))
    }

    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(id, v)| ((*id).to_owned(), SecretString::from((*v).to_owned())))
                .collect(),
        )
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The id of the token `presented` matches. Digests are compared, so neither the
    /// content nor the length of a token leaks through timing; every token is compared.
    pub(crate) fn check(&self, presented: &str) -> Option<&str> {
        let digest = Sha256::digest(presented.as_bytes());
        let mut found = None;
        for (id, token) in &self.0 {
            let expected = Sha256::digest(token.expose_secret().as_bytes());
            if bool::from(expected.ct_eq(&digest)) && found.is_none() {
                found = Some(id.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_recognised_by_its_value_and_named_by_its_id() {
        let tokens = Tokens::from_pairs(&[("old", "aaaa"), ("new", "bbbb")]);
        assert_eq!(tokens.check("bbbb"), Some("new"));
        assert_eq!(tokens.check("aaaa"), Some("old"));
        assert_eq!(tokens.check("aaa"), None);
        assert_eq!(tokens.check(""), None);
        assert!(!format!("{tokens:?}").contains("aaaa"));
    }
}
