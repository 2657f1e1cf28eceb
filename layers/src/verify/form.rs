//! `application/x-www-form-urlencoded`, for the schemes that sign form fields (Twilio,
//! Mailgun) — the WHATWG URL standard's rules, which the `form_urlencoded` crate follows
//! and the tests compare against.
//!
//! Written here rather than taken from that crate: decoding and encoding are a few lines,
//! the strict decoding Twilio needs was hand-written already, and the crate and its
//! companion were two of the `verify` feature's crates.

use std::borrow::Cow;

/// The `name=value` pairs of a form, split at `&` and at the first `=` of each; empty
/// segments are skipped, a segment without `=` has an empty value. Neither part decoded.
pub(crate) fn raw_pairs(form: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    form.split(|&b| b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| match segment.iter().position(|&b| b == b'=') {
            Some(eq) => (&segment[..eq], &segment[eq + 1..]),
            None => (segment, &[][..]),
        })
}

/// A component decoded (`+` is a space, `%XX` a byte), refused when the bytes are not
/// UTF-8: two bodies that differ only in invalid bytes must not sign the same. Malformed
/// `%` escapes are kept literally, as browsers, `form_urlencoded`, Python and Node do.
pub(crate) fn decode(component: &[u8]) -> Option<String> {
    String::from_utf8(decode_bytes(component)).ok()
}

/// A component decoded, invalid UTF-8 replaced by U+FFFD (as `form_urlencoded::parse`).
pub(crate) fn decode_lossy(component: &[u8]) -> Cow<'_, str> {
    if !component.iter().any(|&b| b == b'+' || b == b'%') {
        return String::from_utf8_lossy(component);
    }
    Cow::Owned(String::from_utf8_lossy(&decode_bytes(component)).into_owned())
}

fn decode_bytes(raw: &[u8]) -> Vec<u8> {
    fn hex_value(b: &u8) -> Option<u8> {
        (*b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(hex_value),
                raw.get(i + 2).and_then(hex_value),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Appends `name=value`, each encoded, with a `&` before it unless `out` is empty.
pub(crate) fn append_pair(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    encode_into(out, name);
    out.push('=');
    encode_into(out, value);
}

fn encode_into(out: &mut String, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'*' | b'-' | b'.' | b'_' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Bytes that matter to the format, more often than chance would pick them.
    fn form() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                3 => proptest::sample::select(b"&=+%aF0zg \xff\xc3\xa9".to_vec()),
                1 => any::<u8>(),
            ],
            0..40,
        )
    }

    proptest! {
        #[test]
        fn lossy_pairs_agree_with_form_urlencoded(form in form()) {
            let ours: Vec<_> = raw_pairs(&form)
                .map(|(name, value)| (decode_lossy(name).into_owned(), decode_lossy(value).into_owned()))
                .collect();
            let theirs: Vec<_> = form_urlencoded::parse(&form)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect();
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn strict_decoding_is_lossy_decoding_when_utf8(component in form()) {
            match decode(&component) {
                Some(text) => prop_assert_eq!(text, decode_lossy(&component).into_owned()),
                None => prop_assert!(decode_lossy(&component).contains(char::REPLACEMENT_CHARACTER)),
            }
        }

        #[test]
        fn encoding_agrees_with_form_urlencoded(pairs in proptest::collection::vec((".{0,8}", ".{0,8}"), 0..4)) {
            let mut ours = String::new();
            let mut theirs = form_urlencoded::Serializer::new(String::new());
            for (name, value) in &pairs {
                append_pair(&mut ours, name, value);
                theirs.append_pair(name, value);
            }
            prop_assert_eq!(ours, theirs.finish());
        }
    }
}
