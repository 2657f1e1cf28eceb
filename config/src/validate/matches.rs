//! Checks of route matches: each one well formed, and no request path taken by two routes,
//! so that which route answers never depends on the order of the file.

use crate::error::Issues;
use crate::path::FieldPath;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::router::{is_valid_key, prefixes_taking};
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
///
/// Linear in the number of routes and keys (a platform's file has 100,000 keys and 10,000
/// routes): each path is looked up in maps of the others by the few prefixes that could
/// take it, rather than compared with every other route.
pub(super) fn check_across(issues: &mut Issues, routes: &[(usize, &Route)]) {
    let match_path = |i: usize| FieldPath::root().key("routes").index(i).key("match");
    let mut keys: HashMap<&str, (usize, usize)> = HashMap::new();
    for &(i, route) in routes {
        for (k, key) in route.matches.keys.iter().enumerate() {
            match keys.entry(&key.key) {
                Entry::Occupied(first) => {
                    let (first_route, first_key) = *first.get();
                    issues.add(
                        match_path(i).key("keys").index(k).key("key"),
                        format!(
                            "this key is already used by routes[{first_route}].match.keys[{first_key}]"
                        ),
                        "every key used once in the file",
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert((i, k));
                }
            }
        }
    }
    for (later, earlier, example) in overlaps(routes) {
        let ((b, route_b), (a, route_a)) = (routes[later], routes[earlier]);
        let field = match route_b.matches.kind() {
            Some(MatchKind::Exact(_)) => "path",
            Some(MatchKind::Prefix(_)) => "path_prefix",
            _ => "key_prefix",
        };
        issues.add(
            match_path(b).key(field),
            format!(
                "routes[{b}] ({}) and routes[{a}] ({}) both match {example}",
                route_b.id, route_a.id
            ),
            "matches that never take the same path: change one, or drop the exact path that a prefix already takes",
        );
    }
}

/// Every pair of routes whose matches take a same path: (later, earlier, an example path),
/// as positions in `routes`, ordered by the later route, then the earlier. Keys are
/// compared elsewhere.
fn overlaps(routes: &[(usize, &Route)]) -> Vec<(usize, usize, String)> {
    let mut exact: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut prefixes: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, &(_, route)) in routes.iter().enumerate() {
        match route.matches.kind() {
            Some(MatchKind::Exact(path)) => exact.entry(path).or_default().push(i),
            Some(MatchKind::Prefix(prefix)) => prefixes.entry(prefix).or_default().push(i),
            _ => {}
        }
    }
    // Each pair is found once, from the side that can name the other by a lookup.
    let mut pairs: Vec<(usize, usize, String)> = Vec::new();
    let mut pair = |a: usize, b: usize, example: String| {
        if a != b {
            pairs.push((a.max(b), a.min(b), example));
        }
    };
    for (i, &(_, route)) in routes.iter().enumerate() {
        match route.matches.kind() {
            Some(MatchKind::Exact(path)) => {
                // Another exact route on the same path (found from the later one).
                for &j in exact.get(path).into_iter().flatten().filter(|&&j| j < i) {
                    pair(i, j, path.to_string());
                }
                for prefix in prefixes_taking(path) {
                    for &j in prefixes.get(prefix).into_iter().flatten() {
                        pair(i, j, path.to_string());
                    }
                }
            }
            Some(MatchKind::Prefix(path)) => {
                // Prefixes that take this prefix (a shorter one, or the same string).
                for prefix in prefixes_taking(path) {
                    for &j in prefixes.get(prefix).into_iter().flatten() {
                        if prefix != path || j < i {
                            pair(i, j, path.to_string());
                        }
                    }
                }
            }
            Some(MatchKind::Keys { prefix: kp, keys }) => {
                let mut found: Vec<usize> = Vec::new();
                for prefix in prefixes_taking(kp) {
                    found.extend(prefixes.get(prefix).into_iter().flatten());
                }
                let mut full = String::with_capacity(kp.len() + 40);
                for key in keys {
                    full.clear();
                    full.push_str(kp);
                    full.push_str(&key.key);
                    for prefix in prefixes_taking(&full) {
                        found.extend(prefixes.get(prefix).into_iter().flatten());
                    }
                    found.extend(exact.get(full.as_str()).into_iter().flatten());
                }
                found.sort_unstable();
                found.dedup();
                for j in found {
                    pair(i, j, format!("{kp}{{key}}"));
                }
            }
            None => {}
        }
    }
    pairs.sort_by_key(|&(later, earlier, _)| (later, earlier));
    pairs.dedup_by_key(|&mut (later, earlier, _)| (later, earlier));
    pairs
}
