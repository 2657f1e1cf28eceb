//! Just enough `multipart/form-data` (RFC 7578) to find Mailgun's three text fields, and to
//! write them into a body for `sign`. Parts are located, not copied.

use std::ops::Range;

use super::Fields;
use crate::verify::error::SignError;

/// One part of a multipart body.
#[derive(Debug)]
pub(super) struct Part {
    /// The `name` of its `Content-Disposition: form-data`, if any.
    pub(super) name: Option<String>,
    /// Whether it is a file (has a `filename`).
    pub(super) is_file: bool,
    /// Its headers and content, without the delimiter lines.
    pub(super) whole: Range<usize>,
    /// Its content.
    pub(super) content: Range<usize>,
}

/// The parts of a body, in order.
#[derive(Debug)]
pub(super) struct Parts {
    pub(super) parts: Vec<Part>,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Skips transport padding and the line break after a delimiter.
fn after_delimiter_line(body: &[u8], mut pos: usize) -> Option<usize> {
    while matches!(body.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    if body.get(pos..pos + 2) == Some(b"\r\n") {
        Some(pos + 2)
    } else if body.get(pos) == Some(&b'\n') {
        Some(pos + 1)
    } else {
        None
    }
}

/// Reads `name` and `filename` from a part's header block.
fn disposition(headers: &[u8]) -> (Option<String>, bool) {
    let text = String::from_utf8_lossy(headers);
    for line in text.lines() {
        let Some((header, value)) = line.split_once(':') else {
            continue;
        };
        if !header.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut name = None;
        let mut is_file = false;
        for param in value.split(';').skip(1) {
            let Some((key, val)) = param.split_once('=') else {
                continue;
            };
            let val = val.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(val.to_owned()),
                "filename" | "filename*" => is_file = true,
                _ => {}
            }
        }
        return (name, is_file);
    }
    (None, false)
}

/// Splits `body` at `--boundary` delimiters. `None` when the body is not a complete
/// multipart body (no first delimiter, a part never closed).
pub(super) fn parse(body: &[u8], boundary: &str) -> Option<Parts> {
    let delimiter = [b"--", boundary.as_bytes()].concat();
    let close = [b"\r\n--", boundary.as_bytes()].concat();
    // The first delimiter opens the body or follows a preamble line.
    let mut pos = if body.starts_with(&delimiter) {
        delimiter.len()
    } else {
        find(body, &close, 0)? + close.len()
    };
    let mut parts = Vec::new();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Some(Parts { parts });
        }
        let start = after_delimiter_line(body, pos)?;
        let end = find(body, &close, start)?;
        let whole = start..end;
        let part = &body[whole.clone()];
        let (headers, content) = if part.starts_with(b"\r\n") {
            (&part[..0], start + 2..end)
        } else {
            let split = find(part, b"\r\n\r\n", 0)?;
            (&part[..split], start + split + 4..end)
        };
        let (name, is_file) = disposition(headers);
        parts.push(Part {
            name,
            is_file,
            whole,
            content,
        });
        pos = end + close.len();
    }
}

/// The body with Mailgun's fields replaced: other parts are kept byte for byte, the three
/// fields appended before the closing delimiter (preamble and epilogue are dropped).
pub(super) fn sign(body: &[u8], boundary: &str, fields: &Fields<'_>) -> Result<Vec<u8>, SignError> {
    let parts = if body.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        parse(body, boundary)
            .ok_or(SignError::Body {
                expected: "a multipart/form-data body delimited by the Content-Type boundary",
            })?
            .parts
    };
    let line_break = |s: &str| s.contains(['\r', '\n']);
    if fields.pairs().iter().any(|(_, value)| line_break(value)) {
        return Err(SignError::Body {
            expected: "a token without line breaks (it becomes a multipart field)",
        });
    }
    let mut out = Vec::with_capacity(body.len() + 400);
    let open = |out: &mut Vec<u8>| {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    for part in &parts {
        let ours = !part.is_file
            && matches!(
                part.name.as_deref(),
                Some("timestamp" | "token" | "signature")
            );
        if ours {
            continue;
        }
        open(&mut out);
        out.extend_from_slice(&body[part.whole.clone()]);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in fields.pairs() {
        open(&mut out);
        out.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    Ok(out)
}
