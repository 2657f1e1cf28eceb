//! The HTTP client shared by the remote sources: rustls, bounded bodies, errors that name
//! the URL and never a token.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::source::SourceError;

/// Default timeout of one HTTP request to a secret store.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest response body read from a secret store.
const MAX_BODY: usize = 1 << 20;

pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, SourceError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("hookguard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SourceError::Config(format!("HTTP client: {}", chain(&e))))
}

pub(crate) fn parse_base_url(base: &str) -> Result<url::Url, SourceError> {
    let url =
        url::Url::parse(base).map_err(|e| SourceError::Config(format!("address {base:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(SourceError::Config(format!(
            "address {base:?}: expected an http:// or https:// URL"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SourceError::Config(
            "address: credentials in the URL are not accepted; use the token settings".into(),
        ));
    }
    Ok(url)
}

/// `base` with `segments` appended as path segments (each percent-encoded).
pub(crate) fn join_segments<'s>(
    base: &url::Url,
    segments: impl IntoIterator<Item = &'s str>,
) -> url::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments.into_iter().filter(|s| !s.is_empty()));
    }
    url
}

pub(crate) use crate::error_chain as chain;

/// The URL as shown in errors: without the query, which may carry project ids.
pub(crate) fn shown(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

/// Sends `request` and reads the JSON answer, whatever the status.
pub(crate) async fn send_json(
    request: reqwest::RequestBuilder,
    url: &url::Url,
) -> Result<(u16, serde_json::Value), SourceError> {
    let failed = |problem: String| SourceError::Request {
        url: shown(url),
        problem,
    };
    let mut response = request.send().await.map_err(|e| failed(chain(&e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(chain(&e)))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(failed(format!("response larger than {MAX_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let json = if body.is_empty() {
        serde_json::Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(json) => json,
            // An error page from a proxy in front of the store: the status says enough.
            Err(_) if !(200..300).contains(&status) => serde_json::Value::Null,
            Err(e) => return Err(failed(format!("response is not JSON: {e}"))),
        }
    };
    Ok((status, json))
}

/// An RFC 3339 time (`2018-03-22T02:24:06.945319214Z`) as Unix seconds.
pub(crate) fn rfc3339_unix(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// What a status means when the store gave no message.
pub(crate) fn status_text(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unexpected status")
        .to_owned()
}
