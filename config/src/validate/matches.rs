//! Checks of route matches: each one well formed, and no request path taken by two routes,
//! so that which route answers never depends on the order of the file.

use crate::error::Issues;
use crate::path::FieldPath;
use crate::router::{is_valid_key, prefix_matches};
use crate::schema::{MatchKind, Route, RouteMatch};

const KEY_EXPECTED: &str = "\"wh_\" followed by 32 letters or digits";

/// `api_keys`: the admin API is on (`admin.tokens`), so a key route may start without keys
/// in the file and get them from the API.
pub(super) fn check_route_match(
    issues: &mut Issues,
    p: &FieldPath,
    m: &RouteMatch,
    api_keys: bool,
) {
    let set: Vec<&str> = [
        ("path", m.path.is_some()),
        ("path_prefix", m.path_prefix.is_some()),
        ("key_prefix", m.key_prefix.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, is_set)| is_set.then_some(name))
    .collect();
    const ONE_OF: &str = "exactly one of `path`, `path_prefix` or `key_prefix`";
    match set.as_slice() {
        [] => issues.add(p.clone(), "the match names no path", ONE_OF),
        [_] => {}
        [_, second, ..] => issues.add(
            p.key(*second),
            format!("the match sets {}", set.join(" and ")),
            ONE_OF,
        ),
    }
    if m.key_prefix.is_none() && !m.keys.is_empty() {
        issues.add(
            p.key("keys"),
            "keys are only used by key routes",
            "key_prefix with the keys, or no keys",
        );
    }
    if let Some(path) = &m.path {
        check_path(issues, p.key("path"), path);
    }
    if let Some(prefix) = &m.path_prefix {
        check_path(issues, p.key("path_prefix"), prefix);
    }
    if let Some(prefix) = &m.key_prefix {
        check_path(issues, p.key("key_prefix"), prefix);
        if !prefix.ends_with('/') {
            issues.add(
                p.key("key_prefix"),
                format!("{prefix:?} does not end with /"),
                "a prefix such as \"/webhooks/\" (the key is the last path segment)",
            );
        }
        if m.keys.is_empty() && !api_keys {
            issues.add(
                p.key("keys"),
                "the key route has no keys",
                "at least one key (or admin.tokens, to make keys through the admin API)",
            );
        }
        for (i, key) in m.keys.iter().enumerate() {
            // The key is not echoed: it is a credential.
            if !is_valid_key(&key.key) {
                issues.add(
                    p.key("keys").index(i).key("key"),
                    format!(
                        "key {i} is malformed ({} characters)",
                        key.key.chars().count()
                    ),
                    KEY_EXPECTED,
                );
            }
            if let Some(rate) = &key.rate_limit {
                super::check_rate(issues, p.key("keys").index(i).key("rate_limit"), rate);
            }
        }
    }
}

/// A path as it is matched: absolute, no query or fragment, no spaces or control
/// characters.
pub(super) fn check_path(issues: &mut Issues, path: FieldPath, value: &str) {
    let problem = if !value.starts_with('/') {
        Some("does not start with /")
    } else if value.contains(['?', '#']) {
        Some("has a query or fragment (routes match the path only)")
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("contains spaces or control characters")
    } else {
        None
    };
    if let Some(problem) = problem {
        issues.add(
            path,
            format!("{value:?} {problem}"),
            "a path such as \"/webhooks/github\"",
        );
    }
}

/// Keys unique across the file, and no path taken by two routes.
pub(super) fn check_across(issues: &mut Issues, routes: &[(usize, &Route)]) {
    let match_path = |i: usize| FieldPath::root().key("routes").index(i).key("match");
    let mut keys: Vec<(&str, usize, usize)> = Vec::new();
    for &(i, route) in routes {
        for (k, key) in route.matches.keys.iter().enumerate() {
            if let Some((_, first_route, first_key)) = keys.iter().find(|(s, _, _)| *s == key.key) {
                issues.add(
                    match_path(i).key("keys").index(k).key("key"),
                    format!(
                        "this key is already used by routes[{first_route}].match.keys[{first_key}]"
                    ),
                    "every key used once in the file",
                );
            } else {
                keys.push((&key.key, i, k));
            }
        }
    }
    for (n, &(b, later)) in routes.iter().enumerate() {
        let Some(kb) = later.matches.kind() else {
            continue;
        };
        for &(a, earlier) in &routes[..n] {
            let Some(ka) = earlier.matches.kind() else {
                continue;
            };
            if let Some(example) = overlap(ka, kb) {
                let field = match kb {
                    MatchKind::Exact(_) => "path",
                    MatchKind::Prefix(_) => "path_prefix",
                    MatchKind::Keys { .. } => "key_prefix",
                };
                issues.add(
                    match_path(b).key(field),
                    format!(
                        "routes[{b}] ({}) and routes[{a}] ({}) both match {example}",
                        later.id, earlier.id
                    ),
                    "matches that never take the same path: change one, or drop the exact path that a prefix already takes",
                );
            }
        }
    }
}

/// A path both matches take, if any (keys are compared elsewhere).
fn overlap(a: MatchKind<'_>, b: MatchKind<'_>) -> Option<String> {
    use MatchKind::*;
    match (a, b) {
        (Exact(x), Exact(y)) => (x == y).then(|| x.to_string()),
        (Exact(path), Prefix(prefix)) | (Prefix(prefix), Exact(path)) => {
            prefix_matches(prefix, path).then(|| path.to_string())
        }
        (Prefix(x), Prefix(y)) => {
            if prefix_matches(x, y) {
                Some(y.to_string())
            } else if prefix_matches(y, x) {
                Some(x.to_string())
            } else {
                None
            }
        }
        (Prefix(prefix), Keys { prefix: kp, keys })
        | (Keys { prefix: kp, keys }, Prefix(prefix)) => (prefix_matches(prefix, kp)
            || keys
                .iter()
                .any(|k| prefix_matches(prefix, &format!("{kp}{}", k.key))))
        .then(|| format!("{kp}{{key}}")),
        (Exact(path), Keys { prefix, keys }) | (Keys { prefix, keys }, Exact(path)) => path
            .strip_prefix(prefix)
            .is_some_and(|rest| keys.iter().any(|k| k.key == rest))
            .then(|| format!("{prefix}{{key}}")),
        (Keys { .. }, Keys { .. }) => None,
    }
}
