//! Forwarding to the app: the upstream peer, the request head the app receives, and the
//! project's own path for bodies larger than pingora's retry buffer.

use std::time::Instant;

use http::{header, HeaderName, HeaderValue};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, OrErr, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::Session;

use super::{Ctx, Sidecar};
use crate::runtime::Upstream;

/// Pingora's retry buffer (`BODY_BUF_LIMIT`, 64 KiB): a pre-read body up to this size is
/// replayed upstream by pingora itself; beyond it, by [`forward_buffered`].
pub(crate) const RETRY_BUFFER_LIMIT: usize = 64 * 1024;

/// Prefix of the headers hookguard adds; incoming ones are stripped so callers cannot forge them.
const PREFIX: &str = "x-hookguard-";

/// Whether an incoming header must be stripped as a forgery of hookguard's own: its name
/// starts with `x-hookguard-` once every `_` is read as `-`. CGI/WSGI servers (and the
/// frameworks on them) map `-` and `_` to the same variable, so `X_Hookguard_Client_Ip`
/// would reach the app as hookguard's client IP (Puma CVE-2024-45614).
pub(super) fn is_forged_hookguard_header(name: &HeaderName) -> bool {
    // `HeaderName`s are lowercase already.
    let name = name.as_str().as_bytes();
    name.len() >= PREFIX.len()
        && name
            .iter()
            .zip(PREFIX.as_bytes())
            .all(|(&got, &want)| got == want || (want == b'-' && got == b'_'))
}

pub(super) fn peer(upstream: &Upstream) -> HttpPeer {
    let mut peer = HttpPeer::new(upstream.address.as_str(), false, String::new());
    peer.options.connection_timeout = Some(upstream.connect_timeout);
    peer.options.read_timeout = Some(upstream.read_timeout);
    peer.options.write_timeout = Some(upstream.read_timeout);
    peer
}

/// The head the app receives: Content-Length framing for the exact bytes read, no
/// `Expect`, every incoming `x-hookguard-*` header (or `_` alias) replaced by hookguard's own, the path
/// rewritten as the route says.
pub(super) fn prepare_upstream_request(
    req: &mut RequestHeader,
    session: &Session,
    ctx: &Ctx,
) -> Result<()> {
    if let Some(admitted) = &ctx.headers {
        use_headers(req, admitted)?;
    }
    req.remove_header(&header::TRANSFER_ENCODING);
    req.remove_header(&header::EXPECT);
    req.insert_header(header::CONTENT_LENGTH, ctx.body.len())?;
    let forged: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| is_forged_hookguard_header(name))
        .cloned()
        .collect();
    for name in forged {
        req.remove_header(&name);
    }
    for (name, value) in hookguard_headers(session, ctx) {
        req.insert_header(name, value)?;
    }
    if let Some(target) = upstream_target(&req.uri, ctx) {
        req.set_uri(target.parse().or_err(
            ErrorType::InternalError,
            "rewritten path is not a valid URI",
        )?);
    }
    Ok(())
}

/// The path and query the app receives when the route rewrites paths (`None`: as sent).
/// The rewrite itself is the config's `Route::upstream_path`, the one tested place.
pub(super) fn upstream_target(uri: &http::Uri, ctx: &Ctx) -> Option<String> {
    let route = ctx.route.as_ref()?;
    route.config.rewrite.as_ref()?;
    let path = route.config.upstream_path(uri.path());
    Some(match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.into_owned(),
    })
}

/// The `x-hookguard-*` headers that tell the app what hookguard decided.
pub(super) fn hookguard_headers(session: &Session, ctx: &Ctx) -> Vec<(&'static str, HeaderValue)> {
    let mut out = Vec::with_capacity(6);
    let mut add = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.push((name, value));
        }
    };
    if let Some(route) = &ctx.route {
        add("x-hookguard-route", &route.id);
        add(
            "x-hookguard-scheme",
            ctx.verified.as_ref().map_or(route.scheme, |v| v.scheme),
        );
    }
    if let Some(v) = &ctx.verified {
        add("x-hookguard-secret-id", &v.secret_id);
        if let Some(id) = &v.delivery_id {
            add("x-hookguard-delivery-id", id);
        }
    }
    if let Some(ip) = client_ip(session, ctx) {
        add("x-hookguard-client-ip", &ip);
    }
    add("x-hookguard-received-at", &received_at(ctx));
    if let Some(transformed) = &ctx.transformed {
        add(
            hookguard_layers::rules::ORIGINAL_SHA256_HEADER,
            &transformed.original_sha256,
        );
    }
    out
}

/// The verified client address, else the connection's peer.
pub(super) fn client_ip(session: &Session, ctx: &Ctx) -> Option<String> {
    ctx.client_ip.clone().or_else(|| {
        session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string())
    })
}

/// Makes `req`'s headers those the payload rules left (added, removed, a mapped body's
/// content type), keeping pingora's header-name case for the ones unchanged.
fn use_headers(req: &mut RequestHeader, admitted: &http::HeaderMap) -> Result<()> {
    let names: Vec<HeaderName> = req.headers.keys().cloned().collect();
    for name in names {
        let same = req
            .headers
            .get_all(&name)
            .iter()
            .eq(admitted.get_all(&name).iter());
        if !same {
            req.remove_header(&name);
        }
    }
    for name in admitted.keys() {
        if !req.headers.contains_key(name) {
            for value in admitted.get_all(name) {
                req.append_header(name.clone(), value.clone())?;
            }
        }
    }
    Ok(())
}

/// When the request arrived, RFC 3339.
pub(super) fn received_at(ctx: &Ctx) -> String {
    let received = std::time::SystemTime::now() - ctx.started.elapsed();
    time::OffsetDateTime::from(received)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Sends the buffered body upstream through pingora's pooled connector and relays the
/// answer: for bodies beyond the retry buffer, which pingora would not replay (and, read
/// without retry buffering, would hang on — pingora issue #349).
pub(super) async fn forward_buffered(
    sidecar: &Sidecar,
    session: &mut Session,
    ctx: &mut Ctx,
) -> Result<()> {
    let snapshot = ctx
        .snapshot
        .clone()
        .ok_or_else(|| Error::new(ErrorType::InternalError))?;
    let peer = peer(&snapshot.upstream);
    let mut head = session.req_header().clone();
    prepare_upstream_request(&mut head, session, ctx)?;
    ctx.upstream_started = Some(Instant::now());
    // Failures talking to the app are the app's side (502/504), as on pingora's own path.
    let (mut upstream, _reused) = sidecar
        .connector
        .get_http_session(&peer)
        .await
        .map_err(|e| e.into_up())?;
    // The connector leaves them unset; pingora's own path copies them from the peer too.
    upstream.set_read_timeout(peer.options.read_timeout);
    upstream.set_write_timeout(peer.options.write_timeout);
    upstream
        .write_request_header(Box::new(head))
        .await
        .map_err(|e| e.into_up())?;
    upstream
        .write_request_body(ctx.body.clone(), true)
        .await
        .map_err(|e| e.into_up())?;
    upstream
        .finish_request_body()
        .await
        .map_err(|e| e.into_up())?;
    upstream
        .read_response_header()
        .await
        .map_err(|e| e.into_up())?;
    let response: ResponseHeader = upstream.response_header().cloned().ok_or_else(|| {
        Error::explain(
            ErrorType::InvalidHTTPHeader,
            "upstream sent no response header",
        )
    })?;
    ctx.upstream_elapsed = ctx.upstream_started.map(|t| t.elapsed());
    let status = response.status.as_u16();
    ctx.status = Some(status);
    super::settle(ctx, Some(status)).await;
    session
        .write_response_header(Box::new(response), false)
        .await?;
    while let Some(chunk) = upstream
        .read_response_body()
        .await
        .map_err(|e| e.into_up())?
    {
        session.write_response_body(Some(chunk), false).await?;
    }
    session.write_response_body(None, true).await?;
    sidecar
        .connector
        .release_http_session(upstream, &peer, None)
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hookguard_names_and_their_underscore_aliases_are_forged_others_are_not() {
        for name in [
            "x-hookguard-route",
            "x_hookguard_client_ip",
            "x-hookguard_route",
            "x_hookguard-",
        ] {
            assert!(
                is_forged_hookguard_header(&HeaderName::from_static(name)),
                "{name}"
            );
        }
        for name in [
            "x-hookguard",
            "x_hookguard",
            "x-hookguardx-a",
            "x-forwarded-for",
            "x_a",
        ] {
            assert!(
                !is_forged_hookguard_header(&HeaderName::from_static(name)),
                "{name}"
            );
        }
    }
}
