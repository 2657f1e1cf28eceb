//! Finding the route of a request path.
//!
//! Validation refuses overlapping matches, so a path has at most one route and the order
//! of the file never matters. Exact paths and keys are map lookups; prefixes are few.
//!
//! ```
//! use hookguard_config::{Config, Format, Lookup, Router};
//! use std::collections::HashMap;
//!
//! let toml = r#"
//! upstream.address = "127.0.0.1:3000"
//! [[routes]]
//! id = "github"
//! match.path = "/webhooks/github"
//! scheme = "github"
//! secrets = [{ id = "primary", value = "It's a Secret to Everybody" }]
//! "#;
//! let config = Config::from_text(toml, Format::Toml, "h.toml".as_ref(), &HashMap::new()).unwrap();
//! let router = Router::new(&config);
//! assert_eq!(router.lookup("/webhooks/github"), Lookup::Route { index: 0 });
//! assert_eq!(router.lookup("/webhooks/gitlab"), Lookup::NotFound);
//! ```

use std::collections::HashMap;

use crate::schema::{Config, MatchKind};

/// What a request path leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The route at this index of [`Config::routes`].
    Route {
        /// Index into `Config::routes`.
        index: usize,
    },
    /// A key route's key that is known but disabled: answer 403.
    KeyDisabled {
        /// Index into `Config::routes`.
        index: usize,
    },
    /// No route takes this path (an unknown key included): answer 404.
    NotFound,
}

/// A key route's keys: key → (route index, enabled).
type Keys = HashMap<String, (usize, bool)>;

/// The routes of one configuration, indexed for lookup.
#[derive(Debug, Clone, Default)]
pub struct Router {
    exact: HashMap<String, usize>,
    /// Key prefix and its keys.
    keys: Vec<(String, Keys)>,
    /// Longest first.
    prefixes: Vec<(String, usize)>,
}

impl Router {
    /// Indexes `config`'s routes (a validated configuration: routes whose match is not
    /// well formed are skipped).
    pub fn new(config: &Config) -> Self {
        let mut router = Router::default();
        for (index, route) in config.routes.iter().enumerate() {
            match route.matches.kind() {
                Some(MatchKind::Exact(path)) => {
                    router.exact.entry(path.to_string()).or_insert(index);
                }
                Some(MatchKind::Prefix(prefix)) => {
                    router.prefixes.push((prefix.to_string(), index))
                }
                Some(MatchKind::Keys { prefix, keys }) => {
                    let slot = match router.keys.iter().position(|(p, _)| p == prefix) {
                        Some(slot) => slot,
                        None => {
                            router.keys.push((prefix.to_string(), HashMap::new()));
                            router.keys.len() - 1
                        }
                    };
                    for key in keys {
                        router.keys[slot]
                            .1
                            .entry(key.key.clone())
                            .or_insert((index, key.enabled));
                    }
                }
                None => {}
            }
        }
        router
            .prefixes
            .sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        router
    }

    /// The route of `path` (the request's path, without its query string).
    pub fn lookup(&self, path: &str) -> Lookup {
        if let Some(&index) = self.exact.get(path) {
            return Lookup::Route { index };
        }
        for (prefix, keys) in &self.keys {
            if let Some(key) = path.strip_prefix(prefix.as_str()) {
                match keys.get(key) {
                    Some(&(index, true)) => return Lookup::Route { index },
                    Some(&(index, false)) => return Lookup::KeyDisabled { index },
                    None => {}
                }
            }
        }
        self.prefixes
            .iter()
            .find(|(prefix, _)| prefix_matches(prefix, path))
            .map_or(Lookup::NotFound, |&(_, index)| Lookup::Route { index })
    }
}

/// Whether a key route's key is well formed: `wh_` followed by 32 ASCII letters or digits.
pub fn is_valid_key(key: &str) -> bool {
    key.strip_prefix("wh_")
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `prefix` takes `path`, by whole segments: `/hooks` takes `/hooks` and
/// `/hooks/x` but not `/hooksx`; `/hooks/` takes `/hooks/` and `/hooks/x`.
pub(crate) fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(prefix_matches("/hooks", "/hooks"));
        assert!(prefix_matches("/hooks", "/hooks/a"));
        assert!(!prefix_matches("/hooks", "/hooksx"));
        assert!(prefix_matches("/hooks/", "/hooks/a"));
        assert!(!prefix_matches("/hooks/", "/hooks"));
    }

    #[test]
    fn keys_are_wh_and_32_alphanumerics() {
        assert!(is_valid_key("wh_0123456789abcdefghijABCDEFGHIJkl"));
        assert!(!is_valid_key("wh_0123456789abcdefghijABCDEFGHIJk"));
        assert!(!is_valid_key("wh_0123456789abcdefghijABCDEFGHIJk-"));
        assert!(!is_valid_key("xx_0123456789abcdefghijABCDEFGHIJkl"));
        assert!(!is_valid_key("wh_0123456789abcdefghijABCDEFGHIJké"));
    }
}
