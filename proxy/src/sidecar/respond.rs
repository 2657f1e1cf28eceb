//! Answers the sidecar gives itself: a layer's rejection, a refusal of its own (404 for an
//! unknown path, 400 for bad framing...), queue mode's 202. One JSON shape for all of them
//! (`Rejection::body_json`), head and body written in one go.

use bytes::Bytes;
use hookguard_layers::rules::FilteredEvent;
use hookguard_layers::{Reason, Rejection};
use http::{header, Response, StatusCode};
use pingora_core::protocols::http::{HttpTask, ServerSession};
use pingora_error::Result;
use pingora_http::ResponseHeader;

use super::exchange::{Ctx, Outcome};

/// Refuses with the sidecar's own reason. `close`: the connection is not reused (its
/// framing cannot be trusted, or a body is left unread).
pub(super) async fn refuse(
    session: &mut ServerSession,
    ctx: &mut Ctx,
    status: StatusCode,
    reason: Reason,
    message: &str,
    close: bool,
) -> Result<()> {
    if close {
        session.set_keepalive(None);
    }
    answer(
        session,
        ctx,
        Rejection::new(status, reason, message).into_response(),
    )
    .await
}

/// Answers with a layer's rejection (its reason travels in the response's extensions).
pub(super) async fn answer(
    session: &mut ServerSession,
    ctx: &mut Ctx,
    response: Response<Bytes>,
) -> Result<()> {
    ctx.filtered = response.extensions().get::<FilteredEvent>().cloned();
    ctx.reason = response.extensions().get::<Reason>().copied();
    ctx.outcome = Outcome::Rejected;
    write(session, ctx, response).await
}

/// Writes `response` (head and body at once) and records its status.
pub(super) async fn write(
    session: &mut ServerSession,
    ctx: &mut Ctx,
    response: Response<Bytes>,
) -> Result<()> {
    ctx.status = Some(response.status().as_u16());
    let (parts, body) = response.into_parts();
    let mut head = ResponseHeader::build(parts.status, Some(parts.headers.len() + 1))?;
    for (name, value) in parts.headers {
        if let Some(name) = name {
            head.append_header(name, value)?;
        }
    }
    head.insert_header(header::CONTENT_LENGTH, body.len())?;
    session
        .response_duplex_vec(vec![
            HttpTask::Header(Box::new(head), false),
            HttpTask::Body(Some(body), true),
        ])
        .await?;
    Ok(())
}

/// A JSON answer of the sidecar's own that is not a refusal (queue mode's 202).
pub(super) fn json(status: StatusCode, body: serde_json::Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// `413` for a body over `limit`.
pub(super) fn too_large(limit: usize) -> Response<Bytes> {
    Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Reason::BodyTooLarge,
        format!("body larger than the route's limit of {limit} bytes"),
    )
    .into_response()
}
