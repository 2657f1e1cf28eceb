//! Replay of a recorded request (a history entry, or the same JSON saved as a fixture) to
//! any URL, as received or re-signed by the scheme's own signer.

use base64::Engine as _;
use hookguard_layers::verify::{Scheme, SignOptions, WebhookRequest};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;

/// Headers that describe one hop, not the request: never replayed.
const HOP_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// A request ready to send again.
#[derive(Debug)]
pub(crate) struct Replay {
    pub(crate) method: Method,
    /// Path and query, as recorded.
    pub(crate) target: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    /// The recorded scheme and delivery id (when the sandbox verified it).
    pub(crate) scheme: Option<String>,
    pub(crate) delivery_id: Option<String>,
}

impl Replay {
    /// Reads a history entry (`GET /_sandbox/history/ID`, or `sandbox show ID --json`).
    pub(crate) fn from_entry(entry: &Value) -> Result<Self, String> {
        let field = |name: &str| {
            entry[name]
                .as_str()
                .ok_or_else(|| format!("the entry has no {name:?} string; expected a sandbox history entry (`hookguard sandbox show ID --json`)"))
        };
        let method = Method::from_bytes(field("method")?.as_bytes())
            .map_err(|_| "the entry's method is not an HTTP method".to_string())?;
        let body = base64::engine::general_purpose::STANDARD
            .decode(field("body_base64")?)
            .map_err(|e| format!("the entry's body_base64: {e}"))?;
        let mut headers = HeaderMap::new();
        for pair in entry["headers"].as_array().into_iter().flatten() {
            let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) else {
                return Err("the entry's headers: expected [name, value] pairs".into());
            };
            if HOP_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                continue;
            }
            let name = HeaderName::try_from(name)
                .map_err(|_| format!("the entry's header {name:?} is not a header name"))?;
            let value = HeaderValue::try_from(value)
                .map_err(|_| format!("the entry's header {name}: not a valid value"))?;
            headers.append(name, value);
        }
        Ok(Self {
            method,
            target: field("target")?.to_owned(),
            headers,
            body,
            scheme: entry["signature"]["scheme"].as_str().map(str::to_owned),
            delivery_id: entry["signature"]["delivery_id"]
                .as_str()
                .map(str::to_owned),
        })
    }

    /// Where to send it: `to` as given when it has a path, else `to` + the recorded target.
    pub(crate) fn url(&self, to: &str) -> Result<String, String> {
        let parsed = reqwest::Url::parse(to).map_err(|e| {
            format!("--to {to:?}: {e}; expected a URL such as http://127.0.0.1:8080")
        })?;
        if parsed.path() == "/" && parsed.query().is_none() {
            Ok(format!("{}{}", to.trim_end_matches('/'), self.target))
        } else {
            Ok(to.to_owned())
        }
    }

    /// Signs again with `key_text` for `scheme` at `timestamp`, replacing the headers the
    /// signer writes (and the body, for schemes that sign inside it).
    pub(crate) fn resign(
        &mut self,
        scheme: &dyn Scheme,
        key_text: &str,
        url: &str,
        timestamp: i64,
        id: Option<String>,
    ) -> Result<(), String> {
        let key = scheme
            .parse_signing_key(key_text)
            .map_err(|e| format!("--secret: {e}"))?;
        let empty = HeaderMap::new();
        let request = WebhookRequest {
            method: &self.method,
            url: Some(url),
            headers: &empty,
            body: &self.body,
        };
        let options = SignOptions {
            timestamp,
            id: id.or_else(|| self.delivery_id.clone()),
        };
        let signed = scheme
            .sign(&request, &key, &options)
            .map_err(|e| format!("re-signing with {}: {e}", scheme.name()))?;
        for (name, _) in &signed.headers {
            self.headers.remove(name);
        }
        for (name, value) in signed.headers {
            let value = HeaderValue::try_from(value)
                .map_err(|_| format!("re-signing: {name} is not a header value"))?;
            self.headers.append(name, value);
        }
        if let Some(body) = signed.body {
            self.body = body;
        }
        Ok(())
    }

    /// Sends it; returns the status and the answer's body.
    pub(crate) async fn send(&self, url: &str) -> Result<(u16, String), String> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .request(self.method.clone(), url)
            .headers(self.headers.clone())
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        Ok((status, text))
    }
}

#[cfg(test)]
mod tests {
    use hookguard_layers::verify::{schemes, Keyring, VerifyContext};

    use super::*;

    fn entry() -> Value {
        serde_json::json!({
            "method": "POST",
            "target": "/hooks/github?x=1",
            "headers": [["host", "127.0.0.1:1"], ["content-type", "application/json"],
                        ["x-hub-signature-256", "sha256=00"], ["content-length", "2"]],
            "body_base64": "e30=",
        })
    }

    #[test]
    fn an_entry_replays_without_hop_headers_and_to_the_recorded_path() {
        let r = Replay::from_entry(&entry()).unwrap();
        assert_eq!(r.body, b"{}");
        assert!(r.headers.get("host").is_none());
        assert!(r.headers.get("content-length").is_none());
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(
            r.url("http://127.0.0.1:9").unwrap(),
            "http://127.0.0.1:9/hooks/github?x=1"
        );
        assert_eq!(
            r.url("http://127.0.0.1:9/other").unwrap(),
            "http://127.0.0.1:9/other"
        );
    }

    #[test]
    fn re_signing_replaces_the_signature_with_one_the_scheme_accepts() {
        let mut r = Replay::from_entry(&entry()).unwrap();
        let scheme = schemes::by_name("github").unwrap();
        r.resign(&*scheme, "new-secret", "http://x/hooks/github", 0, None)
            .unwrap();
        assert_eq!(r.headers.get_all("x-hub-signature-256").iter().count(), 1);
        let keys = Keyring::from_secrets(&*scheme, ["new-secret"]).unwrap();
        let request = WebhookRequest {
            method: &r.method,
            url: None,
            headers: &r.headers,
            body: &r.body,
        };
        scheme
            .verify(&request, &keys, &VerifyContext::new(&*scheme, 0))
            .unwrap();
    }

    #[test]
    fn a_broken_entry_says_what_is_missing() {
        let e = Replay::from_entry(&serde_json::json!({"method": "POST"})).unwrap_err();
        assert!(e.contains("body_base64"), "{e}");
    }
}
