//! JSON bodies for `sign`: the `"signature"` object is spliced into the caller's bytes, not
//! re-serialised, so every other byte stays as written.

use std::ops::Range;

use serde::de::IgnoredAny;
use serde_json::Value;

use super::Fields;
use crate::verify::error::SignError;

/// The body with its top-level `"signature"` object inserted, or replaced if present.
pub(super) fn sign(body: &[u8], fields: &Fields<'_>) -> Result<Vec<u8>, SignError> {
    let not_object = SignError::Body {
        expected: "a JSON object",
    };
    // Validates the whole body first, so the splice below works on well-formed JSON.
    serde_json::from_slice::<serde_json::Map<String, Value>>(body)
        .map_err(|_| not_object.clone())?;
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let object = format!(
        "{{\"token\":{},\"timestamp\":{},\"signature\":{}}}",
        quote(fields.token),
        quote(fields.timestamp),
        quote(fields.signature)
    );
    let mut out = Vec::with_capacity(body.len() + object.len() + 16);
    if let Some(span) = value_span(body, "signature") {
        out.extend_from_slice(&body[..span.start]);
        out.extend_from_slice(object.as_bytes());
        out.extend_from_slice(&body[span.end..]);
        return Ok(out);
    }
    let open = body.iter().position(|&b| b == b'{').ok_or(not_object)?;
    let rest = &body[open + 1..];
    let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(b"\"signature\":");
    out.extend_from_slice(object.as_bytes());
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Ok(out)
}

/// The byte range of the value of the first top-level `field` of a JSON object.
pub(super) fn value_span(body: &[u8], field: &str) -> Option<Range<usize>> {
    fn skip_ws(body: &[u8], mut pos: usize) -> usize {
        while body.get(pos).is_some_and(u8::is_ascii_whitespace) {
            pos += 1;
        }
        pos
    }
    /// Reads one JSON value at `pos`, returning it and the offset just after it.
    fn read<T: serde::de::DeserializeOwned>(body: &[u8], pos: usize) -> Option<(T, usize)> {
        let mut stream = serde_json::Deserializer::from_slice(body.get(pos..)?).into_iter::<T>();
        let value = stream.next()?.ok()?;
        Some((value, pos + stream.byte_offset()))
    }
    let mut pos = skip_ws(body, 0);
    if body.get(pos) != Some(&b'{') {
        return None;
    }
    pos += 1;
    loop {
        pos = skip_ws(body, pos);
        if body.get(pos) == Some(&b'}') {
            return None;
        }
        let (key, after_key) = read::<String>(body, pos)?;
        pos = skip_ws(body, after_key);
        if body.get(pos) != Some(&b':') {
            return None;
        }
        let start = skip_ws(body, pos + 1);
        let (IgnoredAny, end) = read::<IgnoredAny>(body, start)?;
        if key == field {
            return Some(start..end);
        }
        pos = skip_ws(body, end);
        if body.get(pos) != Some(&b',') {
            return None;
        }
        pos += 1;
    }
}
