//! Secret values as sources return them: wrapped so they never print.

use std::sync::Arc;

use secrecy::SecretString;

/// The id of a route's current secret.
pub const PRIMARY: &str = "primary";
/// The id of the secret a rotation moves to.
pub const NEXT: &str = "next";

/// One secret of a route. `Debug` shows the id and the rotation time, never the value
/// ([`SecretString`] redacts itself and zeroes its memory on drop).
#[derive(Debug, Clone)]
pub struct SecretEntry {
    /// The secret's id (`primary`, `next`, …): reported on a match, never the value.
    pub id: Arc<str>,
    /// The secret string, in the format the route's scheme expects.
    pub value: SecretString,
    /// When the secret was last written (Unix seconds), when the source knows it.
    pub rotated_at: Option<i64>,
    /// How old (seconds since `rotated_at`) this secret may grow before it is reported too
    /// old; `None`: the cache's [`max_secret_age`](super::CachedCredentialsBuilder::max_secret_age).
    pub max_age: Option<i64>,
}

impl SecretEntry {
    /// A secret with no rotation time.
    pub fn new(id: impl Into<Arc<str>>, value: impl Into<SecretString>) -> Self {
        Self {
            id: id.into(),
            value: value.into(),
            rotated_at: None,
            max_age: None,
        }
    }

    /// Sets when the secret was rotated (Unix seconds).
    pub fn rotated_at(mut self, unix: i64) -> Self {
        self.rotated_at = Some(unix);
        self
    }

    /// Sets this secret's own maximum age (a rotation policy per secret).
    pub fn max_age(mut self, age: std::time::Duration) -> Self {
        self.max_age = Some(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        self
    }
}

/// A route's secrets, in verification order: primary, then next (during a rotation),
/// then any more.
#[derive(Debug, Clone, Default)]
pub struct SecretSet {
    entries: Vec<SecretEntry>,
}

impl SecretSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding only the primary secret.
    pub fn primary(value: impl Into<SecretString>) -> Self {
        Self::new().with(SecretEntry::new(PRIMARY, value))
    }

    /// Adds the secret a rotation moves to.
    pub fn with_next(self, value: impl Into<SecretString>) -> Self {
        self.with(SecretEntry::new(NEXT, value))
    }

    /// Adds a secret at the end.
    pub fn with(mut self, entry: SecretEntry) -> Self {
        self.entries.push(entry);
        self
    }

    /// Adds a secret at the end.
    pub fn push(&mut self, entry: SecretEntry) {
        self.entries.push(entry);
    }

    /// The secrets, in order.
    pub fn entries(&self) -> &[SecretEntry] {
        &self.entries
    }

    /// Number of secrets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no secret.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<SecretEntry> for SecretSet {
    fn from_iter<I: IntoIterator<Item = SecretEntry>>(iter: I) -> Self {
        Self {
            entries: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_a_value() {
        let set = SecretSet::primary("hunter2-primary")
            .with_next("hunter2-next")
            .with(SecretEntry::new("old", "hunter2-old").rotated_at(42));
        let printed = format!("{set:?} {:#?}", set.entries()[2]);
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("primary") && printed.contains("next") && printed.contains("42"));
        let ids: Vec<&str> = set.entries().iter().map(|e| &*e.id).collect();
        assert_eq!(ids, ["primary", "next", "old"]);
    }
}
