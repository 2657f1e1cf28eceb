//! A route: which requests it matches, how they are verified, and what guards them.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hookguard_layers::verify::schemes::hmac::{
    HmacOptionError, HmacOptions, HmacScheme, TimestampFormat,
};
use hookguard_layers::verify::{schemes, Scheme};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::delivery::{DeliveryMode, RouteQueue};
use super::ip::IpRules;
use super::secret::SecretSpec;
use super::{Defaults, Mode};
use crate::units::{ByteSize, HumanDuration, Tolerance};

/// One webhook endpoint of the app and the checks in front of it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The route's name: letters, digits, `-` and `_`, unique in the file. It appears in
    /// logs, in metrics (`route` label) and in the `x-hookguard-route` header.
    pub id: String,
    /// Which request paths this route takes (the query string is not part of the match).
    #[serde(rename = "match")]
    pub matches: RouteMatch,
    /// How the provider signs its webhooks: a provider's name (`github`, `stripe`, … the
    /// schema lists every one), or `hmac` (generic, configured by the `hmac` table).
    #[schemars(schema_with = "scheme_schema")]
    pub scheme: String,
    /// Options of the generic `hmac` scheme (only with `scheme = "hmac"`).
    #[serde(default)]
    pub hmac: Option<HmacSpec>,
    /// The signing secrets, primary first. During a rotation list the old and the new one:
    /// a request signed with either is accepted, and metrics say which matched.
    #[serde(default)]
    pub secrets: Vec<SecretSpec>,
    /// How far the signed timestamp may be from the clock (`"5m"`), or `"off"`. Unset: the
    /// `defaults.tolerance`, else the scheme's own. Only for schemes that sign a timestamp.
    #[serde(default)]
    pub tolerance: Option<Tolerance>,
    /// The URL the provider calls, for schemes that sign it (`square`): behind a proxy the
    /// sidecar cannot know it. E.g. `https://example.com/webhooks/square`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Which client addresses may call this route, checked before the body is read.
    #[serde(default)]
    pub ip: Option<IpRules>,
    /// Request rate limits, checked before the body is read (429 with `Retry-After`).
    #[serde(default)]
    pub rate_limit: Option<RateLimits>,
    /// Largest body accepted on this route. Unset: `defaults.body_limit`.
    #[serde(default)]
    pub body_limit: Option<ByteSize>,
    /// How long reading the body may take on this route. Unset: `defaults.body_read_timeout`.
    #[serde(default)]
    pub body_read_timeout: Option<HumanDuration>,
    /// Refuses a delivery id seen before (providers retry; attackers replay).
    #[serde(default)]
    pub replay: Replay,
    /// `enforce` or `shadow` for this route. Unset: `defaults.mode`.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The path the app receives instead of the request's. For `path` and key routes it
    /// replaces the whole path (the app never sees the key); for `path_prefix` routes it
    /// replaces the prefix. The query string is kept.
    #[serde(default)]
    pub rewrite: Option<String>,
    /// `forward` (default): proxy to the app and relay its answer. `queue`: store the
    /// request durably, answer `202` at once, deliver to the app with retries.
    #[serde(default)]
    pub delivery: DeliveryMode,
    /// Delivery settings of a queued route. Unset: the defaults.
    #[serde(default)]
    pub queue: Option<RouteQueue>,
    /// What the app receives of a verified delivery: event filter, JSON Schema, mapping,
    /// added and removed headers.
    #[serde(default)]
    pub rules: Option<super::PayloadRules>,
}

/// The `scheme` field's schema: the names come from the schemes themselves, so a new
/// scheme appears in editors without anyone editing a list here.
fn scheme_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": schemes::NAMES,
    })
}

impl Route {
    /// The scheme of this route with its options. Fails only on a configuration that did
    /// not pass validation.
    pub fn build_scheme(&self) -> Result<Arc<dyn Scheme>, SchemeError> {
        build_scheme(&self.scheme, self.hmac.as_ref())
    }

    /// This route's tolerance: its own, else the default's; `None` leaves the scheme's own.
    pub fn tolerance(&self, defaults: &Defaults) -> Option<Tolerance> {
        self.tolerance.or(defaults.tolerance)
    }

    /// The tolerance in seconds the verifier applies: the configured one, else the
    /// scheme's default (`None`: timestamps not checked).
    pub fn effective_tolerance(&self, defaults: &Defaults, scheme: &dyn Scheme) -> Option<u64> {
        match self.tolerance(defaults) {
            Some(t) => t.as_secs(),
            None => scheme.default_tolerance(),
        }
    }

    /// The replay guard's window for this route.
    pub fn replay_window(&self, defaults: &Defaults, scheme: &dyn Scheme) -> Duration {
        self.replay
            .window(self.effective_tolerance(defaults, scheme))
    }

    /// This route's body limit in bytes.
    pub fn body_limit(&self, defaults: &Defaults) -> u64 {
        self.body_limit.unwrap_or(defaults.body_limit).bytes()
    }

    /// This route's total body read timeout.
    pub fn body_read_timeout(&self, defaults: &Defaults) -> Duration {
        self.body_read_timeout
            .unwrap_or(defaults.body_read_timeout)
            .get()
    }

    /// This route's mode.
    pub fn mode(&self, defaults: &Defaults) -> Mode {
        self.mode.unwrap_or(defaults.mode)
    }

    /// The path the app receives for `path` (the request's path, without query), given the
    /// match this route made.
    pub fn upstream_path<'p>(&self, path: &'p str) -> Cow<'p, str> {
        let Some(rewrite) = &self.rewrite else {
            return Cow::Borrowed(path);
        };
        match self.matches.kind() {
            Some(MatchKind::Prefix(prefix)) => {
                let rest = path.get(prefix.len()..).unwrap_or("");
                match (rewrite.ends_with('/'), rest.starts_with('/')) {
                    (true, true) => Cow::Owned(format!("{rewrite}{}", &rest[1..])),
                    (false, false) if !rest.is_empty() => Cow::Owned(format!("{rewrite}/{rest}")),
                    _ => Cow::Owned(format!("{rewrite}{rest}")),
                }
            }
            _ => Cow::Owned(rewrite.clone()),
        }
    }
}

/// Why a route's scheme could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemeError {
    /// No scheme has this name.
    #[error("unknown scheme {0:?}")]
    Unknown(String),
    /// The generic scheme's options are wrong.
    #[error(transparent)]
    Options(HmacOptionError),
}

/// Which paths a route takes: exactly one of `path`, `path_prefix` or `key_prefix`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// Exactly this path, e.g. `/webhooks/github`.
    #[serde(default)]
    pub path: Option<String>,
    /// Every path under this one, by whole segments: `/hooks` takes `/hooks` and
    /// `/hooks/x`, not `/hooksx`.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// A key route: `<key_prefix><key>`, e.g. `/webhooks/` takes
    /// `/webhooks/wh_…` for each key in `keys`. An unknown key is answered 404, a disabled
    /// one 403. Several routes may share a prefix with different keys.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// The keys of a key route.
    #[serde(default)]
    pub keys: Vec<RouteKey>,
}

/// The kind of match a route makes, once validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MatchKind<'a> {
    /// Exactly this path.
    Exact(&'a str),
    /// This path and those under it.
    Prefix(&'a str),
    /// `prefix` followed by one of the keys.
    Keys {
        /// The path before the key.
        prefix: &'a str,
        /// The keys.
        keys: &'a [RouteKey],
    },
}

impl RouteMatch {
    /// The match, when exactly one kind is set.
    pub fn kind(&self) -> Option<MatchKind<'_>> {
        match (&self.path, &self.path_prefix, &self.key_prefix) {
            (Some(p), None, None) => Some(MatchKind::Exact(p)),
            (None, Some(p), None) => Some(MatchKind::Prefix(p)),
            (None, None, Some(p)) => Some(MatchKind::Keys {
                prefix: p,
                keys: &self.keys,
            }),
            _ => None,
        }
    }
}

/// One key of a key route. A key is a bearer credential: it is not printed.
#[derive(Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteKey {
    /// `wh_` followed by 32 random letters and digits.
    #[schemars(regex(pattern = r"^wh_[A-Za-z0-9]{32}$"))]
    pub key: String,
    /// A disabled key is answered 403 (known, but switched off).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// This key's own request limit (429 with `Retry-After`), checked before the route's
    /// limits, so one caller cannot use up a route's budget. The admin API can change it.
    #[serde(default)]
    pub rate_limit: Option<Rate>,
}

fn yes() -> bool {
    true
}

impl fmt::Debug for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteKey")
            .field("key", &"[redacted]")
            .field("enabled", &self.enabled)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// The scheme called `name`; `hmac` with `options` (its defaults when `None`).
pub(crate) fn build_scheme(
    name: &str,
    options: Option<&HmacSpec>,
) -> Result<Arc<dyn Scheme>, SchemeError> {
    if name == "hmac" {
        let options = options.cloned().unwrap_or_default().options();
        return HmacScheme::generic(&options)
            .map(|s| Arc::new(s) as Arc<dyn Scheme>)
            .map_err(SchemeError::Options);
    }
    schemes::by_name(name).ok_or_else(|| SchemeError::Unknown(name.to_owned()))
}

/// Options of the generic `hmac` scheme. Unset options take the defaults shown, which
/// describe `X-Webhook-Signature: sha256=<hex>` over `{timestamp}.{body}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacSpec {
    /// Header carrying the signature (default `X-Webhook-Signature`).
    #[serde(default)]
    pub header: Option<String>,
    /// `sha1`, `sha256` or `sha512` (default `sha256`).
    #[serde(default)]
    pub algorithm: Option<String>,
    /// `hex` or `base64` (default `hex`).
    #[serde(default)]
    pub encoding: Option<String>,
    /// Text before the encoded MAC in the header (default `sha256=`; `""` for none).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Header carrying the signed timestamp (default `X-Webhook-Timestamp`; `""` when the
    /// provider signs no timestamp).
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// How the timestamp is written: `unix` (seconds, default), `unix_ms` or `rfc3339`.
    #[serde(default)]
    pub timestamp_format: Option<TimestampFormatName>,
    /// Header carrying a delivery id, usable as `{id}` in `payload` and used by the
    /// replay guard.
    #[serde(default)]
    pub id_header: Option<String>,
    /// What is signed: literal text with `{body}`, `{timestamp}`, `{id}` and `{url}`.
    /// Default `{timestamp}.{body}` with a timestamp header, else `{body}`.
    #[serde(default)]
    pub payload: Option<String>,
}

impl HmacSpec {
    /// The options for [`HmacScheme::generic`].
    pub fn options(&self) -> HmacOptions {
        let d = HmacOptions::default();
        let non_empty = |s: &Option<String>, default: Option<String>| match s {
            Some(s) if s.is_empty() => None,
            Some(s) => Some(s.clone()),
            None => default,
        };
        HmacOptions {
            header: self.header.clone().unwrap_or(d.header),
            algorithm: self.algorithm.clone().unwrap_or(d.algorithm),
            encoding: self.encoding.clone().unwrap_or(d.encoding),
            prefix: self.prefix.clone().unwrap_or(d.prefix),
            timestamp_header: non_empty(&self.timestamp_header, d.timestamp_header),
            timestamp_format: self
                .timestamp_format
                .map_or(d.timestamp_format, TimestampFormatName::format),
            id_header: non_empty(&self.id_header, None),
            payload: self.payload.clone(),
            tolerance: None,
        }
    }
}

/// How a signed timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormatName {
    /// Whole seconds since 1970.
    Unix,
    /// Milliseconds since 1970.
    UnixMs,
    /// RFC 3339 text, signed as sent.
    Rfc3339,
}

impl TimestampFormatName {
    fn format(self) -> TimestampFormat {
        match self {
            TimestampFormatName::Unix => TimestampFormat::UnixSeconds,
            TimestampFormatName::UnixMs => TimestampFormat::UnixMillis,
            TimestampFormatName::Rfc3339 => TimestampFormat::Rfc3339,
        }
    }
}

/// Rate limits of a route. Each is a token bucket: `burst` requests at once, refilled at
/// `requests` per `per`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// One limit for the whole route, whoever calls.
    #[serde(default)]
    pub per_route: Option<Rate>,
    /// One limit per client address (IPv6 clients grouped by /64), after the IP rules have
    /// found the client behind trusted proxies.
    #[serde(default)]
    pub per_client: Option<Rate>,
}

/// A rate: `requests` per `per`, with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// How many requests are allowed per `per` (at least 1).
    pub requests: u32,
    /// The period, e.g. `"1s"` or `"1m"`.
    pub per: HumanDuration,
    /// How many requests may arrive at once (at least 1). Unset: `requests`.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// The replay guard of a route.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Whether a delivery id seen before is refused. Needs a scheme that carries a
    /// delivery id (most do; for `hmac`, set `id_header`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How long a delivery id is remembered. At least twice the tolerance, so that a
    /// request cannot be replayed after its record is forgotten while its timestamp is
    /// still accepted. Unset: twice the route's tolerance, and at least 10 minutes.
    #[serde(default)]
    pub window: Option<HumanDuration>,
    /// The status a duplicate is answered with: `200` (the provider stops retrying; the
    /// app is not called again) or `409`.
    #[serde(default = "default_duplicate_status")]
    pub duplicate_status: u16,
}

impl Default for Replay {
    fn default() -> Self {
        Self {
            enabled: true,
            window: None,
            duplicate_status: default_duplicate_status(),
        }
    }
}

impl Replay {
    /// The shortest window used when none is set.
    pub const MIN_DEFAULT_WINDOW: Duration = Duration::from_secs(600);

    /// The window: the one set, else twice `tolerance_secs` (the route's effective
    /// tolerance, see [`Route::effective_tolerance`]) and at least 10 minutes.
    pub fn window(&self, tolerance_secs: Option<u64>) -> Duration {
        self.window.map_or_else(
            || {
                Self::MIN_DEFAULT_WINDOW.max(Duration::from_secs(
                    tolerance_secs.unwrap_or(0).saturating_mul(2),
                ))
            },
            HumanDuration::get,
        )
    }
}

fn default_duplicate_status() -> u16 {
    200
}
