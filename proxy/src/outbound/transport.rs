//! [`SigningTransport`]: the engine's transport for outbound messages. Each attempt is
//! prepared here, at send time, from the subscription as it is now: its URL, a fresh
//! signature (so the signed timestamp is the attempt's, not the event's), endpoint
//! credentials (never stored with the message) and custom headers. Then it waits for the
//! endpoint's rate limit, checks the destination with the SSRF guard, and sends through
//! [`HttpTransport`], whose resolver is the same guard.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use hookguard_config::AuthKind;
use hookguard_delivery::{
    AttemptOutcome, ErrorKind, HttpTransport, Message, Request, Transport, TransportError,
};
use hookguard_layers::verify::{SignOptions, WebhookRequest};
use secrecy::{ExposeSecret as _, SecretString};

use super::guard::{Guard, GuardedResolver};
use super::subscriptions::{Registry, Resolved};

/// Signs and sends outbound attempts; see the module docs.
pub(crate) struct SigningTransport {
    http: HttpTransport,
    subscriptions: Arc<ArcSwap<Registry>>,
    guard: Arc<Guard>,
    allow_http: Arc<std::sync::atomic::AtomicBool>,
}

impl SigningTransport {
    pub(crate) fn new(
        subscriptions: Arc<ArcSwap<Registry>>,
        guard: Arc<Guard>,
        allow_http: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Self, TransportError> {
        let resolver = Arc::new(GuardedResolver(Arc::clone(&guard)));
        Ok(Self {
            http: HttpTransport::to_urls_resolving(resolver)?,
            subscriptions,
            guard,
            allow_http,
        })
    }

    /// Checks the URL's scheme and host before anything is sent. Names are checked again,
    /// by the resolver, for the connection itself; IP literals only here.
    async fn check_destination(&self, url: &reqwest::Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http.load(std::sync::atomic::Ordering::Relaxed) => {}
            "http" => {
                return Err("plain http:// endpoints are not allowed (outbound.allow_http)".into())
            }
            _ => return Err("the endpoint is not an http(s) URL".into()),
        }
        let host = url.host_str().ok_or("the endpoint URL has no host")?;
        let port = url.port_or_known_default().unwrap_or(443);
        self.guard
            .resolve(host, port)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The request for one attempt: the stored one, sent to the subscription's URL, signed now.
fn prepare(
    subscription: &Resolved,
    message: &Message,
    stored: &Request,
    now_secs: i64,
) -> Result<Request, String> {
    let mut request = stored.clone();
    request.target = subscription.spec.url.clone();
    for (name, value) in &subscription.spec.headers {
        request
            .headers
            .push((name.to_ascii_lowercase(), Bytes::from(value.clone())));
    }
    let headers = http::HeaderMap::new();
    let to_sign = WebhookRequest {
        method: &http::Method::POST,
        url: Some(&subscription.spec.url),
        headers: &headers,
        body: &request.body,
    };
    let options = SignOptions {
        timestamp: now_secs,
        id: message.meta.delivery_id.clone(),
    };
    let signed = subscription
        .scheme
        .sign(&to_sign, &subscription.signing_key, &options)
        .map_err(|e| format!("signing failed: {e}"))?;
    for (name, value) in signed.headers {
        request
            .headers
            .push((name.as_str().to_owned(), Bytes::from(value)));
    }
    Ok(request)
}

/// Adds the endpoint credential `secret` as the subscription's auth kind says.
fn with_credential(
    request: &Request,
    auth: &super::subscriptions::Auth,
    secret: &SecretString,
) -> Request {
    let mut request = request.clone();
    let (name, value) = match auth.kind {
        AuthKind::Bearer => (
            "authorization".to_owned(),
            format!("Bearer {}", secret.expose_secret()),
        ),
        AuthKind::Basic => {
            let pair = format!(
                "{}:{}",
                auth.username.as_deref().unwrap_or_default(),
                secret.expose_secret()
            );
            (
                "authorization".to_owned(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            )
        }
        AuthKind::Header => (
            auth.header.clone().unwrap_or_default().to_ascii_lowercase(),
            secret.expose_secret().to_owned(),
        ),
    };
    request.headers.push((name, Bytes::from(value)));
    request
}

fn refused(detail: String) -> AttemptOutcome {
    AttemptOutcome::Error {
        kind: ErrorKind::Refused,
        detail,
    }
}

#[async_trait]
impl Transport for SigningTransport {
    async fn send(
        &self,
        message: &Message,
        stored: &Request,
        attempt: u32,
        timeout: Duration,
    ) -> AttemptOutcome {
        let Some(subscription) = self.subscriptions.load().get(&message.destination).cloned()
        else {
            return refused(format!(
                "subscription {} no longer exists",
                message.destination
            ));
        };
        let url = match reqwest::Url::parse(&subscription.spec.url) {
            Ok(url) => url,
            Err(_) => return refused("the endpoint is not a URL".into()),
        };
        if let Err(why) = self.check_destination(&url).await {
            return refused(why);
        }
        if let Some(limiter) = &subscription.limiter {
            // The engine's lease allows for this wait (see `policy`).
            limiter.until_ready().await;
        }
        let now = hookguard_delivery::Timestamp::now().as_unix_secs() as i64;
        let request = match prepare(&subscription, message, stored, now) {
            Ok(request) => request,
            Err(why) => return refused(why),
        };
        let Some(auth) = &subscription.auth else {
            return self.http.send(message, &request, attempt, timeout).await;
        };
        let id = subscription.spec.id.as_str();
        let outcome = self
            .http
            .send(
                message,
                &with_credential(&request, auth, &auth.primary),
                attempt,
                timeout,
            )
            .await;
        let (outcome, credential) = match (&auth.next, outcome.status()) {
            // Rotation: the endpoint may already want the next credential.
            (Some(next), Some(401)) => {
                super::metrics::auth(id, "primary", 401);
                let retried = self
                    .http
                    .send(
                        message,
                        &with_credential(&request, auth, next),
                        attempt,
                        timeout,
                    )
                    .await;
                (retried, "next")
            }
            _ => (outcome, "primary"),
        };
        if let Some(code) = outcome.status() {
            super::metrics::auth(id, credential, code);
        }
        outcome
    }
}
