//! Loading: read the file, parse it, apply environment overrides, read the schema, validate.
//!
//! Reading the schema goes on past a mistake where it can, so that one run reports every
//! problem: each route is read on its own, an unknown key is noted and dropped, and a
//! value of the wrong type in an optional field is noted and left at its default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::document::{self, Format};
use crate::env::{apply_overrides, Env, SystemEnv};
use crate::error::{ConfigError, Issue, Problem};
use crate::path::{FieldPath, Location, Segment};
use crate::schema::{Config, Route, Source};
use crate::validate::Validator;

/// Loads a configuration file: `Loader::new("hookguard.toml").load()`.
#[derive(Clone)]
pub struct Loader {
    path: PathBuf,
    env: Arc<dyn Env>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Loader {
    /// A loader for the file at `path`, reading the process environment.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            env: Arc::new(SystemEnv),
        }
    }

    /// Reads environment variables (overrides and `env` secrets) from `env` instead.
    pub fn with_env(mut self, env: Arc<dyn Env>) -> Self {
        self.env = env;
        self
    }

    /// The file this loader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The environment this loader reads.
    pub fn env(&self) -> &dyn Env {
        &*self.env
    }

    /// Reads, parses, overrides and validates the file.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let text = self.read()?;
        self.load_text(&text)
    }

    /// Like [`Loader::load`], with the file's text already read.
    pub(crate) fn load_text(&self, text: &str) -> Result<Config, ConfigError> {
        let format = Format::from_path(&self.path).ok_or_else(|| {
            whole_file(
                &self.path,
                "the file name does not say its format",
                "a name ending in .toml, .yaml or .yml",
            )
        })?;
        Config::from_text(text, format, &self.path, &*self.env)
    }

    pub(crate) fn read(&self) -> Result<String, ConfigError> {
        std::fs::read_to_string(&self.path).map_err(|e| {
            whole_file(
                &self.path,
                &format!("cannot read the file: {e}"),
                "a readable UTF-8 file",
            )
        })
    }
}

fn whole_file(path: &Path, message: &str, expected: &str) -> ConfigError {
    ConfigError::new(vec![Problem {
        location: Some(Location::Whole { file: path.into() }),
        path: FieldPath::root(),
        message: message.into(),
        expected: Some(expected.into()),
    }])
}

impl Config {
    /// Loads and validates the file at `path`, with overrides from the process environment.
    pub fn load(path: impl Into<PathBuf>) -> Result<Config, ConfigError> {
        Loader::new(path).load()
    }

    /// Reads a configuration from `text` in `format`. `file` names it in error messages and
    /// is the base of relative paths. Environment overrides and `env` secrets come from `env`.
    pub fn from_text(
        text: &str,
        format: Format,
        file: &Path,
        env: &dyn Env,
    ) -> Result<Config, ConfigError> {
        let mut doc = document::parse(text, format, file).map_err(ConfigError::new)?;
        let mut issues = apply_overrides(&mut doc, env);
        let map = Arc::new(doc.map);
        let mut reader = Reader::default();
        let parsed = reader.config(doc.tree);

        let mut validator = Validator::new(env, map.base_dir());
        let defaults = parsed
            .top
            .as_ref()
            .map(|c| c.defaults.clone())
            .unwrap_or_default();
        if let Some(top) = &parsed.top {
            validator.top(top);
        }
        let routes: Vec<(usize, &Route)> = parsed
            .routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
            .collect();
        for &(i, route) in &routes {
            validator.route(i, route, &defaults);
        }
        validator.across(&routes, parsed.routes.len(), parsed.top.as_ref());
        // A value already reported as unreadable is not reported again as, say, missing.
        issues.extend(
            validator
                .finish()
                .into_iter()
                .filter(|i| !reader.dropped.iter().any(|d| i.path.starts_with(d))),
        );
        issues.extend(reader.issues);

        match parsed.top {
            Some(mut config) if issues.is_empty() => {
                config.routes = parsed.routes.into_iter().flatten().collect();
                config.source = Source(Some(map));
                Ok(config)
            }
            _ => Err(ConfigError::new(
                issues.into_iter().map(|i| i.locate(Some(&map))).collect(),
            )),
        }
    }
}

struct Parsed {
    top: Option<Config>,
    routes: Vec<Option<Route>>,
}

#[derive(Default)]
struct Reader {
    issues: Vec<Issue>,
    /// Values that could not be read and were left out.
    dropped: Vec<FieldPath>,
}

impl Reader {
    fn config(&mut self, mut tree: Value) -> Parsed {
        let root = FieldPath::root();
        let Some(table) = tree.as_object_mut() else {
            self.issues.push(
                Issue::new(root, "the file is not a table of settings")
                    .expected("keys such as `upstream` and `routes`"),
            );
            return Parsed {
                top: None,
                routes: Vec::new(),
            };
        };
        // Routes are read one at a time so that each one's mistakes are all reported.
        let routes_path = root.key("routes");
        let routes = match table.remove("routes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| self.read::<Route>(item, &routes_path.index(i)))
                .collect(),
            Some(_) => {
                self.issues.push(
                    Issue::new(routes_path, "`routes` is not a list")
                        .expected("a list of routes (`[[routes]]` tables in TOML)"),
                );
                Vec::new()
            }
        };
        let top = self.read::<Config>(tree, &root);
        Parsed { top, routes }
    }

    /// Reads a `T` at `base`, going on past unknown keys and bad optional values.
    fn read<T: DeserializeOwned>(&mut self, mut value: Value, base: &FieldPath) -> Option<T> {
        let mut last_dropped: Option<(FieldPath, String)> = None;
        for _ in 0..256 {
            // From a borrow: a route with 100,000 keys is not copied for each attempt.
            let error = match serde_path_to_error::deserialize::<_, T>(&value) {
                Ok(t) => return Some(t),
                Err(e) => e,
            };
            let relative = relative_path(error.path());
            let mut path = base.clone();
            for segment in relative.segments() {
                path.push(segment.clone());
            }
            let mut text = error.into_inner().to_string();
            if is_sensitive(&path) {
                text = hide_value(&text);
            }
            if let Some((dropped, key)) = &last_dropped {
                // Dropping a required value makes it missing: already reported.
                if text == format!("missing field `{key}`") && path == dropped.parent() {
                    return None;
                }
            }
            let unknown = text.starts_with("unknown field");
            self.issues.push(serde_issue(path.clone(), &text, unknown));
            match relative.segments().last() {
                Some(Segment::Key(key)) if remove(&mut value, &relative) => {
                    self.dropped.push(path.clone());
                    last_dropped = Some((path, key.clone()));
                }
                _ => {
                    self.dropped.push(path);
                    return None;
                }
            }
        }
        None
    }
}

fn relative_path(path: &serde_path_to_error::Path) -> FieldPath {
    let segments = path
        .iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
            _ => None,
        })
        .collect();
    FieldPath::from_segments(segments)
}

/// Turns serde's message into what is wrong and what was expected.
fn serde_issue(path: FieldPath, text: &str, unknown_key: bool) -> Issue {
    let text = text
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key");
    let (message, expected) = match text.split_once("; expected ") {
        Some((m, e)) => (m.to_string(), Some(e.to_string())),
        None => match text.split_once(", expected ") {
            Some((m, e)) => (m.to_string(), Some(e.to_string())),
            None => (text.clone(), None),
        },
    };
    let expected = expected.or_else(|| {
        text.strip_prefix("missing key ")
            .map(|key| format!("{key} to be set here"))
    });
    let expected = expected.map(|e| {
        if unknown_key && !e.starts_with("one of") {
            format!("one of {e}")
        } else {
            e
        }
    });
    let mut issue = Issue::new(path, message);
    issue.expected = expected;
    if unknown_key {
        issue = issue.at_key();
    }
    issue
}

/// Secrets and route keys: a value of the wrong type there may still be a secret.
fn is_sensitive(path: &FieldPath) -> bool {
    path.segments()
        .iter()
        .any(|s| matches!(s, Segment::Key(k) if k == "secrets" || k == "keys"))
}

/// serde quotes the value it did not expect (`invalid type: string "…", expected …`):
/// keep the kind, drop the value.
fn hide_value(text: &str) -> String {
    for prefix in ["invalid type: string ", "invalid value: string "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let tail = rest.rfind(", expected ").map_or("", |i| &rest[i..]);
            return format!("{prefix}(value not shown){tail}");
        }
    }
    text.to_string()
}

fn remove(value: &mut Value, path: &FieldPath) -> bool {
    let Some((Segment::Key(last), parents)) = path.segments().split_last() else {
        return false;
    };
    let mut node = value;
    for segment in parents {
        node = match (segment, node) {
            (Segment::Key(k), Value::Object(map)) => match map.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Index(i), Value::Array(items)) => match items.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    node.as_object_mut()
        .is_some_and(|map| map.remove(last).is_some())
}
