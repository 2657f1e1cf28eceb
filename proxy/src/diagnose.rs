//! The likely-mistake search behind `hookguard explain` and the sandbox: when a signature
//! does not verify, try what senders commonly get wrong and say which one fits.
//!
//! Every hypothesis is checked by the scheme's own `verify` code on a changed copy of the
//! request (another body, URL, header encoding or key): nothing here computes a MAC, so
//! the search cannot disagree with the sidecar about what a valid signature is.
//!
//! Hypotheses (in this order): the clock (a valid signature outside the window), the body
//! changed after signing (trailing newline, line endings, re-serialised JSON), the secret's
//! encoding (`whsec_` decoded or not, hex or base64 bytes, a stray newline), the MAC written
//! in hex where base64 is expected or the other way round, the wrong URL for schemes that
//! sign it, and an old or another route's secret.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use hookguard_layers::verify::{
    Key, KeyEntry, Keyring, Scheme, Verified, VerifyContext, VerifyError, WebhookRequest,
};
use http::{HeaderMap, HeaderValue, Method};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// A secret to try: a label for reports (`secret primary`: never the value) and the value.
pub(crate) struct Candidate {
    pub(crate) label: String,
    pub(crate) value: SecretString,
}

impl Candidate {
    pub(crate) fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: SecretString::from(value.into()),
        }
    }
}

/// A request whose signature did not verify, and what to try it with.
pub(crate) struct Suspect<'a> {
    pub(crate) scheme: &'a dyn Scheme,
    /// The route's own secrets, primary first.
    pub(crate) secrets: &'a [Candidate],
    /// Secrets the sender may use by mistake: old ones, other routes'.
    pub(crate) others: &'a [Candidate],
    pub(crate) method: &'a Method,
    /// The URL the sender called, for schemes that sign it.
    pub(crate) url: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
    /// The time to judge timestamps at (Unix seconds).
    pub(crate) now: i64,
    pub(crate) tolerance: Option<u64>,
}

/// One mistake that was tried, and whether it explains the failure.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Hypothesis {
    /// `clock_skew`, `body_changed`, `secret_encoding`, `signature_encoding`, `wrong_url`,
    /// `old_secret`.
    pub(crate) mistake: &'static str,
    /// Whether the request verifies once this mistake is undone.
    pub(crate) fits: bool,
    /// What was tried or what fits, in words.
    pub(crate) detail: String,
}

impl Hypothesis {
    fn fits(mistake: &'static str, detail: impl Into<String>) -> Self {
        Self {
            mistake,
            fits: true,
            detail: detail.into(),
        }
    }

    fn tried(mistake: &'static str, detail: impl Into<String>) -> Self {
        Self {
            mistake,
            fits: false,
            detail: detail.into(),
        }
    }
}

impl Suspect<'_> {
    /// Verifies a variant of the request with the timestamp window off, so that a second
    /// mistake (an old capture) does not hide the first.
    fn verifies(
        &self,
        keys: &Keyring,
        url: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        let request = WebhookRequest {
            method: self.method,
            url,
            headers,
            body,
        };
        let ctx = VerifyContext::new(self.scheme, self.now).with_tolerance(None);
        self.scheme.verify(&request, keys, &ctx)
    }

    fn loose(&self, keys: &Keyring) -> bool {
        self.verifies(keys, self.url, self.headers, self.body)
            .is_ok()
    }

    /// The candidates the scheme can use, as one keyring; unusable ones are left out.
    fn keyring(&self, secrets: &[Candidate]) -> std::sync::Arc<Keyring> {
        let entries = secrets
            .iter()
            .filter_map(|c| {
                let key = self.scheme.parse_key(c.value.expose_secret()).ok()?;
                Some(KeyEntry {
                    id: c.label.as_str().into(),
                    key,
                })
            })
            .collect();
        Keyring::from_keys(entries)
    }
}

fn one_key(label: &str, key: Key) -> std::sync::Arc<Keyring> {
    Keyring::from_keys(vec![KeyEntry {
        id: label.into(),
        key,
    }])
}

/// Tries every likely mistake; the result lists each one tried, fitting ones first.
pub(crate) fn likely_mistakes(s: &Suspect<'_>) -> Vec<Hypothesis> {
    let keys = s.keyring(s.secrets);
    let mut found = Vec::new();
    let request = WebhookRequest {
        method: s.method,
        url: s.url,
        headers: s.headers,
        body: s.body,
    };
    let strict = VerifyContext::new(s.scheme, s.now).with_tolerance(s.tolerance);
    if let Err(VerifyError::TimestampOutsideWindow { skew_secs }) =
        s.scheme.verify(&request, &keys, &strict)
    {
        let direction = if skew_secs < 0 { "ahead of" } else { "behind" };
        let signature = if s.loose(&keys) {
            "the signature itself is valid"
        } else {
            "and the signature does not match either"
        };
        found.push(Hypothesis::fits(
            "clock_skew",
            format!(
                "clock skew of {} s: the signed timestamp is {} s {direction} this clock \
                 (tolerance {} s); {signature} — the sender's clock is off, or the delivery \
                 was delayed or replayed",
                skew_secs.unsigned_abs(),
                skew_secs.unsigned_abs(),
                s.tolerance.unwrap_or(0),
            ),
        ));
    }
    if s.loose(&keys) {
        // Only the timestamp is wrong (reported above), or nothing is.
        return found;
    }
    found.extend(body_changed(s, &keys));
    found.extend(secret_encoding(s));
    found.extend(signature_encoding(s, &keys));
    found.extend(wrong_url(s, &keys));
    found.extend(old_secret(s));
    found.sort_by_key(|h| !h.fits);
    found
}

/// Bodies the sender may have signed instead of the one received.
fn body_variants(body: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut variants: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut with = |what, bytes: Vec<u8>| {
        if bytes != body {
            variants.push((what, bytes));
        }
    };
    with(
        "with a trailing newline (lost on the way)",
        [body, b"\n"].concat(),
    );
    with("with a trailing CRLF", [body, b"\r\n"].concat());
    if let Some(stripped) = body.strip_suffix(b"\r\n") {
        with(
            "without the trailing CRLF added on the way",
            stripped.to_vec(),
        );
    } else if let Some(stripped) = body.strip_suffix(b"\n") {
        with(
            "without the trailing newline added on the way",
            stripped.to_vec(),
        );
    }
    if body.windows(2).any(|w| w == b"\r\n") {
        with(
            "with LF line endings (CRLF received)",
            replace(body, b"\r\n", b"\n"),
        );
    } else if body.contains(&b'\n') {
        with(
            "with CRLF line endings (LF received)",
            replace(body, b"\n", b"\r\n"),
        );
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Ok(compact) = serde_json::to_vec(&json) {
            with("as compact JSON (the receiver re-serialised it)", compact);
        }
        if let Ok(pretty) = serde_json::to_vec_pretty(&json) {
            with("as pretty-printed JSON (re-serialised)", pretty);
        }
    }
    variants
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while !rest.is_empty() {
        if rest.starts_with(from) {
            out.extend_from_slice(to);
            rest = &rest[from.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

fn body_changed(s: &Suspect<'_>, keys: &Keyring) -> Vec<Hypothesis> {
    let variants = body_variants(s.body);
    for (what, body) in &variants {
        if s.verifies(keys, s.url, s.headers, body).is_ok() {
            return vec![Hypothesis::fits(
                "body_changed",
                format!("the body changed after signing: the signature matches the body {what}"),
            )];
        }
    }
    let tried: Vec<&str> = variants.iter().map(|(w, _)| *w).collect();
    vec![Hypothesis::tried(
        "body_changed",
        format!("tried the body {}", tried.join("; ")),
    )]
}

fn secret_encoding(s: &Suspect<'_>) -> Vec<Hypothesis> {
    let mut tried = Vec::new();
    for candidate in s.secrets {
        let text = candidate.value.expose_secret();
        let label = &candidate.label;
        let mut texts: Vec<(String, String)> = Vec::new();
        if text.trim() != text {
            texts.push((
                format!("{label} without its surrounding whitespace"),
                text.trim().to_owned(),
            ));
        }
        texts.push((
            format!("{label} with a trailing newline (e.g. `echo` into a file)"),
            format!("{text}\n"),
        ));
        match text.strip_prefix("whsec_") {
            Some(bare) => texts.push((
                format!("{label} without its whsec_ prefix"),
                bare.to_owned(),
            )),
            None => texts.push((
                format!("{label} with a whsec_ prefix (base64-decoded)"),
                format!("whsec_{text}"),
            )),
        }
        for (what, variant) in texts {
            if let Ok(key) = s.scheme.parse_key(&variant) {
                if s.loose(&one_key(label, key)) {
                    return vec![Hypothesis::fits(
                        "secret_encoding",
                        format!("the sender uses the {what}"),
                    )];
                }
            }
            tried.push(what);
        }
        // Raw-byte keys, for HMAC schemes: the same algorithm, other bytes.
        let Ok(Key::Mac(mac)) = s.scheme.parse_key(text) else {
            continue;
        };
        let algorithm = mac.algorithm();
        let bare = text.strip_prefix("whsec_").unwrap_or(text);
        let mut raw: Vec<(String, Vec<u8>)> = vec![(
            format!("{label} as the literal HMAC key (the text, not decoded)"),
            text.as_bytes().to_vec(),
        )];
        if let Ok(bytes) = STANDARD.decode(bare).or_else(|_| URL_SAFE.decode(bare)) {
            raw.push((
                format!("{label}'s base64-decoded bytes (whsec_ decoding)"),
                bytes,
            ));
        }
        if let Ok(bytes) = hex::decode(bare) {
            raw.push((format!("{label}'s hex-decoded bytes"), bytes));
        }
        for (what, bytes) in raw {
            if s.loose(&one_key(label, Key::mac(algorithm, &bytes))) {
                return vec![Hypothesis::fits(
                    "secret_encoding",
                    format!("the sender uses the {what}"),
                )];
            }
            tried.push(what);
        }
    }
    vec![Hypothesis::tried(
        "secret_encoding",
        format!("tried the {}", tried.join("; ")),
    )]
}

/// MAC-sized tokens in a header value: hex of 20/32/64 bytes, or base64 of the same.
fn transcoded(value: &str) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for token in value.split([',', ';', ' ']) {
        // `sha256=<mac>`, `v1=<mac>`: a short label before the first `=`.
        let mut texts = vec![token];
        if let Some((label, mac)) = token.split_once('=') {
            if label.len() <= 10 && label.bytes().all(|b| b.is_ascii_alphanumeric()) {
                texts.push(mac);
            }
        }
        for text in texts {
            let sizes = [20, 32, 64];
            if text.bytes().all(|b| b.is_ascii_hexdigit()) && sizes.contains(&(text.len() / 2)) {
                if let Ok(bytes) = hex::decode(text) {
                    out.push((value.replacen(text, &STANDARD.encode(bytes), 1), "base64"));
                }
            } else if let Ok(bytes) = STANDARD.decode(text).or_else(|_| URL_SAFE.decode(text)) {
                if sizes.contains(&bytes.len()) {
                    out.push((value.replacen(text, &hex::encode(bytes), 1), "hex"));
                }
            }
        }
    }
    out
}

fn signature_encoding(s: &Suspect<'_>, keys: &Keyring) -> Vec<Hypothesis> {
    for (name, value) in s.headers {
        let Ok(text) = value.to_str() else { continue };
        for (changed, sent_as_other) in transcoded(text) {
            let Ok(changed) = HeaderValue::from_str(&changed) else {
                continue;
            };
            let mut headers = s.headers.clone();
            headers.insert(name.clone(), changed);
            if s.verifies(keys, s.url, &headers, s.body).is_ok() {
                let (sent, expected) = if sent_as_other == "base64" {
                    ("hex", "base64")
                } else {
                    ("base64", "hex")
                };
                return vec![Hypothesis::fits(
                    "signature_encoding",
                    format!(
                        "header {name}: the sender wrote the MAC in {sent}, the scheme expects \
                         {expected} (the MAC itself is right)"
                    ),
                )];
            }
        }
    }
    vec![Hypothesis::tried(
        "signature_encoding",
        "tried each MAC in the headers re-encoded hex <-> base64",
    )]
}

/// URLs the sender may have signed instead.
fn url_variants(url: &str) -> Vec<(String, String)> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |u: &reqwest::Url| {
        let text = u.to_string();
        if text != url && !out.iter().any(|(t, _)| t == &text) {
            out.push((text.clone(), text));
        }
    };
    let mut other = parsed.clone();
    if other
        .set_scheme(if parsed.scheme() == "https" {
            "http"
        } else {
            "https"
        })
        .is_ok()
    {
        push(&other);
    }
    let mut slash = parsed.clone();
    let path = parsed.path();
    match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => slash.set_path(p),
        _ => slash.set_path(&format!("{path}/")),
    }
    push(&slash);
    if parsed.query().is_some() {
        let mut bare = parsed.clone();
        bare.set_query(None);
        push(&bare);
    }
    if let Some(port) = parsed.port_or_known_default() {
        // With the default port written out (some SDKs sign it), or without a written one.
        let text = match parsed.port() {
            Some(_) => {
                let mut u = parsed.clone();
                let _ = u.set_port(None);
                u.to_string()
            }
            None => {
                let host = parsed.host_str().unwrap_or_default();
                url.replacen(host, &format!("{host}:{port}"), 1)
            }
        };
        if text != url {
            out.push((text.clone(), text));
        }
    }
    out
}

fn wrong_url(s: &Suspect<'_>, keys: &Keyring) -> Vec<Hypothesis> {
    // A scheme signs the URL when it cannot verify without one.
    let without = s.verifies(keys, None, s.headers, s.body);
    if !matches!(without, Err(VerifyError::UrlUnknown)) {
        return Vec::new();
    }
    let Some(url) = s.url else {
        return vec![Hypothesis::fits(
            "wrong_url",
            "the scheme signs the URL the sender called, and it is unknown: set the route's \
             public_url (or pass --url)",
        )];
    };
    let variants = url_variants(url);
    for (shown, variant) in &variants {
        if s.verifies(keys, Some(variant), s.headers, s.body).is_ok() {
            return vec![Hypothesis::fits(
                "wrong_url",
                format!("the sender signed the URL {shown}, not {url}"),
            )];
        }
    }
    let tried: Vec<&str> = variants.iter().map(|(t, _)| t.as_str()).collect();
    vec![Hypothesis::tried(
        "wrong_url",
        format!("tried the URLs {}", tried.join(", ")),
    )]
}

fn old_secret(s: &Suspect<'_>) -> Vec<Hypothesis> {
    if s.others.is_empty() {
        return vec![Hypothesis::tried(
            "old_secret",
            "no old secrets given (--old-secret) and no other route's secrets to try",
        )];
    }
    let keys = s.keyring(s.others);
    match s.verifies(&keys, s.url, s.headers, s.body) {
        Ok(v) => vec![Hypothesis::fits(
            "old_secret",
            format!(
                "the request is signed with {}: the sender still uses a secret this route no \
                 longer has (rotation not finished on its side?)",
                v.secret_id
            ),
        )],
        Err(_) => {
            let labels: Vec<&str> = s.others.iter().map(|c| c.label.as_str()).collect();
            vec![Hypothesis::tried(
                "old_secret",
                format!("tried {}", labels.join(", ")),
            )]
        }
    }
}

#[cfg(test)]
mod tests;
