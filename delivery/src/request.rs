//! The request a message delivers, as it is stored (inside a message's payload).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// An HTTP request to deliver: exactly the bytes and headers to send.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// `POST`, usually.
    pub method: String,
    /// Inbound: the path and query on the app (the route's rewrite applied). Outbound: the
    /// endpoint's URL.
    pub target: String,
    /// Header names and values in the order received (values as bytes: not always UTF-8).
    pub headers: Vec<(String, Bytes)>,
    /// The body, byte for byte.
    pub body: Bytes,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Header values can carry signatures and tokens: `Debug` shows names and sizes only.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}
