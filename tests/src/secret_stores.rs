//! Local stand-ins for HashiCorp Vault (KV v2) and Infisical, which cannot run here: real
//! HTTP servers on `127.0.0.1:0` speaking the documented endpoints the CLI and sidecar use,
//! with state, a record of writes, and faults a test can switch on (fail after N writes,
//! store a different value than was sent).
//!
//! - Vault: `GET`/`POST /v1/secret/data/{path}` with `X-Vault-Token`; a write carries
//!   `{"data": {...}, "options": {"cas": N}}` and is refused when `cas` is not the current
//!   version (developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2).
//! - Infisical: Universal Auth login, then `GET`/`POST`/`PATCH`/`DELETE
//!   /api/v3/secrets/raw/{name}` with a bearer token; the project, environment and folder
//!   come in the query (`GET`) or the JSON body (writes) (infisical.com/docs/api-reference).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

type Answer = (StatusCode, Json<Value>);

/// Faults and the write log of a stand-in (see [`FaultControl`]).
#[derive(Default)]
pub struct Faults {
    /// Accepted writes so far, each `where#key` (Vault) or `name` (Infisical).
    writes: Vec<String>,
    /// Accepted write requests (a Vault write may change several keys, or none).
    accepted: usize,
    /// After this many accepted write requests, writes answer 500.
    fail_after: Option<usize>,
    /// Store each written value with `-tampered` appended.
    tamper: bool,
    /// Hold each write this long before answering (to kill a client mid-run).
    delay: std::time::Duration,
}

impl Faults {
    fn refuse(&self) -> Option<Answer> {
        match self.fail_after {
            Some(n) if self.accepted >= n => Some((
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"errors": ["internal error"], "message": "internal error"})),
            )),
            _ => None,
        }
    }

    fn stored(&self, value: &str) -> String {
        if self.tamper {
            format!("{value}-tampered")
        } else {
            value.to_owned()
        }
    }
}

/// Switches faults and reads the write log; both stand-ins have it.
pub trait FaultControl {
    /// Runs `f` on the stand-in's faults and write log.
    fn with_faults<R>(&self, f: impl FnOnce(&mut Faults) -> R) -> R;

    /// Every accepted change so far: `path#key` (`path#key removed`) for Vault, the secret
    /// name (`name removed`) for Infisical.
    fn writes(&self) -> Vec<String> {
        self.with_faults(|f| f.writes.clone())
    }

    /// How many write requests were accepted.
    fn accepted(&self) -> usize {
        self.with_faults(|f| f.accepted)
    }

    /// Writes after the first `n` accepted ones answer 500; `None` heals.
    fn fail_after(&self, n: Option<usize>) {
        self.with_faults(|f| f.fail_after = n);
    }

    /// Store a different value than the one written.
    fn tamper(&self, on: bool) {
        self.with_faults(|f| f.tamper = on);
    }

    /// Hold every write this long before storing it and answering.
    fn delay_writes(&self, delay: std::time::Duration) {
        self.with_faults(|f| f.delay = delay);
    }
}

fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

#[derive(Default)]
struct VaultState {
    token: String,
    /// path → (data, version)
    paths: HashMap<String, (Map<String, Value>, u64)>,
    /// path → the `created_time` its reads report (default: now)
    created: HashMap<String, String>,
    faults: Faults,
}

/// A Vault KV v2 stand-in (mount `secret`).
#[derive(Clone)]
pub struct VaultServer {
    addr: SocketAddr,
    state: Arc<Mutex<VaultState>>,
}

fn forbidden() -> Answer {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"errors": ["permission denied"]})),
    )
}

async fn vault_read(
    State(state): State<Arc<Mutex<VaultState>>>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Answer {
    let state = state.lock().unwrap();
    if headers.get("x-vault-token").and_then(|v| v.to_str().ok()) != Some(state.token.as_str()) {
        return forbidden();
    }
    match state.paths.get(&path) {
        Some((data, version)) => (
            StatusCode::OK,
            Json(json!({"data": {
                "data": data,
                "metadata": {
                    "created_time": state.created.get(&path).cloned().unwrap_or_else(rfc3339_now),
                    "version": version,
                },
            }})),
        ),
        None => (StatusCode::NOT_FOUND, Json(json!({"errors": []}))),
    }
}

async fn vault_write(
    State(state): State<Arc<Mutex<VaultState>>>,
    headers: HeaderMap,
    Path(path): Path<String>,
    Json(body): Json<Value>,
) -> Answer {
    let delay = state.lock().unwrap().faults.delay;
    tokio::time::sleep(delay).await;
    let mut state = state.lock().unwrap();
    if headers.get("x-vault-token").and_then(|v| v.to_str().ok()) != Some(state.token.as_str()) {
        return forbidden();
    }
    if let Some(refused) = state.faults.refuse() {
        return refused;
    }
    let Some(data) = body["data"].as_object() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": ["no data provided"]})),
        );
    };
    let (old, version) = state.paths.get(&path).cloned().unwrap_or_default();
    if let Some(cas) = body["options"]["cas"].as_u64() {
        if cas != version {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"errors": [
                    "check-and-set parameter did not match the current version"
                ]})),
            );
        }
    }
    let mut stored = Map::new();
    for (key, value) in data {
        let value = match value.as_str() {
            Some(text) if old.get(key) != Some(value) => {
                state.faults.writes.push(format!("{path}#{key}"));
                Value::String(state.faults.stored(text))
            }
            _ => value.clone(),
        };
        stored.insert(key.clone(), value);
    }
    for key in old.keys().filter(|k| !data.contains_key(*k)) {
        state.faults.writes.push(format!("{path}#{key} removed"));
    }
    state.paths.insert(path, (stored, version + 1));
    state.faults.accepted += 1;
    (
        StatusCode::OK,
        Json(json!({"data": {"created_time": rfc3339_now(), "version": version + 1}})),
    )
}

impl VaultServer {
    /// Starts on a free port; requests must carry `token`.
    pub async fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(VaultState {
            token: token.to_owned(),
            ..VaultState::default()
        }));
        let router = Router::new()
            .route("/v1/secret/data/{*path}", get(vault_read).post(vault_write))
            .with_state(state.clone());
        Self {
            addr: serve(router).await,
            state,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets `path`'s `key` directly (not logged as a write).
    pub fn seed(&self, path: &str, key: &str, value: &str) {
        let mut state = self.state.lock().unwrap();
        let entry = state.paths.entry(path.to_owned()).or_default();
        entry
            .0
            .insert(key.to_owned(), Value::String(value.to_owned()));
        entry.1 += 1;
    }

    /// Makes reads of `path` report `created_time` (RFC 3339) as its version's write time.
    pub fn created_at(&self, path: &str, created_time: &str) {
        let mut state = self.state.lock().unwrap();
        state
            .created
            .insert(path.to_owned(), created_time.to_owned());
    }

    /// What `path`'s `key` holds.
    pub fn get(&self, path: &str, key: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        state
            .paths
            .get(path)?
            .0
            .get(key)?
            .as_str()
            .map(str::to_owned)
    }

    /// Whether `path` holds `key` at all.
    pub fn has(&self, path: &str, key: &str) -> bool {
        self.get(path, key).is_some()
    }
}

#[derive(Default)]
struct InfisicalState {
    client_id: String,
    client_secret: String,
    /// (project, environment, folder, name) → value
    secrets: BTreeMap<(String, String, String, String), String>,
    faults: Faults,
}

/// An Infisical stand-in: Universal Auth and the v3 raw secrets endpoints.
#[derive(Clone)]
pub struct InfisicalServer {
    addr: SocketAddr,
    state: Arc<Mutex<InfisicalState>>,
}

const ACCESS_TOKEN: &str = "Bearer infisical-access-token";

async fn infisical_login(
    State(state): State<Arc<Mutex<InfisicalState>>>,
    Json(body): Json<Value>,
) -> Answer {
    let state = state.lock().unwrap();
    if body["clientId"] == state.client_id.as_str()
        && body["clientSecret"] == state.client_secret.as_str()
    {
        (
            StatusCode::OK,
            Json(json!({
                "accessToken": "infisical-access-token", "expiresIn": 7200, "tokenType": "Bearer",
            })),
        )
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Invalid credentials"})),
        )
    }
}

fn key_of(fields: &Value, name: &str) -> (String, String, String, String) {
    let text = |k: &str, default: &str| fields[k].as_str().unwrap_or(default).to_owned();
    (
        text("workspaceId", ""),
        text("environment", ""),
        text("secretPath", "/"),
        name.to_owned(),
    )
}

fn unauthorized(headers: &HeaderMap) -> Option<Answer> {
    (headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(ACCESS_TOKEN)).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Token missing or invalid"})),
        )
    })
}

fn not_found() -> Answer {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": "Secret not found"})),
    )
}

async fn infisical_read(
    State(state): State<Arc<Mutex<InfisicalState>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let state = state.lock().unwrap();
    let query = json!(query);
    match state.secrets.get(&key_of(&query, &name)) {
        Some(value) => (
            StatusCode::OK,
            Json(json!({"secret": {
                "secretKey": name, "secretValue": value, "updatedAt": rfc3339_now(),
                "version": 1, "type": "shared",
            }})),
        ),
        None => not_found(),
    }
}

async fn infisical_write(
    State(state): State<Arc<Mutex<InfisicalState>>>,
    method: axum::http::Method,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Answer {
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let delay = state.lock().unwrap().faults.delay;
    tokio::time::sleep(delay).await;
    let mut state = state.lock().unwrap();
    if let Some(refused) = state.faults.refuse() {
        return refused;
    }
    let key = key_of(&body, &name);
    let exists = state.secrets.contains_key(&key);
    if method == axum::http::Method::DELETE {
        if state.secrets.remove(&key).is_none() {
            return not_found();
        }
        state.faults.writes.push(format!("{name} removed"));
        state.faults.accepted += 1;
        return (StatusCode::OK, Json(json!({"secret": {"secretKey": name}})));
    }
    let Some(value) = body["secretValue"].as_str() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "secretValue: Required"})),
        );
    };
    match (method.as_str(), exists) {
        ("POST", true) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"message": "Secret already exist"})),
            )
        }
        ("PATCH", false) => return not_found(),
        _ => {}
    }
    let stored = state.faults.stored(value);
    state.secrets.insert(key, stored);
    state.faults.writes.push(name.clone());
    state.faults.accepted += 1;
    (
        StatusCode::OK,
        Json(json!({"secret": {"secretKey": name, "version": 1, "type": "shared"}})),
    )
}

impl InfisicalServer {
    /// Starts on a free port; the machine identity is `client_id` / `client_secret`.
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        let state = Arc::new(Mutex::new(InfisicalState {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            ..InfisicalState::default()
        }));
        let router = Router::new()
            .route("/api/v1/auth/universal-auth/login", post(infisical_login))
            .route(
                "/api/v3/secrets/raw/{name}",
                get(infisical_read)
                    .post(infisical_write)
                    .patch(infisical_write)
                    .delete(infisical_write),
            )
            .with_state(state.clone());
        Self {
            addr: serve(router).await,
            state,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets a secret directly (not logged as a write).
    pub fn seed(&self, project: &str, environment: &str, folder: &str, name: &str, value: &str) {
        let key = (
            project.into(),
            environment.into(),
            folder.into(),
            name.into(),
        );
        self.state.lock().unwrap().secrets.insert(key, value.into());
    }

    /// What a secret holds.
    pub fn get(
        &self,
        project: &str,
        environment: &str,
        folder: &str,
        name: &str,
    ) -> Option<String> {
        let key = (
            project.into(),
            environment.into(),
            folder.into(),
            name.into(),
        );
        self.state.lock().unwrap().secrets.get(&key).cloned()
    }
}

impl FaultControl for VaultServer {
    fn with_faults<R>(&self, f: impl FnOnce(&mut Faults) -> R) -> R {
        f(&mut self.state.lock().unwrap().faults)
    }
}

impl FaultControl for InfisicalServer {
    fn with_faults<R>(&self, f: impl FnOnce(&mut Faults) -> R) -> R {
        f(&mut self.state.lock().unwrap().faults)
    }
}
