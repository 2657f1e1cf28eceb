//! What the sandbox answers, per path: the settings file, the `--path` flags and the
//! `/_sandbox/config` endpoint all produce one [`Settings`], checked by one `compile`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hookguard_config::HumanDuration;
use hookguard_layers::verify::{schemes, Keyring, Scheme};
use http::{HeaderName, HeaderValue, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::diagnose::Candidate;

/// Requests kept in the history unless told otherwise.
pub(crate) const DEFAULT_HISTORY: usize = 100;
/// The most the history may be set to keep.
const MAX_HISTORY: usize = 100_000;

/// The whole sandbox configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// What a path without its own entry gets (default: 200, empty body).
    #[serde(default)]
    pub(crate) default: Behaviour,
    /// Per path: an exact path (`/hooks/a`), or a prefix ending in `*` (`/hooks/*`); the
    /// longest prefix wins.
    #[serde(default)]
    pub(crate) paths: BTreeMap<String, Behaviour>,
    /// Check each request's signature with a scheme and secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) verify: Option<VerifySettings>,
    /// How many requests the history keeps (the oldest goes first).
    #[serde(default = "default_history")]
    pub(crate) history: usize,
    /// Seed of the error injection and delay ranges: one seed, one sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
}

fn default_history() -> usize {
    DEFAULT_HISTORY
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default: Behaviour::default(),
            paths: BTreeMap::new(),
            verify: None,
            history: DEFAULT_HISTORY,
            seed: None,
        }
    }
}

/// How one path answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Behaviour {
    /// The status answered (default 200).
    #[serde(default = "default_status")]
    pub(crate) status: u16,
    /// The body answered.
    #[serde(default)]
    pub(crate) body: String,
    /// Headers added to the answer.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// Share of requests answered with `error_status` instead, from 0 to 1 (0.3: 30 %).
    #[serde(default)]
    pub(crate) error_rate: f64,
    /// The status of an injected error (default 500).
    #[serde(default = "default_error_status")]
    pub(crate) error_status: u16,
    /// Wait before answering: `"250ms"`, or a range `"100ms..2s"` (uniform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) delay: Option<Delay>,
    /// Never answer: hold the request this long, then close the connection without a
    /// response (the sender sees a timeout or a reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timeout: Option<HumanDuration>,
}

fn default_status() -> u16 {
    200
}

fn default_error_status() -> u16 {
    500
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            status: default_status(),
            body: String::new(),
            headers: BTreeMap::new(),
            error_rate: 0.0,
            error_status: default_error_status(),
            delay: None,
            timeout: None,
        }
    }
}

/// A fixed delay or a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct Delay {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
}

impl TryFrom<String> for Delay {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let parse = |t: &str| t.trim().parse::<HumanDuration>().map(HumanDuration::get);
        let (min, max) = match text.split_once("..") {
            Some((lo, hi)) => (parse(lo)?, parse(hi)?),
            None => {
                let d = parse(&text)?;
                (d, d)
            }
        };
        if min > max {
            return Err(format!(
                "delay {text:?}: the range's start is after its end; expected \"100ms..2s\""
            ));
        }
        Ok(Self { min, max })
    }
}

impl From<Delay> for String {
    fn from(d: Delay) -> String {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        if d.min == d.max {
            show(d.min)
        } else {
            format!("{}..{}", show(d.min), show(d.max))
        }
    }
}

/// Signature checking: a scheme and its secrets.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifySettings {
    /// A scheme name, as in the sidecar's config (`github`, `stripe`, …).
    pub(crate) scheme: String,
    /// The secrets to accept, primary first.
    #[serde(deserialize_with = "secret_strings")]
    pub(crate) secrets: Vec<SecretString>,
    /// Timestamp tolerance in seconds (default: the provider's).
    #[serde(default)]
    pub(crate) tolerance: Option<u64>,
    /// The public base URL senders call (`https://hooks.example.com`), for schemes that sign
    /// the URL; default `http://{Host}`.
    #[serde(default)]
    pub(crate) public_url: Option<String>,
    /// Answer 401 (with the reason) to a request whose signature fails, instead of the
    /// path's answer.
    #[serde(default)]
    pub(crate) enforce: bool,
}

fn secret_strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    Vec::<String>::deserialize(d).map(|v| v.into_iter().map(SecretString::from).collect())
}

impl std::fmt::Debug for VerifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifySettings")
            .field("scheme", &self.scheme)
            .field("secrets", &self.secrets.len())
            .field("enforce", &self.enforce)
            .finish_non_exhaustive()
    }
}

impl Serialize for VerifySettings {
    /// Secrets are shown as `"[redacted]"`: the config endpoint never returns them.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "scheme": self.scheme,
            "secrets": vec!["[redacted]"; self.secrets.len()],
            "tolerance": self.tolerance,
            "public_url": self.public_url,
            "enforce": self.enforce,
        })
        .serialize(serializer)
    }
}

/// Settings checked and ready: the scheme and keys parsed once.
pub(crate) struct Compiled {
    pub(crate) settings: Settings,
    pub(crate) verify: Option<Verify>,
}

/// A parsed [`VerifySettings`].
pub(crate) struct Verify {
    pub(crate) scheme: Arc<dyn Scheme>,
    pub(crate) keys: Arc<Keyring>,
    /// The same secrets, for the likely-mistake search.
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) settings: VerifySettings,
}

impl Settings {
    /// Reads a settings file: TOML, or JSON when the name ends in `.json`.
    pub(crate) fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("sandbox settings {}: {e}", path.display()))?;
        let parsed = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        } else {
            toml::from_str(&text).map_err(|e| e.to_string())
        };
        parsed.map_err(|e| format!("sandbox settings {}: {e}", path.display()))
    }

    /// Applies one `--path 'PATH=key=value,key=value'` flag.
    pub(crate) fn apply_path_flag(&mut self, flag: &str) -> Result<(), String> {
        let expected =
            "expected 'PATH=key=value,…' such as '/hooks/flaky=error_rate=0.3,error_status=503'";
        let (path, pairs) = flag
            .split_once('=')
            .ok_or_else(|| format!("--path {flag:?}: {expected}"))?;
        let mut object = serde_json::Map::new();
        for pair in pairs.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("--path {flag:?}: {pair:?} has no '='; {expected}"))?;
            // Numbers stay numbers (status, error_rate); everything else is text.
            let value = serde_json::from_str::<serde_json::Number>(value.trim())
                .map(serde_json::Value::Number)
                .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
            object.insert(key.trim().to_owned(), value);
        }
        let behaviour: Behaviour = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| format!("--path {flag:?}: {e}"))?;
        self.paths.insert(path.trim().to_owned(), behaviour);
        Ok(())
    }

    /// Checks everything at once: each problem names where it is and what was expected.
    pub(crate) fn compile(self) -> Result<Compiled, Vec<String>> {
        let mut problems = Vec::new();
        behaviour_problems("default", &self.default, &mut problems);
        for (path, behaviour) in &self.paths {
            if !path.starts_with('/') {
                problems.push(format!(
                    "paths.{path:?}: expected a path starting with /, e.g. \"/hooks/github\" or \"/hooks/*\""
                ));
            }
            behaviour_problems(&format!("paths.{path:?}"), behaviour, &mut problems);
        }
        if !(1..=MAX_HISTORY).contains(&self.history) {
            problems.push(format!(
                "history: {} is out of range; expected 1 to {MAX_HISTORY}",
                self.history
            ));
        }
        let verify = match &self.verify {
            None => None,
            Some(v) => compile_verify(v, &mut problems),
        };
        if problems.is_empty() {
            Ok(Compiled {
                settings: self,
                verify,
            })
        } else {
            Err(problems)
        }
    }
}

fn compile_verify(v: &VerifySettings, problems: &mut Vec<String>) -> Option<Verify> {
    let Some(scheme) = schemes::by_name(&v.scheme) else {
        problems.push(format!(
            "verify.scheme: unknown scheme {:?}; expected one of: {}",
            v.scheme,
            schemes::NAMES.join(", ")
        ));
        return None;
    };
    if v.secrets.is_empty() {
        problems.push("verify.secrets: empty; expected at least one secret".into());
        return None;
    }
    let keys = match Keyring::from_named_secrets(
        &*scheme,
        v.secrets
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("secret {i}"), s.expose_secret().to_owned())),
    ) {
        Ok(keys) => keys,
        Err(e) => {
            // The error names the position and the expected format, never the value.
            problems.push(format!("verify.secrets: {e}"));
            return None;
        }
    };
    if let Some(url) = &v.public_url {
        if reqwest::Url::parse(url).is_err() {
            problems.push(format!(
                "verify.public_url: {url:?} is not a URL; expected e.g. \"https://hooks.example.com\""
            ));
        }
    }
    Some(Verify {
        candidates: v
            .secrets
            .iter()
            .enumerate()
            .map(|(i, s)| Candidate::new(format!("secret {i}"), s.expose_secret()))
            .collect(),
        scheme,
        keys,
        settings: v.clone(),
    })
}

fn behaviour_problems(at: &str, b: &Behaviour, problems: &mut Vec<String>) {
    for (field, status) in [("status", b.status), ("error_status", b.error_status)] {
        if StatusCode::from_u16(status).is_err() || status < 200 {
            problems.push(format!(
                "{at}.{field}: {status} is not a final HTTP status; expected 200 to 999"
            ));
        }
    }
    if !(0.0..=1.0).contains(&b.error_rate) {
        problems.push(format!(
            "{at}.error_rate: {} is out of range; expected 0 to 1 (0.3 for 30 %)",
            b.error_rate
        ));
    }
    for (name, value) in &b.headers {
        if HeaderName::try_from(name.as_str()).is_err() {
            problems.push(format!("{at}.headers: {name:?} is not a header name"));
        } else if HeaderValue::try_from(value.as_str()).is_err() {
            problems.push(format!(
                "{at}.headers.{name}: the value has characters not allowed in a header"
            ));
        }
    }
}

impl Compiled {
    /// The behaviour for `path`: its exact entry, else the longest `*` prefix, else the
    /// default.
    pub(crate) fn behaviour(&self, path: &str) -> &Behaviour {
        if let Some(exact) = self.settings.paths.get(path) {
            return exact;
        }
        self.settings
            .paths
            .iter()
            .filter_map(|(pattern, b)| {
                let prefix = pattern.strip_suffix('*')?;
                path.starts_with(prefix).then_some((prefix.len(), b))
            })
            .max_by_key(|(len, _)| *len)
            .map_or(&self.settings.default, |(_, b)| b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_flags_become_behaviours_and_bad_ones_say_what_is_expected() {
        let mut s = Settings::default();
        s.apply_path_flag("/flaky=error_rate=0.3,error_status=503")
            .unwrap();
        s.apply_path_flag("/slow=delay=100ms..2s,body=slow ok")
            .unwrap();
        assert_eq!(s.paths["/flaky"].error_rate, 0.3);
        assert_eq!(s.paths["/flaky"].error_status, 503);
        assert_eq!(
            s.paths["/slow"].delay,
            Some(Delay {
                min: Duration::from_millis(100),
                max: Duration::from_secs(2)
            })
        );
        assert_eq!(s.paths["/slow"].body, "slow ok");
        let e = s.apply_path_flag("/x=colour=red").unwrap_err();
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = s.apply_path_flag("/x=delay=2s..1s").unwrap_err();
        assert!(e.contains("start is after its end"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_at_once_without_secret_values() {
        let mut s: Settings = toml::from_str(
            r#"
            default = { status = 42 }
            paths."nope" = { error_rate = 1.5 }
            verify = { scheme = "standard-webhooks", secrets = ["not-base64!!"] }
            "#,
        )
        .unwrap();
        s.history = 0;
        let problems = s.compile().err().unwrap();
        let text = problems.join("\n");
        assert_eq!(problems.len(), 5, "{text}");
        for part in [
            "default.status: 42",
            "paths.\"nope\": expected a path starting with /",
            "error_rate: 1.5 is out of range",
            "history: 0",
            "verify.secrets: secret 0",
        ] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
        assert!(!text.contains("not-base64!!"));
    }

    #[test]
    fn exact_paths_win_then_the_longest_prefix_then_the_default() {
        let mut s = Settings::default();
        s.apply_path_flag("/hooks/*=status=201").unwrap();
        s.apply_path_flag("/hooks/github/*=status=202").unwrap();
        s.apply_path_flag("/hooks/github/x=status=203").unwrap();
        let c = s.compile().ok().unwrap();
        assert_eq!(c.behaviour("/hooks/github/x").status, 203);
        assert_eq!(c.behaviour("/hooks/github/y").status, 202);
        assert_eq!(c.behaviour("/hooks/stripe").status, 201);
        assert_eq!(c.behaviour("/elsewhere").status, 200);
    }

    #[test]
    fn the_config_endpoint_view_hides_secrets() {
        let s: Settings =
            toml::from_str(r#"verify = { scheme = "github", secrets = ["hunter2-secret"] }"#)
                .unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("hunter2-secret"), "{json}");
        assert!(json.contains("[redacted]"), "{json}");
        assert!(!format!("{s:?}").contains("hunter2-secret"));
    }
}
