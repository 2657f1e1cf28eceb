//! [`InfisicalSource`]: secrets from Infisical, with a machine identity's Universal Auth.
//!
//! - Login: `POST {base}/api/v1/auth/universal-auth/login` with
//!   `{"clientId", "clientSecret"}` answers `{"accessToken", "expiresIn", …}`
//!   (<https://infisical.com/docs/api-reference/endpoints/universal-auth/login>). The
//!   token is kept and renewed before it expires, or at once when a read answers 401.
//! - Read: `GET {base}/api/v3/secrets/raw/{secretName}?workspaceId=…&environment=…&secretPath=…`
//!   with `Authorization: Bearer <token>` answers `{"secret": {"secretKey",
//!   "secretValue", "updatedAt", …}}`
//!   (<https://infisical.com/docs/api-reference/endpoints/deprecated/secrets/read>). The
//!   project must not use end-to-end encryption. `updatedAt` is reported as the rotation
//!   time.
//!
//! Infisical lists the v3 read as deprecated in favour of `/api/v4/secrets/{name}`; v3 is
//! what self-hosted instances of every recent version serve.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::remote::{
    client, join_segments, parse_base_url, rfc3339_unix, send_json, shown, status_text,
    DEFAULT_REQUEST_TIMEOUT,
};
use super::secret::SecretEntry;
use super::source::{collect_refs, refs_of, CredentialSource, FetchFuture, SecretRef, SourceError};

/// Infisical Cloud (US region).
pub const INFISICAL_CLOUD: &str = "https://app.infisical.com";

struct AccessToken {
    value: SecretString,
    renew_at: Instant,
}

/// Reads secrets from one Infisical project environment. `SecretRef::name` is the
/// secret's name (key) in Infisical.
pub struct InfisicalSource {
    client: reqwest::Client,
    base: url::Url,
    client_id: String,
    client_secret: SecretString,
    workspace_id: String,
    environment: String,
    secret_path: String,
    routes: HashMap<String, Vec<SecretRef>>,
    token: Mutex<Option<AccessToken>>,
}

impl std::fmt::Debug for InfisicalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfisicalSource")
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .field("workspace_id", &self.workspace_id)
            .field("environment", &self.environment)
            .field("secret_path", &self.secret_path)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl InfisicalSource {
    /// A source for the Infisical instance at `base` ([`INFISICAL_CLOUD`] or a self-hosted
    /// URL), logging in with a machine identity's Universal Auth credentials, reading the
    /// `environment` (slug: `dev`, `prod`) of project `workspace_id`.
    pub fn new(
        base: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
        workspace_id: impl Into<String>,
        environment: impl Into<String>,
    ) -> Result<Self, SourceError> {
        Ok(Self {
            client: client(DEFAULT_REQUEST_TIMEOUT)?,
            base: parse_base_url(base)?,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            workspace_id: workspace_id.into(),
            environment: environment.into(),
            secret_path: "/".to_owned(),
            routes: HashMap::new(),
            token: Mutex::new(None),
        })
    }

    /// The folder holding the secrets (default `/`).
    pub fn secret_path(mut self, path: impl Into<String>) -> Self {
        self.secret_path = path.into();
        self
    }

    /// The timeout of one HTTP request (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Result<Self, SourceError> {
        self.client = client(timeout)?;
        Ok(self)
    }

    /// The Infisical secret names holding `route`'s secrets.
    pub fn route(
        mut self,
        route: impl Into<String>,
        secrets: impl IntoIterator<Item = SecretRef>,
    ) -> Self {
        self.routes
            .insert(route.into(), secrets.into_iter().collect());
        self
    }

    /// A valid access token: the kept one, or a new login when it is due for renewal or
    /// `stale` (the API refused it).
    async fn access_token(
        &self,
        stale: Option<&SecretString>,
    ) -> Result<SecretString, SourceError> {
        let mut kept = self.token.lock().await;
        if let Some(token) = kept.as_ref() {
            let refused = stale.is_some_and(|s| s.expose_secret() == token.value.expose_secret());
            if !refused && Instant::now() < token.renew_at {
                return Ok(token.value.clone());
            }
        }
        let fresh = self.login().await?;
        let value = fresh.value.clone();
        *kept = Some(fresh);
        Ok(value)
    }

    async fn login(&self) -> Result<AccessToken, SourceError> {
        let url = join_segments(&self.base, ["api", "v1", "auth", "universal-auth", "login"]);
        let body = serde_json::json!({
            "clientId": self.client_id,
            "clientSecret": self.client_secret.expose_secret(),
        });
        let request = self
            .client
            .post(url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let (status, json) = send_json(request, &url).await?;
        if status != 200 {
            return Err(SourceError::Status {
                url: shown(&url),
                status,
                detail: message_of(&json, status),
            });
        }
        let (Some(token), Some(expires_in)) =
            (json["accessToken"].as_str(), json["expiresIn"].as_u64())
        else {
            return Err(SourceError::Request {
                url: shown(&url),
                problem: "login answer lacks accessToken or expiresIn".into(),
            });
        };
        // Renew a tenth of the lifetime early, so no read races the expiry.
        let lifetime = Duration::from_secs(expires_in);
        Ok(AccessToken {
            value: SecretString::from(token),
            renew_at: Instant::now() + lifetime - lifetime / 10,
        })
    }

    async fn read(&self, secret: &SecretRef) -> Result<Option<SecretEntry>, SourceError> {
        let mut url = join_segments(
            &self.base,
            ["api", "v3", "secrets", "raw", secret.name.as_str()],
        );
        url.query_pairs_mut()
            .append_pair("workspaceId", &self.workspace_id)
            .append_pair("environment", &self.environment)
            .append_pair("secretPath", &self.secret_path);
        let mut token = self.access_token(None).await?;
        let mut retried = false;
        let json = loop {
            let request = self
                .client
                .get(url.clone())
                .bearer_auth(token.expose_secret());
            let (status, json) = send_json(request, &url).await?;
            match status {
                200 => break json,
                404 => return Ok(None),
                // The token was revoked or expired early: log in again, once.
                401 if !retried => {
                    retried = true;
                    token = self.access_token(Some(&token)).await?;
                }
                _ => {
                    return Err(SourceError::Status {
                        url: shown(&url),
                        status,
                        detail: message_of(&json, status),
                    })
                }
            }
        };
        let found = &json["secret"];
        let invalid = |problem| SourceError::Invalid {
            what: "infisical secret",
            name: secret.name.clone(),
            problem,
        };
        if found["secretValueHidden"].as_bool() == Some(true) {
            return Err(invalid(
                "value hidden: the identity may not read secret values",
            ));
        }
        let Some(value) = found["secretValue"].as_str() else {
            return Err(invalid("answer lacks secret.secretValue"));
        };
        if value.is_empty() {
            return Err(invalid("empty"));
        }
        let mut entry = SecretEntry::new(secret.id.clone(), value);
        entry.rotated_at = found["updatedAt"].as_str().and_then(rfc3339_unix);
        Ok(Some(entry))
    }
}

/// Infisical's error answers carry `{"message": "..."}`.
fn message_of(json: &serde_json::Value, status: u16) -> String {
    json["message"]
        .as_str()
        .map(|m| m.chars().take(200).collect())
        .unwrap_or_else(|| status_text(status))
}

impl CredentialSource for InfisicalSource {
    fn name(&self) -> &str {
        "infisical"
    }

    fn fetch<'a>(&'a self, route: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            let refs = refs_of(&self.routes, route)?;
            let mut found = Vec::with_capacity(refs.len());
            for secret in refs {
                found.push(self.read(secret).await?);
            }
            let mut found = found.into_iter();
            collect_refs(refs, "infisical secret", |_| Ok(found.next().flatten()))
        })
    }
}

#[cfg(test)]
mod tests;
