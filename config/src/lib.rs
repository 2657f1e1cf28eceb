//! hookguard's configuration file: schema, loading, validation, environment overrides and
//! hot reload.
//!
//! One file, TOML or YAML with the same schema (chosen by the extension), that ops edit:
//! where the sidecar listens, the app behind it, defaults, and the webhook routes. Unknown
//! keys are errors. Loading validates the whole file and reports every problem at once,
//! each as `FILE:LINE:COL: PATH: what is wrong; expected what`. Secrets never appear in
//! errors, `Debug` output or the [`Config::summary`].
//!
//! Conventions of the file:
//! - durations are strings with a unit: `"500ms"`, `"10s"`, `"5m"`, `"1h 30m"`;
//! - sizes are a number of bytes or a string with a unit: `"1MiB"`, `"64KiB"`;
//! - a tolerance is a duration or `"off"`;
//! - relative paths are relative to the configuration file's directory;
//! - `HOOKGUARD__SECTION__KEY=value` overrides a value (see [`env`]).
//!
//! ```
//! use hookguard_config::{Config, Format, Lookup, Router};
//! use std::collections::HashMap;
//!
//! let toml = r#"
//! listen = "127.0.0.1:8080"
//! upstream.address = "127.0.0.1:3000"
//!
//! [[routes]]
//! id = "github"
//! match.path = "/webhooks/github"
//! scheme = "github"
//! secrets = [{ id = "primary", env = "GITHUB_WEBHOOK_SECRET" }]
//! "#;
//! let env = HashMap::from([("GITHUB_WEBHOOK_SECRET".to_string(), "s3cret".to_string())]);
//! let config = Config::from_text(toml, Format::Toml, "hookguard.toml".as_ref(), &env).unwrap();
//! assert_eq!(config.routes[0].scheme, "github");
//! assert_eq!(Router::new(&config).lookup("/webhooks/github"), Lookup::Route { index: 0 });
//!
//! // Every problem, with where it is and what was expected:
//! let bad = toml.replace("\"github\"\nsecrets", "\"githb\"\nsecrets").replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:8080\"\ncolour = \"blue\"");
//! let err = Config::from_text(&bad, Format::Toml, "hookguard.toml".as_ref(), &env).unwrap_err();
//! let text = err.to_string();
//! assert!(text.contains("hookguard.toml:3:1: colour: unknown key `colour`"), "{text}");
//! assert!(text.contains("hookguard.toml:9:10: routes[0].scheme: unknown scheme \"githb\"; expected one of github,"), "{text}");
//! ```
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod document;
pub mod env;
mod error;
#[cfg(test)]
mod example_files;
#[doc(hidden)]
pub mod fuzzing;
mod load;
mod path;
mod reload;
mod router;
mod schema;
mod secret_value;
mod summary;
pub mod units;
mod validate;

pub use document::Format;
pub use env::{Env, SystemEnv, ENV_PREFIX};
pub use error::{ConfigError, Problem};
pub use load::Loader;
pub use path::{FieldPath, Location, Segment, SourceMap};
pub use reload::{ConfigWatcher, LiveConfig, ReloadStatus, WatchOptions};
pub use router::{is_valid_key, Lookup, Router};
pub use schema::*;
pub use secret_value::SecretValue;
pub use summary::json_schema;
pub use units::{ByteSize, HumanDuration, Timestamp, Tolerance};

/// The scheme names a route may use (the same list as the CLI's `--scheme`).
pub use hookguard_layers::verify::schemes::NAMES as SCHEME_NAMES;
