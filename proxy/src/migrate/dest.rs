//! Writing secrets into the destination store: Vault KV v2 or Infisical.
//!
//! The layers' sources only read (the sidecar never writes); migration is the one writer,
//! so these small clients live here. Reads for verification go through the sidecar's own
//! source instead ([`crate::stack::ConfigSource`]), so a successful verify means the
//! sidecar will read what was written.
//!
//! - Vault KV v2 versions a whole path, not a key: a write reads the path, sets one key
//!   and writes the whole map back with `options.cas` set to the version read, so a
//!   concurrent writer is refused rather than overwritten
//!   (<https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#create-update-secret>).
//! - Infisical: `PATCH /api/v3/secrets/raw/{name}` updates, `POST` creates, `DELETE`
//!   removes; a machine identity logs in with Universal Auth first
//!   (<https://infisical.com/docs/api-reference/endpoints/secrets/create>).

use hookguard_config::{Env, InfisicalRef, SecretSpec, SystemEnv, VaultRef};
use reqwest::{Client, Method, Url};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{json, Map, Value};
use tokio::sync::OnceCell;

/// Why a store refused or could not be reached. Never contains a value or a token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DestError {
    /// No answer (connection refused, timeout).
    #[error("{method} {url}: {problem}")]
    Request {
        method: Method,
        url: String,
        problem: String,
    },
    /// The store answered with an error status.
    #[error("{method} {url}: HTTP {status}: {detail}")]
    Status {
        method: Method,
        url: String,
        status: u16,
        detail: String,
    },
}

/// Where one migrated secret goes, in the destination's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A key of a Vault KV v2 path.
    Vault { path: String, key: String },
    /// An Infisical secret name.
    Infisical { name: String },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Vault { path, key } => write!(f, "vault {path}#{key}"),
            Target::Infisical { name } => write!(f, "infisical {name}"),
        }
    }
}

/// Vault settings, from the command line.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct VaultDest {
    pub(crate) addr: String,
    pub(crate) mount: String,
    pub(crate) prefix: String,
    pub(crate) namespace: Option<String>,
    pub(crate) token_env: String,
}

/// Infisical settings, from the command line.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct InfisicalDest {
    pub(crate) addr: String,
    pub(crate) project_id: String,
    pub(crate) environment: String,
    pub(crate) path: String,
    pub(crate) prefix: String,
    pub(crate) client_id_env: String,
    pub(crate) client_secret_env: String,
}

/// Which store, and how to reach it (names of the variables holding credentials, never
/// the credentials: it is kept in the backup).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "to", rename_all = "lowercase")]
pub(crate) enum DestSpec {
    Vault(VaultDest),
    Infisical(InfisicalDest),
}

impl DestSpec {
    /// `vault https://…` / `infisical https://… project p env e`: for output and the journal.
    pub(crate) fn describe(&self) -> String {
        match self {
            DestSpec::Vault(v) => format!("vault {} mount {}", v.addr, v.mount),
            DestSpec::Infisical(i) => format!(
                "infisical {} project {} env {} path {}",
                i.addr, i.project_id, i.environment, i.path
            ),
        }
    }

    /// Where `route`'s secret `secret_id` goes: Vault path `{prefix}/{route}` key
    /// `{secret_id}`; Infisical name `{PREFIX}{ROUTE}_{SECRET_ID}` (letters, digits, `_`).
    pub(crate) fn target(&self, route: &str, secret_id: &str) -> Target {
        match self {
            DestSpec::Vault(v) => Target::Vault {
                path: format!("{}/{route}", v.prefix.trim_matches('/'))
                    .trim_start_matches('/')
                    .to_owned(),
                key: secret_id.to_owned(),
            },
            DestSpec::Infisical(i) => {
                let name: String = format!("{}{route}_{secret_id}", i.prefix)
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_uppercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
                Target::Infisical { name }
            }
        }
    }

    /// The secret spec that reads `target` (what the rewritten config says), keeping the
    /// original's id and rotation policy.
    pub(crate) fn spec(&self, original: &SecretSpec, target: &Target) -> SecretSpec {
        let mut spec = SecretSpec {
            id: original.id.clone(),
            value: None,
            env: None,
            file: None,
            vault: None,
            infisical: None,
            rotated_at: original.rotated_at,
            max_age: original.max_age,
        };
        match (self, target) {
            (DestSpec::Vault(v), Target::Vault { path, key }) => {
                spec.vault = Some(VaultRef {
                    addr: v.addr.clone(),
                    mount: v.mount.clone(),
                    path: path.clone(),
                    key: key.clone(),
                    namespace: v.namespace.clone(),
                    token_env: v.token_env.clone(),
                });
            }
            (DestSpec::Infisical(i), Target::Infisical { name }) => {
                spec.infisical = Some(InfisicalRef {
                    addr: i.addr.clone(),
                    project_id: i.project_id.clone(),
                    environment: i.environment.clone(),
                    path: i.path.clone(),
                    name: name.clone(),
                    client_id_env: i.client_id_env.clone(),
                    client_secret_env: i.client_secret_env.clone(),
                });
            }
            _ => {}
        }
        spec
    }

    /// A client, with its credentials read from the environment.
    pub(crate) fn connect(&self) -> Result<Store, String> {
        let var = |name: &str| {
            SystemEnv
                .var(name)
                .map(SecretString::from)
                .ok_or_else(|| format!("environment variable {name} is not set"))
        };
        let client = Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("hookguard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let base = |addr: &str| {
            Url::parse(addr)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
                .ok_or_else(|| format!("address {addr:?}: expected an http:// or https:// URL"))
        };
        Ok(match self {
            DestSpec::Vault(v) => Store::Vault {
                client,
                base: base(&v.addr)?,
                token: var(&v.token_env)?,
                spec: v.clone(),
            },
            DestSpec::Infisical(i) => Store::Infisical {
                client,
                base: base(&i.addr)?,
                client_id: var(&i.client_id_env)?,
                client_secret: var(&i.client_secret_env)?,
                token: OnceCell::new(),
                spec: i.clone(),
            },
        })
    }
}

/// A connected destination.
pub(crate) enum Store {
    Vault {
        client: Client,
        base: Url,
        token: SecretString,
        spec: VaultDest,
    },
    Infisical {
        client: Client,
        base: Url,
        client_id: SecretString,
        client_secret: SecretString,
        token: OnceCell<SecretString>,
        spec: InfisicalDest,
    },
}

fn url_with(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for segment in segments {
            path.extend(segment.split('/').filter(|s| !s.is_empty()));
        }
    }
    url
}

/// The URL without its query, for messages.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// Sends a request; the status and the JSON body (`Null` when there is none).
async fn send(request: reqwest::RequestBuilder) -> Result<(u16, Value), DestError> {
    let (client, built) = request.build_split();
    let built = built.map_err(|e| DestError::Request {
        method: Method::GET,
        url: String::new(),
        problem: hookguard_layers::error_chain(&e),
    })?;
    let (method, url) = (built.method().clone(), shown(built.url()));
    let response = client
        .execute(built)
        .await
        .map_err(|e| DestError::Request {
            method: method.clone(),
            url: url.clone(),
            problem: hookguard_layers::error_chain(&e),
        })?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// The store's own words for an error: Vault's `errors` list, Infisical's `message`.
fn detail(json: &Value) -> String {
    if let Some(errors) = json["errors"].as_array() {
        let joined: Vec<&str> = errors.iter().filter_map(Value::as_str).collect();
        if !joined.is_empty() {
            return joined.join("; ");
        }
    }
    json["message"]
        .as_str()
        .map(|m| m.chars().take(200).collect())
        .unwrap_or_else(|| "no detail".into())
}

fn refused(method: Method, url: &Url, status: u16, json: &Value) -> DestError {
    DestError::Status {
        method,
        url: shown(url),
        status,
        detail: detail(json),
    }
}

impl Store {
    /// The value held at `target` now, if any.
    pub(crate) async fn read(&self, target: &Target) -> Result<Option<String>, DestError> {
        match (self, target) {
            (Store::Vault { .. }, Target::Vault { path, key }) => {
                let (data, _) = self.vault_read(path).await?;
                Ok(data.get(key).and_then(Value::as_str).map(str::to_owned))
            }
            (Store::Infisical { .. }, Target::Infisical { name }) => {
                let url = self.infisical_url(name, true);
                let (status, json) = self.infisical_send(Method::GET, &url, None).await?;
                match status {
                    200 => Ok(json["secret"]["secretValue"].as_str().map(str::to_owned)),
                    404 => Ok(None),
                    _ => Err(refused(Method::GET, &url, status, &json)),
                }
            }
            _ => unreachable!("targets are made by the store's own DestSpec"),
        }
    }

    /// Sets `target` to `value` (`None`: removes it).
    pub(crate) async fn put(&self, target: &Target, value: Option<&str>) -> Result<(), DestError> {
        match (self, target) {
            (Store::Vault { .. }, Target::Vault { path, key }) => {
                let (mut data, version) = self.vault_read(path).await?;
                match value {
                    Some(value) => {
                        data.insert(key.clone(), Value::String(value.to_owned()));
                    }
                    None => {
                        data.remove(key);
                    }
                }
                let url = self.vault_url(path);
                let body = json!({ "options": { "cas": version }, "data": data });
                let (status, json) = self.vault_send(Method::POST, &url, Some(body)).await?;
                if (200..300).contains(&status) {
                    Ok(())
                } else {
                    Err(refused(Method::POST, &url, status, &json))
                }
            }
            (Store::Infisical { spec, .. }, Target::Infisical { name }) => {
                let url = self.infisical_url(name, false);
                let mut body = json!({
                    "workspaceId": spec.project_id,
                    "environment": spec.environment,
                    "secretPath": spec.path,
                    "type": "shared",
                });
                let Some(value) = value else {
                    let (status, json) = self
                        .infisical_send(Method::DELETE, &url, Some(body))
                        .await?;
                    return match status {
                        200..=299 | 404 => Ok(()),
                        _ => Err(refused(Method::DELETE, &url, status, &json)),
                    };
                };
                body["secretValue"] = json!(value);
                // Update first; create when it does not exist. Either order is idempotent,
                // which a resumed run relies on.
                let (status, json) = self
                    .infisical_send(Method::PATCH, &url, Some(body.clone()))
                    .await?;
                match status {
                    200..=299 => Ok(()),
                    404 => {
                        let (status, json) =
                            self.infisical_send(Method::POST, &url, Some(body)).await?;
                        if (200..300).contains(&status) {
                            Ok(())
                        } else {
                            Err(refused(Method::POST, &url, status, &json))
                        }
                    }
                    _ => Err(refused(Method::PATCH, &url, status, &json)),
                }
            }
            _ => unreachable!("targets are made by the store's own DestSpec"),
        }
    }

    fn vault_url(&self, path: &str) -> Url {
        let Store::Vault { base, spec, .. } = self else {
            unreachable!()
        };
        url_with(base, &["v1", &spec.mount, "data", path])
    }

    async fn vault_send(
        &self,
        method: Method,
        url: &Url,
        body: Option<Value>,
    ) -> Result<(u16, Value), DestError> {
        let Store::Vault {
            client,
            token,
            spec,
            ..
        } = self
        else {
            unreachable!()
        };
        let mut token =
            reqwest::header::HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                DestError::Request {
                    method: method.clone(),
                    url: shown(url),
                    problem: format!("${} is not a valid header value", spec.token_env),
                }
            })?;
        token.set_sensitive(true);
        let mut request = client
            .request(method, url.clone())
            .header("x-vault-token", token);
        if let Some(namespace) = &spec.namespace {
            request = request.header("x-vault-namespace", namespace);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// The path's keys and its current version (`0`: the path does not exist).
    async fn vault_read(&self, path: &str) -> Result<(Map<String, Value>, u64), DestError> {
        let url = self.vault_url(path);
        let (status, json) = self.vault_send(Method::GET, &url, None).await?;
        match status {
            200 => Ok((
                json["data"]["data"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                json["data"]["metadata"]["version"].as_u64().unwrap_or(0),
            )),
            404 => Ok((Map::new(), 0)),
            _ => Err(refused(Method::GET, &url, status, &json)),
        }
    }

    fn infisical_url(&self, name: &str, query: bool) -> Url {
        let Store::Infisical { base, spec, .. } = self else {
            unreachable!()
        };
        let mut url = url_with(base, &["api", "v3", "secrets", "raw"]);
        if let Ok(mut path) = url.path_segments_mut() {
            path.push(name);
        }
        if query {
            url.query_pairs_mut()
                .append_pair("workspaceId", &spec.project_id)
                .append_pair("environment", &spec.environment)
                .append_pair("secretPath", &spec.path);
        }
        url
    }

    async fn infisical_token(&self) -> Result<&SecretString, DestError> {
        let Store::Infisical {
            client,
            base,
            client_id,
            client_secret,
            token,
            ..
        } = self
        else {
            unreachable!()
        };
        token
            .get_or_try_init(|| async {
                let url = url_with(base, &["api", "v1", "auth", "universal-auth", "login"]);
                let body = json!({
                    "clientId": client_id.expose_secret(),
                    "clientSecret": client_secret.expose_secret(),
                });
                let (status, json) = send(client.post(url.clone()).json(&body)).await?;
                match json["accessToken"].as_str() {
                    Some(token) if status == 200 => Ok(SecretString::from(token)),
                    _ => Err(refused(Method::POST, &url, status, &json)),
                }
            })
            .await
    }

    async fn infisical_send(
        &self,
        method: Method,
        url: &Url,
        body: Option<Value>,
    ) -> Result<(u16, Value), DestError> {
        let token = self.infisical_token().await?;
        let Store::Infisical { client, .. } = self else {
            unreachable!()
        };
        let mut request = client
            .request(method, url.clone())
            .bearer_auth(token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }
}
