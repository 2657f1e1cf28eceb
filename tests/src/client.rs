//! Tiny HTTP/1.1 clients: [`send`] (hyper, one connection per request) for ordinary
//! requests, [`RawConn`] (bytes on a TCP stream) where the test needs control over framing,
//! `Expect`, or timing.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one exchange may take before the test fails.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(20);

/// A response, body collected.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Header `name` as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `request` (absolute `http://` URI) on a new connection and collects the answer.
/// Panics on a transport error or after 20 s: a test failure.
pub async fn send(request: Request<Bytes>) -> Answer {
    match try_send(request).await {
        Ok(answer) => answer,
        Err(e) => panic!("request failed: {e}"),
    }
}

/// Like [`send`], but a transport error is returned (for tests that count failures).
pub async fn try_send(request: Request<Bytes>) -> Result<Answer, String> {
    tokio::time::timeout(EXCHANGE_TIMEOUT, exchange(request))
        .await
        .map_err(|_| format!("no answer within {EXCHANGE_TIMEOUT:?}"))?
}

async fn exchange(request: Request<Bytes>) -> Result<Answer, String> {
    let (mut parts, body) = request.into_parts();
    let authority = parts
        .uri
        .authority()
        .ok_or("the request URI has no host:port")?
        .clone();
    let stream = TcpStream::connect(authority.as_str())
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    parts.headers.insert(
        header::HOST,
        HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?,
    );
    parts.uri = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|e| format!("{e}"))?;
    let response = sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|e| format!("send: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    Ok(Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

/// A raw HTTP/1.1 connection: the test writes exact bytes and reads answers one by one.
pub struct RawConn {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawConn {
    /// Connects to `addr` (`127.0.0.1:PORT`).
    pub async fn connect(addr: impl tokio::net::ToSocketAddrs) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Writes `bytes` as they are.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    /// Like [`write`](Self::write), but a reset connection is reported, not a failure.
    pub async fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads more bytes into the buffer; `false` at end of stream.
    async fn fill(&mut self, deadline: tokio::time::Instant) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no data in time"))??;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Reads one answer's head and body (Content-Length, chunked, or up to the close).
    /// Panics when none comes within `within`.
    pub async fn read_answer(&mut self, within: Duration) -> Answer {
        let deadline = tokio::time::Instant::now() + within;
        let (status, headers) = self.read_head(deadline).await;
        let body = self.read_body(&headers, status, deadline).await;
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Reads only a head (e.g. `100 Continue`, which has no body).
    pub async fn read_head_only(&mut self, within: Duration) -> (u16, HeaderMap) {
        self.read_head(tokio::time::Instant::now() + within).await
    }

    async fn read_head(&mut self, deadline: tokio::time::Instant) -> (u16, HeaderMap) {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head: Vec<u8> = self.buffer.drain(..end + 4).collect();
                return parse_head(&head);
            }
            match self.fill(deadline).await {
                Ok(true) => {}
                Ok(false) => panic!(
                    "connection closed before an answer; got {:?}",
                    String::from_utf8_lossy(&self.buffer)
                ),
                Err(e) => panic!(
                    "no answer: {e}; got {:?}",
                    String::from_utf8_lossy(&self.buffer)
                ),
            }
        }
    }

    async fn read_body(
        &mut self,
        headers: &HeaderMap,
        status: u16,
        deadline: tokio::time::Instant,
    ) -> Bytes {
        if status < 200 || status == 204 || status == 304 {
            return Bytes::new();
        }
        let chunked = headers
            .get(header::TRANSFER_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
        if chunked {
            return self.read_chunked(deadline).await;
        }
        if let Some(len) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        {
            while self.buffer.len() < len {
                match self.fill(deadline).await {
                    Ok(true) => {}
                    other => panic!("body cut short: {other:?}"),
                }
            }
            return Bytes::from(self.buffer.drain(..len).collect::<Vec<u8>>());
        }
        while let Ok(true) = self.fill(deadline).await {}
        Bytes::from(std::mem::take(&mut self.buffer))
    }

    async fn read_chunked(&mut self, deadline: tokio::time::Instant) -> Bytes {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buffer, b"\r\n") {
                    break i;
                }
                assert!(
                    matches!(self.fill(deadline).await, Ok(true)),
                    "chunked body cut short"
                );
            };
            let line: Vec<u8> = self.buffer.drain(..line_end + 2).collect();
            let size_text = String::from_utf8_lossy(&line[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {size_text:?}"));
            while self.buffer.len() < size + 2 {
                assert!(
                    matches!(self.fill(deadline).await, Ok(true)),
                    "chunk cut short"
                );
            }
            body.extend(self.buffer.drain(..size));
            self.buffer.drain(..2);
            if size == 0 {
                return Bytes::from(body);
            }
        }
    }

    /// Whether the peer closes the connection (end of stream or reset) within `within`,
    /// with no further bytes sent before it.
    pub async fn closes_within(&mut self, within: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if !self.buffer.is_empty() {
                return Err(format!(
                    "more bytes after the answer: {:?}",
                    String::from_utf8_lossy(&self.buffer)
                ));
            }
            match self.fill(deadline).await {
                Ok(false) => return Ok(()),
                Ok(true) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(format!("still open after {within:?}"))
                }
                Err(_) => return Ok(()),
            }
        }
    }

    /// Bytes received but not yet consumed by a read.
    pub fn pending(&self) -> &[u8] {
        &self.buffer
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> (u16, HeaderMap) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("bad header line {line:?}"));
        headers.append(
            http::HeaderName::from_bytes(name.trim().as_bytes()).expect("header name"),
            HeaderValue::from_str(value.trim()).expect("header value"),
        );
    }
    (status, headers)
}
