//! Headers added to and removed from the request the app receives.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::RuleError;

/// Prefix of hookguard's own headers: a rule can neither set nor remove them, so what the
/// app reads there is always what hookguard decided.
pub const PROTECTED_PREFIX: &str = "x-hookguard-";

/// Headers that frame the request or the connection: the proxy sets them, a rule may not.
const FRAMING: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "te",
    "trailer",
    "upgrade",
];

/// `remove_headers`, then `add_headers` (which replace a header of the same name).
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    add: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

impl HeaderRules {
    /// Rules that change nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name: value` on every forwarded request.
    pub fn add(mut self, name: &str, value: &str) -> Result<Self, RuleError> {
        let name = allowed(name)?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            RuleError::new(
                format!("the value of {name} is not a valid header value"),
                "visible ASCII text without line breaks",
            )
        })?;
        self.add.push((name, value));
        Ok(self)
    }

    /// Removes `name` from every forwarded request.
    pub fn remove(mut self, name: &str) -> Result<Self, RuleError> {
        self.remove.push(allowed(name)?);
        Ok(self)
    }

    /// Whether these rules change nothing.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies the rules to `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.add {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// Checks that a rule may touch `name`.
pub fn allowed(name: &str) -> Result<HeaderName, RuleError> {
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        RuleError::new(
            format!("{name:?} is not a header name"),
            "a header name such as \"X-Team\"",
        )
    })?;
    if parsed.as_str().starts_with(PROTECTED_PREFIX) {
        return Err(RuleError::new(
            format!("{name} is one of hookguard's own headers"),
            "a header not starting with x-hookguard- (the app trusts those to come from hookguard)",
        ));
    }
    if FRAMING.contains(&parsed.as_str()) {
        return Err(RuleError::new(
            format!("{name} frames the request; the proxy sets it"),
            "an application header",
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_then_add_replaces() {
        let rules = HeaderRules::new()
            .remove("x-forwarded-host")
            .unwrap()
            .add("X-Team", "payments")
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-host", "evil".parse().unwrap());
        headers.append("x-team", "a".parse().unwrap());
        headers.append("x-team", "b".parse().unwrap());
        rules.apply(&mut headers);
        assert!(!headers.contains_key("x-forwarded-host"));
        assert_eq!(headers.get_all("x-team").iter().count(), 1);
        assert_eq!(headers["x-team"], "payments");
    }

    #[test]
    fn hookguard_and_framing_headers_are_out_of_reach() {
        for name in [
            "X-Hookguard-Route",
            "x-hookguard-delivery-id",
            "Content-Length",
            "Host",
        ] {
            assert!(HeaderRules::new().add(name, "x").is_err(), "{name}");
            assert!(HeaderRules::new().remove(name).is_err(), "{name}");
        }
        assert!(HeaderRules::new().add("X-Team", "line\nbreak").is_err());
        assert!(HeaderRules::new().add("bad name", "x").is_err());
    }
}
