//! [`VaultSource`]: secrets from HashiCorp Vault's KV version 2 engine.
//!
//! One route reads one Vault secret (a path holding several keys):
//! `GET {addr}/v1/{mount}/data/{path}` with the `X-Vault-Token` header (and
//! `X-Vault-Namespace` when set). The answer's `data.data` object holds the keys,
//! `data.metadata.created_time` the time this version was written, reported as every
//! key's rotation time (KV v2 versions the path, not each key). See
//! <https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version>.

use std::collections::HashMap;
use std::time::Duration;

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use super::remote::{
    client, join_segments, parse_base_url, rfc3339_unix, send_json, shown, status_text,
    DEFAULT_REQUEST_TIMEOUT,
};
use super::secret::{SecretEntry, SecretSet};
use super::source::{collect_refs, refs_of, CredentialSource, FetchFuture, SecretRef, SourceError};

#[derive(Debug)]
struct VaultRoute {
    path: String,
    secrets: Vec<SecretRef>,
}

/// Reads secrets from a Vault KV v2 mount. `SecretRef::name` is a key inside the route's
/// Vault secret.
pub struct VaultSource {
    client: reqwest::Client,
    addr: url::Url,
    mount: String,
    token: SecretString,
    namespace: Option<String>,
    routes: HashMap<String, VaultRoute>,
}

impl std::fmt::Debug for VaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSource")
            .field("addr", &self.addr.as_str())
            .field("mount", &self.mount)
            .field("namespace", &self.namespace)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl VaultSource {
    /// A source for the Vault at `addr` (`https://vault.example.com:8200`), reading the
    /// `secret` mount with `token`.
    pub fn new(addr: &str, token: impl Into<SecretString>) -> Result<Self, SourceError> {
        Ok(Self {
            client: client(DEFAULT_REQUEST_TIMEOUT)?,
            addr: parse_base_url(addr)?,
            mount: "secret".to_owned(),
            token: token.into(),
            namespace: None,
            routes: HashMap::new(),
        })
    }

    /// The KV v2 mount path (default `secret`).
    pub fn mount(mut self, mount: impl Into<String>) -> Self {
        self.mount = mount.into().trim_matches('/').to_owned();
        self
    }

    /// The Vault Enterprise namespace, sent as `X-Vault-Namespace`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The timeout of one HTTP request (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Result<Self, SourceError> {
        self.client = client(timeout)?;
        Ok(self)
    }

    /// `route`'s secrets are keys of the Vault secret at `path` (inside the mount).
    pub fn route(
        mut self,
        route: impl Into<String>,
        path: impl Into<String>,
        secrets: impl IntoIterator<Item = SecretRef>,
    ) -> Self {
        self.routes.insert(
            route.into(),
            VaultRoute {
                path: path.into().trim_matches('/').to_owned(),
                secrets: secrets.into_iter().collect(),
            },
        );
        self
    }

    async fn read(&self, route: &VaultRoute) -> Result<SecretSet, SourceError> {
        let url = join_segments(
            &self.addr,
            ["v1"]
                .into_iter()
                .chain(self.mount.split('/'))
                .chain(["data"])
                .chain(route.path.split('/')),
        );
        let mut token = HeaderValue::from_str(self.token.expose_secret()).map_err(|_| {
            SourceError::Config("the Vault token is not a valid header value".into())
        })?;
        token.set_sensitive(true);
        let mut request = self.client.get(url.clone()).header("x-vault-token", token);
        if let Some(namespace) = &self.namespace {
            request = request.header("x-vault-namespace", namespace);
        }
        let (status, json) = send_json(request, &url).await?;
        match status {
            200 => {}
            404 => {
                return Err(SourceError::Missing {
                    what: "vault secret",
                    name: format!("{}/{}", self.mount, route.path),
                })
            }
            _ => {
                // Vault answers `{"errors": ["permission denied"]}`: messages, not data.
                let detail = json["errors"]
                    .as_array()
                    .map(|errors| {
                        errors
                            .iter()
                            .filter_map(|e| e.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| status_text(status));
                return Err(SourceError::Status {
                    url: shown(&url),
                    status,
                    detail,
                });
            }
        }
        let Some(data) = json["data"]["data"].as_object() else {
            return Err(SourceError::Request {
                url: shown(&url),
                problem: "no data.data object: is this a KV version 2 mount?".into(),
            });
        };
        let rotated_at = json["data"]["metadata"]["created_time"]
            .as_str()
            .and_then(rfc3339_unix);
        collect_refs(&route.secrets, "vault key", |secret| {
            let Some(value) = data.get(&secret.name) else {
                return Ok(None);
            };
            let Some(text) = value.as_str().filter(|t| !t.is_empty()) else {
                return Err(SourceError::Invalid {
                    what: "vault key",
                    name: format!("{}#{}", route.path, secret.name),
                    problem: "not a non-empty string",
                });
            };
            let mut entry = SecretEntry::new(secret.id.clone(), text);
            entry.rotated_at = rotated_at;
            Ok(Some(entry))
        })
    }
}

impl CredentialSource for VaultSource {
    fn name(&self) -> &str {
        "vault"
    }

    fn fetch<'a>(&'a self, route: &'a str) -> FetchFuture<'a> {
        Box::pin(async move { self.read(refs_of(&self.routes, route)?).await })
    }
}

#[cfg(test)]
mod tests;
