//! Valid requests, signed by the library itself as a provider would sign them.

use std::sync::Arc;

use bytes::Bytes;
use hookguard_layers::verify::{schemes, Scheme, SignOptions, WebhookRequest};
use http::{HeaderMap, HeaderName, Method, Request};

/// Signs bodies with one scheme and secret.
#[derive(Debug, Clone)]
pub struct Signer {
    scheme: Arc<dyn Scheme>,
    secret: String,
}

impl Signer {
    /// A signer for scheme `name` (`github`, `stripe`, …) with `secret`. Panics on an unknown
    /// scheme or an unusable secret: a test bug.
    pub fn new(name: &str, secret: &str) -> Self {
        let scheme = schemes::by_name(name).unwrap_or_else(|| panic!("unknown scheme {name}"));
        Self {
            scheme,
            secret: secret.to_owned(),
        }
    }

    /// The headers the provider would send for `body`, delivery id `id`, signed now.
    pub fn headers(&self, body: &[u8], id: &str) -> Vec<(HeaderName, String)> {
        self.headers_at(body, id, time::OffsetDateTime::now_utc().unix_timestamp())
    }

    /// Like [`headers`](Self::headers), signed at `timestamp` (Unix seconds): a stale or
    /// future delivery.
    pub fn headers_at(&self, body: &[u8], id: &str, timestamp: i64) -> Vec<(HeaderName, String)> {
        let key = self
            .scheme
            .parse_signing_key(&self.secret)
            .expect("a usable test secret");
        let empty = HeaderMap::new();
        let request = WebhookRequest {
            method: &Method::POST,
            url: None,
            headers: &empty,
            body,
        };
        let options = SignOptions {
            timestamp,
            id: Some(id.to_owned()),
        };
        self.scheme
            .sign(&request, &key, &options)
            .expect("signing a test request")
            .headers
    }

    /// A signed `POST url` carrying `body`, with delivery id `id`.
    pub fn post(&self, url: &str, body: &[u8], id: &str) -> Request<Bytes> {
        let mut builder = Request::post(url);
        for (name, value) in self.headers(body, id) {
            builder = builder.header(name, value);
        }
        builder
            .body(Bytes::copy_from_slice(body))
            .expect("a well-formed test request")
    }

    /// The headers as `Name: value\r\n` lines, for raw requests.
    pub fn header_lines(&self, body: &[u8], id: &str) -> String {
        self.headers(body, id)
            .into_iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect()
    }
}
