//! The file's value types: durations, byte sizes, tolerances and timestamps.
//!
//! One convention for durations: a string with a unit, as `humantime` reads it (`"500ms"`,
//! `"10s"`, `"5m"`, `"1h 30m"`). A bare number is refused, because `30` could mean seconds
//! or milliseconds depending on who wrote it. Sizes are a number of bytes or a string with
//! a unit (`"1MiB"`, `"64KiB"`, `"1000kB"`).
//!
//! ```
//! use hookguard_config::units::{ByteSize, HumanDuration, Tolerance};
//!
//! assert_eq!("1MiB".parse::<ByteSize>().unwrap().bytes(), 1 << 20);
//! assert_eq!("1h 30m".parse::<HumanDuration>().unwrap().get().as_secs(), 5400);
//! assert!("30".parse::<HumanDuration>().is_err()); // seconds or milliseconds? say which
//! let off: Tolerance = serde_json::from_str("\"off\"").unwrap();
//! assert_eq!(off.as_secs(), None);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const DURATION_PATTERN: &str = r"^\s*[0-9]+\s*[a-zA-Zµ]+(\s*[0-9]+\s*[a-zA-Zµ]+)*\s*$";
const DURATION_EXPECTED: &str =
    "a duration with a unit such as \"500ms\", \"10s\", \"5m\" or \"1h 30m\"";

/// A duration written with a unit (`"10s"`, `"5m"`, `"1h 30m"`, `"250ms"`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// `secs` seconds.
    pub const fn secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// `millis` milliseconds.
    pub const fn millis(millis: u64) -> Self {
        Self(Duration::from_millis(millis))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().chars().all(|c| c.is_ascii_digit()) && !text.trim().is_empty() {
            return Err(format!("{text:?} has no unit"));
        }
        humantime::parse_duration(text)
            .map(Self)
            .map_err(|e| format!("{text:?} is not a duration ({e})"))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(DURATION_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                v.parse().map_err(|problem| {
                    E::custom(format!("{problem}; expected {DURATION_EXPECTED}"))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "the number {v} has no unit; expected {DURATION_EXPECTED} (\"{v}s\" for seconds)"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "the number {v} has no unit; expected {DURATION_EXPECTED}"
                )))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration with a unit: \"500ms\", \"10s\", \"5m\", \"1h 30m\".",
            "examples": ["10s", "5m"]
        })
    }
}

/// A number of bytes: an integer, or a string with a unit (`B`, `KiB`, `MiB`, `GiB`, and the
/// decimal `kB`, `MB`, `GB`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        Self(n << 20)
    }

    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if n != 0 && n % (1 << shift) == 0 {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}B")
    }
}

const SIZE_EXPECTED: &str =
    "a number of bytes, or a string such as \"1MiB\", \"64KiB\", \"512B\" or \"10MB\"";

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(digits);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} does not start with a whole number"))?;
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => return Err(format!("{text:?} has an unknown unit {:?}", unit.trim())),
        };
        number
            .checked_mul(factor)
            .map(Self)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SIZE_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse()
                    .map_err(|problem| E::custom(format!("{problem}; expected {SIZE_EXPECTED}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("{v} is negative; expected {SIZE_EXPECTED}")))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size: a number of bytes, or a string with a unit (B, KiB, MiB, GiB, kB, MB, GB).",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*([bB]|[kKmMgG][iI]?[bB])?\\s*$" }
            ],
            "examples": ["1MiB", 65536]
        })
    }
}

/// How far a signed timestamp may be from the clock: a duration, or `"off"` to not check
/// timestamps at all.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tolerance {
    /// Timestamps are not checked (replays are then stopped only by the replay guard).
    Off,
    /// A timestamp at most this far in the past or future is accepted.
    Within(HumanDuration),
}

impl Tolerance {
    /// The tolerance in whole seconds, as the verifier takes it (`None`: not checked).
    pub fn as_secs(self) -> Option<u64> {
        match self {
            Tolerance::Off => None,
            Tolerance::Within(d) => Some(d.0.as_secs()),
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tolerance::Off => f.write_str("off"),
            Tolerance::Within(d) => d.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for Tolerance {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Tolerance;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "\"off\" or {DURATION_EXPECTED}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tolerance, E> {
                if v.trim().eq_ignore_ascii_case("off") {
                    return Ok(Tolerance::Off);
                }
                v.parse().map(Tolerance::Within).map_err(|problem| {
                    E::custom(format!(
                        "{problem}; expected \"off\" or {DURATION_EXPECTED}"
                    ))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tolerance, E> {
                Err(E::custom(format!(
                    "the number {v} has no unit; expected \"off\" or {DURATION_EXPECTED} (\"{v}s\" for seconds)"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tolerance, E> {
                Err(E::custom(format!(
                    "the number {v} has no unit; expected \"off\" or {DURATION_EXPECTED}"
                )))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for Tolerance {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for Tolerance {
    fn schema_name() -> Cow<'static, str> {
        "Tolerance".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "How far a signed timestamp may be from the clock: a duration (\"5m\"), or \"off\".",
            "type": "string",
            "anyOf": [
                { "const": "off" },
                { "pattern": DURATION_PATTERN }
            ],
            "examples": ["5m", "off"]
        })
    }
}

/// A point in time written in RFC 3339 (`2026-01-31T12:00:00Z`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Timestamp(pub OffsetDateTime);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(Timestamp)
            .map_err(|e| {
                de::Error::custom(format!(
                    "{text:?} is not an RFC 3339 time ({e}); expected e.g. \"2026-01-31T12:00:00Z\""
                ))
            })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.0.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An RFC 3339 time, e.g. 2026-01-31T12:00:00Z.",
            "type": "string",
            "format": "date-time"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(
            "10s".parse::<HumanDuration>().unwrap(),
            HumanDuration::secs(10)
        );
        assert_eq!(
            "1h 30m".parse::<HumanDuration>().unwrap(),
            HumanDuration::secs(5400)
        );
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(250)
        );
        let err = "30".parse::<HumanDuration>().unwrap_err();
        assert!(err.contains("no unit"), "{err}");
        assert!("10 parsecs".parse::<HumanDuration>().is_err());
        let err = serde_json::from_value::<HumanDuration>(serde_json::json!(30)).unwrap_err();
        assert!(err.to_string().contains("\"30s\" for seconds"), "{err}");
    }

    #[test]
    fn sizes_accept_bytes_and_units() {
        assert_eq!("1MiB".parse::<ByteSize>().unwrap(), ByteSize(1 << 20));
        assert_eq!("64 KiB".parse::<ByteSize>().unwrap(), ByteSize(65536));
        assert_eq!("10MB".parse::<ByteSize>().unwrap(), ByteSize(10_000_000));
        assert_eq!("512".parse::<ByteSize>().unwrap(), ByteSize(512));
        assert!("1.5MiB".parse::<ByteSize>().is_err());
        assert!("12 parsecs".parse::<ByteSize>().is_err());
        assert!("99999999999999GiB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(1 << 20).to_string(), "1MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
        let err = serde_json::from_value::<ByteSize>(serde_json::json!(-1)).unwrap_err();
        assert!(err.to_string().contains("negative"), "{err}");
    }

    #[test]
    fn tolerance_is_a_duration_or_off() {
        let t: Tolerance = serde_json::from_value(serde_json::json!("off")).unwrap();
        assert_eq!(t.as_secs(), None);
        let t: Tolerance = serde_json::from_value(serde_json::json!("5m")).unwrap();
        assert_eq!(t.as_secs(), Some(300));
        assert!(serde_json::from_value::<Tolerance>(serde_json::json!(300)).is_err());
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t: Timestamp =
            serde_json::from_value(serde_json::json!("2026-01-31T12:00:00Z")).unwrap();
        assert_eq!(t.0.unix_timestamp(), 1_769_860_800);
        assert!(serde_json::from_value::<Timestamp>(serde_json::json!("31/01/2026")).is_err());
    }
}
