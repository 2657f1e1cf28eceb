//! A route's secrets: where each one is read from. Values never appear in errors or logs.

use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::env::Env;
use crate::secret_value::SecretValue;
use crate::units::{HumanDuration, Timestamp};

/// One signing secret: its name and exactly one source (`value`, `env`, `file`, `vault`
/// or `infisical`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// The secret's name, e.g. `primary` or `next`: letters, digits, `-`, `_`, unique in
    /// the route. Metrics and logs say which secret matched by this name (never the value).
    pub id: String,
    /// The secret itself. Convenient for a demo; in production prefer another source.
    #[serde(default)]
    pub value: Option<SecretValue>,
    /// The name of an environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// A file holding the secret (a trailing newline is ignored), e.g. a mounted
    /// Kubernetes Secret. A relative path is relative to this configuration file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A secret in HashiCorp Vault's KV version 2 engine.
    #[serde(default)]
    pub vault: Option<VaultRef>,
    /// A secret in Infisical.
    #[serde(default)]
    pub infisical: Option<InfisicalRef>,
    /// When the secret was last changed (RFC 3339). With `max_age`, an old secret is
    /// reported by metrics and logs.
    #[serde(default)]
    pub rotated_at: Option<Timestamp>,
    /// How old the secret may get before it is reported as due for rotation (`"90d"`).
    #[serde(default)]
    pub max_age: Option<HumanDuration>,
}

/// Where a secret is read from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SecretSource<'a> {
    /// Written in the file.
    Inline(&'a SecretValue),
    /// An environment variable of this name.
    Env(&'a str),
    /// A file at this path (as written; see [`SecretSpec::file_path`]).
    File(&'a Path),
    /// HashiCorp Vault.
    Vault(&'a VaultRef),
    /// Infisical.
    Infisical(&'a InfisicalRef),
}

impl SecretSource<'_> {
    /// `inline`, `env`, `file`, `vault` or `infisical`.
    pub fn kind(&self) -> &'static str {
        match self {
            SecretSource::Inline(_) => "inline",
            SecretSource::Env(_) => "env",
            SecretSource::File(_) => "file",
            SecretSource::Vault(_) => "vault",
            SecretSource::Infisical(_) => "infisical",
        }
    }
}

impl SecretSource<'_> {
    /// The key that sets this source in the file: `value`, `env`, `file`, `vault` or
    /// `infisical`.
    pub fn field(&self) -> &'static str {
        match self {
            SecretSource::Inline(_) => "value",
            other => other.kind(),
        }
    }
}

impl fmt::Display for SecretSource<'_> {
    /// The source without its value: `env GITHUB_SECRET`, `file /run/secrets/x`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("inline"),
            SecretSource::Env(name) => write!(f, "env {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Vault(v) => write!(f, "vault {}/{}#{}", v.mount, v.path, v.key),
            SecretSource::Infisical(i) => {
                let slash = if i.path.ends_with('/') { "" } else { "/" };
                write!(f, "infisical {}:{}{slash}{}", i.environment, i.path, i.name)
            }
        }
    }
}

/// Why a secret could not be read from a local source. Never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretSourceError {
    /// The spec names no source, or several.
    #[error("the secret names {0} sources")]
    SourceCount(usize),
    /// The environment variable is not set.
    #[error("environment variable {0} is not set")]
    EnvUnset(String),
    /// The file cannot be read.
    #[error("cannot read {path}: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        problem: String,
    },
    /// The secret is empty.
    #[error("the secret is empty")]
    Empty,
}

impl SecretSpec {
    /// The one source this secret names; `None` when it names none or several.
    pub fn source(&self) -> Option<SecretSource<'_>> {
        let mut sources = self.sources();
        match (sources.next(), sources.next()) {
            (Some(source), None) => Some(source),
            _ => None,
        }
    }

    /// Every source this secret names (validation requires exactly one).
    pub(crate) fn sources(&self) -> impl Iterator<Item = SecretSource<'_>> {
        [
            self.value.as_ref().map(SecretSource::Inline),
            self.env.as_deref().map(SecretSource::Env),
            self.file.as_deref().map(SecretSource::File),
            self.vault.as_ref().map(SecretSource::Vault),
            self.infisical.as_ref().map(SecretSource::Infisical),
        ]
        .into_iter()
        .flatten()
    }

    /// The path of a `file` source, resolved against `base_dir` (the configuration file's
    /// directory) when relative.
    pub fn file_path(&self, base_dir: &Path) -> Option<PathBuf> {
        self.file.as_ref().map(|f| base_dir.join(f))
    }

    /// Reads the secret from a local source (`value`, `env` or `file`); `Ok(None)` for the
    /// remote ones (`vault`, `infisical`), which the credentials layer fetches.
    pub fn resolve_local(
        &self,
        env: &dyn Env,
        base_dir: &Path,
    ) -> Result<Option<SecretValue>, SecretSourceError> {
        let value = match self.source() {
            None => return Err(SecretSourceError::SourceCount(self.sources().count())),
            Some(SecretSource::Inline(v)) => v.clone(),
            Some(SecretSource::Env(name)) => SecretValue::new(
                env.var(name)
                    .ok_or_else(|| SecretSourceError::EnvUnset(name.to_string()))?,
            ),
            Some(SecretSource::File(_)) => {
                let path = self.file_path(base_dir).unwrap_or_default();
                let text = std::fs::read_to_string(&path).map_err(|e| SecretSourceError::File {
                    path: path.clone(),
                    problem: e.to_string(),
                })?;
                let trimmed = text.strip_suffix('\n').unwrap_or(&text);
                let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
                let secret = SecretValue::new(trimmed);
                drop(zeroize::Zeroizing::new(text));
                secret
            }
            Some(SecretSource::Vault(_) | SecretSource::Infisical(_)) => return Ok(None),
        };
        if value.expose().is_empty() {
            return Err(SecretSourceError::Empty);
        }
        Ok(Some(value))
    }

    /// Whether the secret is older than its `max_age` at `now` (Unix seconds); `false`
    /// when either `rotated_at` or `max_age` is unset.
    pub fn is_overdue(&self, now: i64) -> bool {
        match (self.rotated_at, self.max_age) {
            (Some(at), Some(max)) => {
                now.saturating_sub(at.0.unix_timestamp())
                    > i64::try_from(max.get().as_secs()).unwrap_or(i64::MAX)
            }
            _ => false,
        }
    }
}

/// A secret in HashiCorp Vault's KV version 2 secrets engine.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultRef {
    /// Vault's address, e.g. `https://vault.example.com:8200`.
    pub addr: String,
    /// The KV v2 engine's mount path.
    #[serde(default = "default_vault_mount")]
    pub mount: String,
    /// The secret's path inside the mount, e.g. `hookguard/github`.
    pub path: String,
    /// The key inside the secret's data, e.g. `webhook_secret`.
    pub key: String,
    /// The Vault Enterprise namespace, if any.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The environment variable holding the Vault token.
    #[serde(default = "default_vault_token_env")]
    pub token_env: String,
}

fn default_vault_mount() -> String {
    "secret".into()
}

fn default_vault_token_env() -> String {
    "VAULT_TOKEN".into()
}

/// A secret in Infisical, read with a machine identity (Universal Auth).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InfisicalRef {
    /// Infisical's address: Infisical Cloud or a self-hosted instance.
    #[serde(default = "default_infisical_addr")]
    pub addr: String,
    /// The project's id (Infisical's API calls it the workspace id).
    #[serde(alias = "workspace_id")]
    pub project_id: String,
    /// The environment's slug, e.g. `prod`.
    pub environment: String,
    /// The folder holding the secret.
    #[serde(default = "default_infisical_path")]
    pub path: String,
    /// The secret's name (key) in Infisical.
    pub name: String,
    /// The environment variable holding the machine identity's client id.
    #[serde(default = "default_infisical_client_id_env")]
    pub client_id_env: String,
    /// The environment variable holding the machine identity's client secret.
    #[serde(default = "default_infisical_client_secret_env")]
    pub client_secret_env: String,
}

fn default_infisical_addr() -> String {
    "https://app.infisical.com".into()
}

fn default_infisical_path() -> String {
    "/".into()
}

fn default_infisical_client_id_env() -> String {
    "INFISICAL_CLIENT_ID".into()
}

fn default_infisical_client_secret_env() -> String {
    "INFISICAL_CLIENT_SECRET".into()
}
