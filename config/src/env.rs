//! Environment variables: read through [`Env`] so tests never touch the process
//! environment, and the `HOOKGUARD__SECTION__KEY=value` overrides.
//!
//! An override names a value by its path, with `__` between the steps:
//!
//! | variable | sets |
//! | --- | --- |
//! | `HOOKGUARD__UPSTREAM__ADDRESS=127.0.0.1:3000` | `upstream.address` |
//! | `HOOKGUARD__DEFAULTS__BODY_LIMIT=2MiB` | `defaults.body_limit` |
//! | `HOOKGUARD__ROUTES__GITHUB__MODE=shadow` | `mode` of the route whose id is `github` |
//! | `HOOKGUARD__ROUTES__0__SECRETS__1__ENV=NEXT` | `routes[0].secrets[1].env` |
//!
//! Steps are matched in lower case; a list is entered by position or, for lists of tables
//! with an `id`, by that id (`-` and `_` are the same here). The value replaces a string as
//! it is; anywhere else it is read as a TOML value (`2048`, `true`, `["10.0.0.0/8"]`),
//! and kept as a string when it is not one. Errors in an overridden value name the variable.
//!
//! ```
//! use std::collections::HashMap;
//! use hookguard_config::{Config, Format, Mode};
//!
//! let toml = r#"
//! upstream.address = "127.0.0.1:3000"
//! [[routes]]
//! id = "github"
//! match.path = "/webhooks/github"
//! scheme = "github"
//! secrets = [{ id = "primary", env = "GITHUB_WEBHOOK_SECRET" }]
//! "#;
//! // Tests pass a map; the sidecar passes `SystemEnv`.
//! let env = HashMap::from([
//!     ("GITHUB_WEBHOOK_SECRET".to_string(), "s3cret".to_string()),
//!     ("HOOKGUARD__ROUTES__GITHUB__MODE".to_string(), "shadow".to_string()),
//!     ("HOOKGUARD__UPSTREAM__ADDRESS".to_string(), "127.0.0.1:4000".to_string()),
//! ]);
//! let config = Config::from_text(toml, Format::Toml, "h.toml".as_ref(), &env).unwrap();
//! assert_eq!(config.routes[0].mode, Some(Mode::Shadow));
//! assert_eq!(config.upstream.address, "127.0.0.1:4000");
//! ```

use serde_json::{Map, Value};

use crate::document::{toml_scalar, Document};
use crate::error::Issue;
use crate::path::{FieldPath, Segment};

/// The prefix of override variables.
pub const ENV_PREFIX: &str = "HOOKGUARD__";

/// Read access to environment variables: the layers' trait, one for the workspace.
pub use hookguard_layers::env::{Env, SystemEnv};

/// Whether `name` can be an environment variable's name (letters, digits, `_`; not
/// starting with a digit).
pub(crate) fn is_valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Applies every `HOOKGUARD__…` variable to the document, in name order.
pub(crate) fn apply_overrides(doc: &mut Document, env: &dyn Env) -> Vec<Issue> {
    let mut vars = env.vars_with_prefix(ENV_PREFIX);
    vars.sort();
    let mut issues = Vec::new();
    for (name, raw) in vars {
        match apply_one(&mut doc.tree, &name, &raw) {
            Ok(path) => doc.map.record_env(path, name),
            Err(message) => {
                // The problem is the variable itself: report it there.
                issues.push(Issue::new(FieldPath::root(), message).in_variable(name).expected(
                    "HOOKGUARD__ followed by a path such as UPSTREAM__ADDRESS or ROUTES__<id>__MODE",
                ));
            }
        }
    }
    issues
}

fn apply_one(tree: &mut Value, name: &str, raw: &str) -> Result<FieldPath, String> {
    let steps: Vec<String> = name[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if steps.iter().any(String::is_empty) {
        return Err(format!("{name} has an empty step"));
    }
    let mut path = FieldPath::root();
    let mut node = tree;
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
        node = match node {
            Value::Object(map) => {
                path.push(Segment::Key(step.clone()));
                if last {
                    let value = override_value(map.get(step.as_str()), raw);
                    map.insert(step.clone(), value);
                    return Ok(path);
                }
                map.entry(step.clone()).or_insert(Value::Null)
            }
            Value::Array(items) => {
                let position = step.parse::<usize>().ok().or_else(|| {
                    items.iter().position(|item| {
                        item.get("id")
                            .and_then(Value::as_str)
                            .is_some_and(|id| id.to_ascii_lowercase().replace('-', "_") == *step)
                    })
                });
                let Some(position) = position.filter(|&p| p < items.len()) else {
                    return Err(format!(
                        "{path} has no entry {step:?} (it has {} entries, by position from 0 or by id)",
                        items.len()
                    ));
                };
                path.push(Segment::Index(position));
                if last {
                    let value = override_value(Some(&items[position]), raw);
                    items[position] = value;
                    return Ok(path);
                }
                &mut items[position]
            }
            _ => {
                return Err(format!(
                    "{path} is a single value, so it has no {step:?} inside it"
                ))
            }
        };
    }
    Err(format!("{name} names no value"))
}

fn override_value(current: Option<&Value>, raw: &str) -> Value {
    if matches!(current, Some(Value::String(_))) {
        return Value::String(raw.to_string());
    }
    toml_scalar(raw).unwrap_or_else(|| Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::document::{parse, Format};

    fn doc(text: &str) -> Document {
        parse(text, Format::Toml, Path::new("h.toml")).unwrap()
    }

    fn env(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_set_values_by_path_and_by_route_id() {
        let mut d = doc("[upstream]\naddress = \"127.0.0.1:1\"\n[[routes]]\nid = \"git-hub\"\nbody_limit = 10\n");
        let issues = apply_overrides(
            &mut d,
            &env(&[
                ("HOOKGUARD__UPSTREAM__ADDRESS", "10.0.0.1:3000"),
                ("HOOKGUARD__ROUTES__GIT_HUB__BODY_LIMIT", "2048"),
                ("HOOKGUARD__ROUTES__0__MODE", "shadow"),
                ("HOOKGUARD__DEFAULTS__TOLERANCE", "5m"),
                ("HOOKGUARD__ROUTES__0__IP__ALLOW", "[\"10.0.0.0/8\"]"),
                ("OTHER__UPSTREAM__ADDRESS", "ignored"),
            ]),
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(d.tree["upstream"]["address"], "10.0.0.1:3000");
        assert_eq!(d.tree["routes"][0]["body_limit"], 2048);
        assert_eq!(d.tree["routes"][0]["mode"], "shadow");
        assert_eq!(d.tree["defaults"]["tolerance"], "5m");
        assert_eq!(d.tree["routes"][0]["ip"]["allow"][0], "10.0.0.0/8");
        let at = d
            .map
            .locate(&FieldPath::root().key("upstream").key("address"), false);
        assert_eq!(
            at.to_string(),
            "environment variable HOOKGUARD__UPSTREAM__ADDRESS"
        );
    }

    #[test]
    fn a_string_stays_a_string() {
        let mut d = doc("[[routes]]\nid = \"a\"\nscheme = \"github\"\n");
        apply_overrides(&mut d, &env(&[("HOOKGUARD__ROUTES__A__SCHEME", "true")]));
        assert_eq!(d.tree["routes"][0]["scheme"], "true");
    }

    #[test]
    fn bad_override_paths_are_reported_with_the_variable() {
        let mut d = doc("listen = \"0.0.0.0:1\"\n[[routes]]\nid = \"a\"\n");
        let issues = apply_overrides(
            &mut d,
            &env(&[
                ("HOOKGUARD__ROUTES__7__MODE", "shadow"),
                ("HOOKGUARD__LISTEN__PORT", "1"),
                ("HOOKGUARD__ROUTES____MODE", "x"),
            ]),
        );
        assert_eq!(issues.len(), 3, "{issues:?}");
        let located: Vec<String> = issues
            .into_iter()
            .map(|i| i.locate(Some(&d.map)).to_string())
            .collect();
        assert!(
            located
                .iter()
                .any(|p| p.contains("HOOKGUARD__ROUTES__7__MODE") && p.contains("no entry \"7\"")),
            "{located:?}"
        );
        assert!(
            located
                .iter()
                .any(|p| p.contains("HOOKGUARD__LISTEN__PORT") && p.contains("single value")),
            "{located:?}"
        );
        assert!(
            located.iter().any(|p| p.contains("empty step")),
            "{located:?}"
        );
    }

    #[test]
    fn variable_names_are_checked() {
        assert!(is_valid_var_name("GITHUB_SECRET"));
        assert!(is_valid_var_name("_X1"));
        assert!(!is_valid_var_name(""));
        assert!(!is_valid_var_name("1ABC"));
        assert!(!is_valid_var_name("A-B"));
    }
}
