//! [`Env`]: read access to environment variables, so tests never call `std::env::set_var`.
//! One trait for the workspace: the credentials' [`EnvSource`] reads secrets through it,
//! and hookguard's configuration reads `env` secrets and `HOOKGUARD__…` overrides through
//! it.
//!
//! [`EnvSource`]: https://docs.rs/hookguard-layers/latest/hookguard_layers/credentials/struct.EnvSource.html
//!
//! ```
//! use std::collections::HashMap;
//! use hookguard_layers::env::Env;
//!
//! let env = HashMap::from([("HOOKGUARD__MODE".to_string(), "shadow".to_string())]);
//! assert_eq!(env.var("HOOKGUARD__MODE").as_deref(), Some("shadow"));
//! assert_eq!(env.vars_with_prefix("HOOKGUARD__").len(), 1);
//! assert_eq!(env.var("HOME"), None);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;

/// Read access to environment variables.
pub trait Env: Send + Sync + 'static {
    /// The variable's value as the OS holds it, if set.
    fn var_os(&self, name: &str) -> Option<OsString>;

    /// The variable's value, if it is set and is Unicode.
    fn var(&self, name: &str) -> Option<String> {
        self.var_os(name)?.into_string().ok()
    }

    /// Every variable whose name starts with `prefix`, with its value (Unicode ones only).
    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn var_os(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }

    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with(prefix))
            .collect()
    }
}

impl Env for HashMap<String, String> {
    fn var_os(&self, name: &str) -> Option<OsString> {
        self.get(name).map(OsString::from)
    }

    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl Env for BTreeMap<String, String> {
    fn var_os(&self, name: &str) -> Option<OsString> {
        self.get(name).map(OsString::from)
    }

    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
