//! Reading the request body: whole, bounded in size (the caller bounds the time).

use bytes::{Bytes, BytesMut};
use pingora_core::protocols::http::ServerSession;
use pingora_error::Result;

/// Reads the whole body; `None` when it grows past `limit` (the rest is left unread and the
/// connection is closed after the answer). One buffer: a body that arrives in one chunk
/// (most webhooks, read with the head) is kept as pingora handed it, without a copy.
pub(super) async fn read(
    session: &mut ServerSession,
    limit: usize,
    declared: Option<u64>,
) -> Result<Option<Bytes>> {
    let Some(first) = session.read_request_body().await? else {
        return Ok(Some(Bytes::new()));
    };
    if first.len() > limit {
        return Ok(None);
    }
    let Some(second) = session.read_request_body().await? else {
        return Ok(Some(first));
    };
    let expected = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut body = BytesMut::with_capacity(expected.max(first.len() + second.len()));
    body.extend_from_slice(&first);
    body.extend_from_slice(&second);
    if body.len() > limit {
        return Ok(None);
    }
    while let Some(chunk) = session.read_request_body().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}
