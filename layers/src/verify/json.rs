//! Reading one top-level field of a JSON body (a delivery id, a timestamp) without
//! parsing the rest.
//!
//! Written here because serde_json has no early exit: deserialising into a one-field
//! struct still scans the whole body (tens of microseconds at 64 KiB, more than the HMAC).
//! The visitor below skips earlier values with serde_json's own `IgnoredAny` and stops the
//! parse, on purpose, with an error as soon as the field is read. Providers put their ids
//! first, so this usually reads a few dozen bytes.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

struct Field<'f> {
    name: &'f str,
    found: &'f mut Option<Value>,
}

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Field<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.name {
                *self.found = Some(map.next_value::<Value>()?);
                // Stop here: the rest of the body is not needed.
                return Err(de::Error::custom("found"));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// The value of top-level `field` in a JSON object body, if the body is an object that has
/// it (before any syntax error).
pub fn top_level_field(body: &[u8], field: &str) -> Option<Value> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = Field {
        name: field,
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

/// A top-level string field, e.g. an event id.
pub fn top_level_string(body: &[u8], field: &str) -> Option<String> {
    match top_level_field(body, field)? {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_first_field_and_ignores_nested_and_later_ones() {
        let body = br#"{"object":{"id":"nested"},"id":"evt_1","data":[1,2,{"id":"x"}]}"#;
        assert_eq!(top_level_string(body, "id").as_deref(), Some("evt_1"));
        assert_eq!(top_level_string(br#"{"a":1}"#, "id"), None);
        assert_eq!(top_level_string(b"not json", "id"), None);
        assert_eq!(top_level_string(br#"["id"]"#, "id"), None);
        assert_eq!(
            top_level_field(br#"{"t": 1700000000123}"#, "t"),
            Some(Value::from(1700000000123u64))
        );
    }

    #[test]
    fn stops_before_garbage_after_the_field() {
        // Proves the parse stops early: the tail is not valid JSON.
        assert_eq!(
            top_level_string(br#"{"id":"evt_2", garbage"#, "id").as_deref(),
            Some("evt_2")
        );
    }
}
