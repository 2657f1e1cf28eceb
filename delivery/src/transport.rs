//! Sending one attempt: the [`Transport`] trait, and [`HttpTransport`] on reqwest.
//!
//! [`HttpTransport`] sends the stored request as it was received: the method, the exact
//! body bytes, and the headers minus those that describe one hop rather than the message
//! (`connection` and what it names, `keep-alive`, `proxy-*`, `te`, `trailer`,
//! `transfer-encoding`, `upgrade`), `content-length` (recomputed from the body), `expect`
//! (the body is sent at once) and `host` (the destination's own, unless
//! [`HttpTransport::keep_host`] asks for the stored one). Redirects are not followed (a
//! 3xx is an outcome, see [`crate::schedule`]); connections are pooled per host.
//!
//! The outcome keeps the status, `Retry-After` and at most 1 KiB of the response body
//! (lossy UTF-8), or the kind of failure with a detail that never holds the URL (an
//! outbound endpoint may carry a token in its query).
//!
//! ```no_run
//! use hookguard_delivery::HttpTransport;
//! // Inbound: the stored target ("/hooks/github?x=1") is appended to the app's address.
//! let to_app = HttpTransport::to_base("http://127.0.0.1:3000")?.attempt_header(true);
//! // Outbound: the stored target is the endpoint's full URL.
//! let to_endpoints = HttpTransport::to_urls()?;
//! # Ok::<(), hookguard_delivery::TransportError>(())
//! ```

use std::error::Error as _;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use crate::message::{AttemptOutcome, ErrorKind, Message};
use crate::request::Request;

/// The attempt number header, when [`HttpTransport::attempt_header`] is on.
pub const ATTEMPT_HEADER: &str = "x-hookguard-attempt";

/// How much of a response body an attempt keeps.
pub const BODY_KEPT: usize = 1024;

/// Sends one attempt of a message.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` (the opened payload of `message`) as attempt number `attempt`
    /// (1 = the first), giving up after `timeout`. Never fails: a failure is an outcome.
    async fn send(
        &self,
        message: &Message,
        request: &Request,
        attempt: u32,
        timeout: Duration,
    ) -> AttemptOutcome;
}

/// Why an [`HttpTransport`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The base address is not an `http://` or `https://` URL.
    #[error("delivery address {address:?}: {problem} (expected e.g. \"http://127.0.0.1:3000\")")]
    Base {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The HTTP client could not be set up (TLS backend).
    #[error("delivery HTTP client: {0}")]
    Client(String),
}

/// Sends attempts over HTTP with reqwest; see the module docs.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    /// Inbound: what the stored target is appended to. `None`: the target is a URL.
    base: Option<String>,
    attempt_header: bool,
    keep_host: bool,
}

impl HttpTransport {
    /// Delivers to `base` + each message's target (inbound: the app's address).
    pub fn to_base(base: impl Into<String>) -> Result<Self, TransportError> {
        let address: String = base.into();
        let problem = match reqwest::Url::parse(&address) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                Some(format!("scheme {:?} is not http or https", url.scheme()))
            }
            Ok(url) if url.query().is_some() || url.fragment().is_some() => {
                Some("a base address has no query or fragment".to_owned())
            }
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        if let Some(problem) = problem {
            return Err(TransportError::Base { address, problem });
        }
        let mut transport = Self::to_urls()?;
        transport.base = Some(address.trim_end_matches('/').to_owned());
        Ok(transport)
    }

    /// Delivers to each message's target as a full URL (outbound endpoints).
    pub fn to_urls() -> Result<Self, TransportError> {
        Self::build(reqwest::Client::builder())
    }

    /// Like [`HttpTransport::to_urls`], but every host name is resolved by `resolver`, and
    /// no proxy from the environment is used (a proxy would resolve names itself). This
    /// is the hook of an SSRF guard: a resolver that refuses private addresses makes the
    /// client connect only to addresses it checked. IP literals in URLs are not resolved:
    /// the caller checks those before sending.
    pub fn to_urls_resolving(
        resolver: std::sync::Arc<dyn reqwest::dns::Resolve>,
    ) -> Result<Self, TransportError> {
        Self::build(
            reqwest::Client::builder()
                .dns_resolver2(resolver)
                .no_proxy(),
        )
    }

    fn build(builder: reqwest::ClientBuilder) -> Result<Self, TransportError> {
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            // The engine sets a timeout per attempt; this one only bounds idle sockets.
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| TransportError::Client(e.to_string()))?;
        Ok(Self {
            client,
            base: None,
            attempt_header: false,
            keep_host: false,
        })
    }

    /// Adds `x-hookguard-attempt: N` (1 = the first attempt) to each request.
    pub fn attempt_header(mut self, on: bool) -> Self {
        self.attempt_header = on;
        self
    }

    /// Sends the stored `host` header instead of the destination's (off by default: the
    /// stored one names hookguard's listener, not the app).
    pub fn keep_host(mut self, on: bool) -> Self {
        self.keep_host = on;
        self
    }

    fn url(&self, target: &str) -> String {
        match &self.base {
            Some(base) if target.starts_with('/') => format!("{base}{target}"),
            Some(base) => format!("{base}/{target}"),
            None => target.to_owned(),
        }
    }

    fn headers(&self, request: &Request, attempt: u32) -> HeaderMap {
        let named_by_connection: Vec<String> = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            if is_hop_header(&lower)
                || named_by_connection.contains(&lower)
                || (lower == "host" && !self.keep_host)
                || (self.attempt_header && lower == ATTEMPT_HEADER)
            {
                continue;
            }
            match (
                HeaderName::from_bytes(lower.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                // Stored from a request that parsed, so this is a corrupt record; the
                // value is not logged (it may be a signature).
                _ => tracing::debug!(header = %lower, "skipping a header that is not valid HTTP"),
            }
        }
        if self.attempt_header {
            headers.insert(ATTEMPT_HEADER, HeaderValue::from(attempt));
        }
        headers
    }
}

/// Headers that describe a hop, not the message (RFC 9110 §7.6.1), and those the client
/// recomputes.
fn is_hop_header(lower: &str) -> bool {
    matches!(
        lower,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
            | "expect"
    )
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(
        &self,
        _message: &Message,
        request: &Request,
        attempt: u32,
        timeout: Duration,
    ) -> AttemptOutcome {
        let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
            return refused(format!("method {:?} is not valid HTTP", request.method));
        };
        let url = match reqwest::Url::parse(&self.url(&request.target)) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            // The target is not echoed: an outbound URL may hold a token.
            _ => return refused("the target is not an http(s) URL".to_owned()),
        };
        let sent = self
            .client
            .request(method, url)
            .headers(self.headers(request, attempt))
            .body(request.body.clone())
            .timeout(timeout)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => return failure(e),
        };
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let code = response.status().as_u16();
        let mut kept = Vec::new();
        // Stop at 1 KiB, or at the first error: the status is what counts.
        while kept.len() < BODY_KEPT {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        kept.truncate(BODY_KEPT);
        AttemptOutcome::Status {
            code,
            retry_after,
            body: (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned()),
        }
    }
}

fn refused(detail: String) -> AttemptOutcome {
    AttemptOutcome::Error {
        kind: ErrorKind::Refused,
        detail,
    }
}

/// Sorts a reqwest failure into an [`ErrorKind`], with the causes (never the URL) as
/// the detail.
fn failure(error: reqwest::Error) -> AttemptOutcome {
    let error = error.without_url();
    let mut causes = Vec::new();
    let mut tls = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        tls |= is_rustls(cause);
        source = cause.source();
    }
    causes.dedup();
    let chain = causes.join(": ");
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else if tls {
        ErrorKind::Tls
    } else if chain.contains("dns error") {
        ErrorKind::Dns
    } else if error.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Protocol
    };
    let detail = if chain.is_empty() {
        error.to_string()
    } else {
        chain
    };
    AttemptOutcome::Error { kind, detail }
}

/// Whether `error` is a rustls error, possibly inside io::Errors (hyper-rustls wraps it in
/// one or two, and `io::Error::source` skips the wrapped error).
fn is_rustls(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<rustls::Error>() {
            return true;
        }
        current = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
    }
    false
}
