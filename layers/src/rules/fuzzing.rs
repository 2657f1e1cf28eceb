//! Entry point shared by the cargo-fuzz target `rules_template` (fuzz/) and the test that
//! replays its corpus (layers/tests/fuzz_corpus.rs). It must never panic, whatever the
//! input, and stays bounded in time and memory on deep or huge JSON.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{json, Value};

use super::{
    EventFilter, EventSource, Metadata, OnMissing, PayloadPolicy, PayloadSchema, Template,
};

/// A small output bound, so the fuzzer explores the limit rather than memory.
const FUZZ_MAX_VALUES: usize = 50_000;

/// `data` is a JSONPath (first line) and a payload (the rest): the path is compiled into a
/// template beside placeholders and a `$..*` copy of everything, rendered against the
/// payload; the same path reads the event type; the whole policy runs on the bytes.
pub fn template_and_paths(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (path, payload) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let meta = Metadata {
        route: "fuzz",
        delivery_id: Some("d"),
        received_at: "2026-01-15T09:00:00Z".into(),
        client_ip: None,
    };
    let template = json!({
        "picked": path,
        "text": format!("{{{{ route }}}}:{path}"),
        "all": "$..*",
        "first": ["$[0]", "$.a.b"],
    });
    // An invalid path or placeholder is a compile error, never a panic.
    let Ok(compiled) = Template::compile(&template) else {
        return;
    };
    let compiled = compiled.max_values(FUZZ_MAX_VALUES);
    let parsed = serde_json::from_slice::<Value>(payload);
    if let Ok(value) = &parsed {
        for on_missing in [OnMissing::Null, OnMissing::Error, OnMissing::Original] {
            if let Ok(out) = compiled.render(value, &meta, on_missing) {
                assert!(
                    count(&out) <= FUZZ_MAX_VALUES,
                    "the output bound was not kept"
                );
            }
        }
    }
    let source = EventSource::path(path).ok();
    let mut policy = PayloadPolicy::new().transform(compiled, OnMissing::Null);
    if let Ok(schema) = PayloadSchema::compile(&json!({ "type": ["object", "array"] })) {
        policy = policy.schema(schema);
    }
    if let Some(source) = source {
        policy = policy.events(EventFilter::new(source));
    }
    let _ = policy.apply(
        &mut HeaderMap::new(),
        &Bytes::copy_from_slice(payload),
        &meta,
    );
}

fn count(value: &Value) -> usize {
    let mut stack = vec![value];
    let mut n = 0;
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    n
}
