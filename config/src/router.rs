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

/// The routes of one configuration, indexed for lookup. Every lookup is a few hash lookups,
/// however many routes and keys there are.
#[derive(Debug, Clone, Default)]
pub struct Router {
    exact: HashMap<String, usize>,
    /// Key prefix (ends with `/`) → its keys (the last path segment).
    keys: HashMap<String, Keys>,
    /// Path prefix → route.
    prefixes: HashMap<String, usize>,
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
                    router.prefixes.entry(prefix.to_string()).or_insert(index);
                }
                Some(MatchKind::Keys { prefix, keys }) => {
                    let slot = router.keys.entry(prefix.to_string()).or_default();
                    slot.reserve(keys.len());
                    for key in keys {
                        slot.entry(key.key.clone()).or_insert((index, key.enabled));
                    }
                }
                None => {}
            }
        }
        router
    }

    /// The route of `path` (the request's path, without its query string).
    pub fn lookup(&self, path: &str) -> Lookup {
        if let Some(&index) = self.exact.get(path) {
            return Lookup::Route { index };
        }
        if !self.keys.is_empty() {
            // A key is the last segment, and key prefixes end with `/`.
            if let Some(at) = path.rfind('/') {
                let (prefix, key) = path.split_at(at + 1);
                match self.keys.get(prefix).and_then(|keys| keys.get(key)) {
                    Some(&(index, true)) => return Lookup::Route { index },
                    Some(&(index, false)) => return Lookup::KeyDisabled { index },
                    None => {}
                }
            }
        }
        if self.prefixes.is_empty() {
            return Lookup::NotFound;
        }
        // Validation refuses nested prefixes, so at most one of these is configured.
        prefixes_taking(path)
            .find_map(|prefix| self.prefixes.get(prefix))
            .map_or(Lookup::NotFound, |&index| Lookup::Route { index })
    }
}

/// Whether a key route's key is well formed: `wh_` followed by 32 ASCII letters or digits.
pub fn is_valid_key(key: &str) -> bool {
    key.strip_prefix("wh_")
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `prefix` takes `path`, by whole segments: `/hooks` takes `/hooks` and
/// `/hooks/x` but not `/hooksx`; `/hooks/` takes `/hooks/` and `/hooks/x`. The definition
/// `prefixes_taking` is tested against.
#[cfg(test)]
pub(crate) fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// Every prefix that takes `path` by `prefix_matches`, longest first: the path itself and,
/// at each `/`, the part up to it and the part before it. A path of n segments has 2n + 1,
/// so finding a path's prefix route is a few map lookups instead of a walk over the routes.
pub(crate) fn prefixes_taking(path: &str) -> impl Iterator<Item = &str> {
    let cuts = path
        .match_indices('/')
        .rev()
        .flat_map(move |(at, _)| [&path[..=at], &path[..at]]);
    std::iter::once(path).chain(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_taking_a_path_are_exactly_those_that_match_it() {
        for path in [
            "/", "/hooks", "/hooks/", "/hooks/a", "/a/b/c/", "//x", "/a.b/c",
        ] {
            let taking: Vec<&str> = prefixes_taking(path).collect();
            // Every prefix of the path, by `prefix_matches`, the definition.
            for end in 0..=path.len() {
                let prefix = &path[..end];
                assert_eq!(
                    taking.contains(&prefix),
                    prefix_matches(prefix, path),
                    "{prefix:?} of {path:?}"
                );
            }
            assert!(
                taking.windows(2).all(|w| w[0].len() >= w[1].len()),
                "{taking:?}"
            );
        }
    }

    #[test]
    fn lookup_finds_each_kind_of_route_and_nothing_else() {
        let key = "wh_0123456789abcdefghijABCDEFGHIJkl";
        let off = "wh_0123456789abcdefghijABCDEFGHIJkm";
        let toml = format!(
            r#"
upstream.address = "127.0.0.1:3000"
[[routes]]
id = "exact"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{{ id = "p", value = "s" }}]
[[routes]]
id = "prefix"
match.path_prefix = "/billing"
scheme = "github"
secrets = [{{ id = "p", value = "s" }}]
[[routes]]
id = "slash"
match.path_prefix = "/shop/"
scheme = "github"
secrets = [{{ id = "p", value = "s" }}]
[[routes]]
id = "keys"
match.key_prefix = "/hooks/"
match.keys = [{{ key = "{key}" }}, {{ key = "{off}", enabled = false }}]
scheme = "github"
secrets = [{{ id = "p", value = "s" }}]
"#
        );
        let config = crate::Config::from_text(
            &toml,
            crate::Format::Toml,
            "h.toml".as_ref(),
            &HashMap::<String, String>::new(),
        )
        .unwrap();
        let router = Router::new(&config);
        let route = |index| Lookup::Route { index };
        for (path, expected) in [
            ("/webhooks/github", route(0)),
            ("/webhooks/github/x", Lookup::NotFound),
            ("/billing", route(1)),
            ("/billing/orders/1", route(1)),
            ("/billingx", Lookup::NotFound),
            ("/shop/", route(2)),
            ("/shop/a/b", route(2)),
            ("/shop", Lookup::NotFound),
            (&format!("/hooks/{key}"), route(3)),
            (&format!("/hooks/{off}"), Lookup::KeyDisabled { index: 3 }),
            (&format!("/hooks/x/{key}"), Lookup::NotFound),
            ("/hooks/wh_unknown", Lookup::NotFound),
            ("/", Lookup::NotFound),
        ] {
            assert_eq!(router.lookup(path), expected, "{path}");
        }
    }

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
