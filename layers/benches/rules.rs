//! Payload rules: the event filter's decision, JSON Schema validation of a 4 KiB GitHub
//! `push` payload, and a 10-field mapping of it; and the worst cases of descendant
//! JSONPaths (`..`) over attacker-shaped bodies (group `rules_worst`).
//!
//! cargo bench -p hookguard-layers --bench rules -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p hookguard-layers --bench rules -- rules_worst --warm-up-time 1 --measurement-time 3

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use hookguard_layers::rules::{
    EventFilter, EventSource, Metadata, OnMissing, PayloadPolicy, PayloadSchema, Template,
};
use http::HeaderMap;
use serde_json::{json, Value};

/// A GitHub `push` payload of about 4 KiB: the documented shape, commits added until the
/// serialised payload reaches 4096 bytes.
fn push_payload() -> Value {
    let user =
        json!({ "name": "Monalisa Octocat", "email": "mona@github.com", "username": "octocat" });
    let mut payload = json!({
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "0000000000000000000000000000000000000000",
        "created": false, "deleted": false, "forced": false,
        "compare": "https://github.com/Codertocat/Hello-World/compare/6113728f27ae...000000000000",
        "repository": {
            "id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
            "name": "Hello-World", "full_name": "Codertocat/Hello-World", "private": false,
            "owner": { "login": "Codertocat", "id": 21031067, "type": "User", "site_admin": false },
            "html_url": "https://github.com/Codertocat/Hello-World",
            "default_branch": "main", "stargazers_count": 0, "open_issues_count": 2
        },
        "pusher": { "name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com" },
        "sender": { "login": "Codertocat", "id": 21031067, "type": "User" },
        "commits": [],
        "head_commit": null
    });
    let mut n = 0;
    while payload.to_string().len() < 4096 {
        let commit = json!({
            "id": format!("{n:040x}"), "tree_id": format!("{:040x}", n + 1),
            "distinct": true, "message": format!("Fix the thing, part {n}"),
            "timestamp": "2026-01-15T09:00:00Z",
            "url": format!("https://github.com/Codertocat/Hello-World/commit/{n:040x}"),
            "author": user, "committer": user,
            "added": [], "removed": [], "modified": ["README.md"]
        });
        payload["commits"]
            .as_array_mut()
            .unwrap()
            .push(commit.clone());
        payload["head_commit"] = commit;
        n += 1;
    }
    payload
}

fn push_schema() -> PayloadSchema {
    let person = json!({ "type": "object", "required": ["name", "email"], "properties": {
        "name": { "type": "string" }, "email": { "type": "string" }, "username": { "type": "string" } } });
    PayloadSchema::compile(&json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["ref", "before", "after", "repository", "pusher", "commits"],
        "properties": {
            "ref": { "type": "string", "pattern": "^refs/" },
            "before": { "type": "string", "pattern": "^[0-9a-f]{40}$" },
            "after": { "type": "string", "pattern": "^[0-9a-f]{40}$" },
            "forced": { "type": "boolean" },
            "repository": { "type": "object", "required": ["id", "full_name", "owner"], "properties": {
                "id": { "type": "integer" }, "full_name": { "type": "string" },
                "owner": { "type": "object", "required": ["login"] } } },
            "pusher": person,
            "commits": { "type": "array", "items": { "type": "object",
                "required": ["id", "message", "timestamp", "author"],
                "properties": { "id": { "type": "string" }, "message": { "type": "string" },
                    "timestamp": { "type": "string" }, "author": person,
                    "modified": { "type": "array", "items": { "type": "string" } } } } }
        }
    }))
    .unwrap()
}

fn ten_field_mapping() -> Template {
    Template::compile(&json!({
        "ref": "$.ref", "after": "$.after", "repo": "$.repository.full_name",
        "repo_id": "$.repository.id", "pusher": "$.pusher.name",
        "head": "$.head_commit.id", "message": "$.head_commit.message",
        "commit_ids": "$.commits[*].id", "route": "{{ route }}", "delivery": "{{ delivery_id }}"
    }))
    .unwrap()
}

fn meta() -> Metadata<'static> {
    Metadata {
        route: "github",
        delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        received_at: "2026-01-15T09:00:00Z".into(),
        client_ip: None,
    }
}

fn rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules");
    let payload = push_payload();
    let bytes = Bytes::from(payload.to_string());
    assert!(bytes.len() >= 4096 && bytes.len() < 5000, "{}", bytes.len());

    let filter = EventFilter::new(EventSource::preset("github").unwrap())
        .events([
            "push",
            "pull_request.*",
            "issues.opened",
            "release.*",
            "workflow_run.*",
        ])
        .unwrap()
        .ignore(["pull_request.labeled", "pull_request.unlabeled"])
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-github-event", "pull_request".parse().unwrap());
    let pr = json!({ "action": "synchronize" });
    group.bench_function("filter_decision", |b| {
        b.iter(|| {
            let event = filter.source().event_type(black_box(&headers), Some(&pr));
            black_box(filter.decide(event.as_deref()))
        })
    });

    let schema = push_schema();
    assert!(schema.check(&payload).is_ok());
    group.bench_function("schema_push_4k", |b| {
        b.iter(|| schema.check(black_box(&payload)))
    });
    group.bench_function("schema_push_4k_parse_included", |b| {
        b.iter(|| {
            let parsed: Value = serde_json::from_slice(black_box(&bytes)).unwrap();
            schema.check(&parsed).is_ok()
        })
    });

    let mapping = ten_field_mapping();
    let meta = meta();
    group.bench_function("mapping_10_fields", |b| {
        b.iter(|| {
            mapping
                .render(black_box(&payload), &meta, OnMissing::Null)
                .unwrap()
        })
    });

    // Everything a route with a schema and a mapping does per delivery: parse once,
    // validate, render, serialise, hash the original.
    let policy = PayloadPolicy::new()
        .schema(push_schema())
        .transform(ten_field_mapping(), OnMissing::Null);
    group.bench_function("policy_schema_and_mapping_4k", |b| {
        b.iter(|| {
            let mut h = HeaderMap::new();
            policy.apply(&mut h, black_box(&bytes), &meta).unwrap()
        })
    });
    group.finish();
}

/// A complete binary tree of `[1, 1]` pairs, as large as fits in `bytes` when serialised
/// (the fuzz finding's shape: many values, each under ~log2(n) containers).
fn binary_tree(bytes: usize) -> String {
    let mut tree = "1".to_owned();
    loop {
        let next = format!("[{tree}, {tree}]");
        if next.len() > bytes {
            return tree;
        }
        tree = next;
    }
}

/// A flat array of `1`s under 127 nested arrays (serde_json's depth limit is 128): every
/// value under the most containers a parsed body can have.
fn deep_and_wide(bytes: usize) -> String {
    let depth = 127;
    let n = (bytes - 2 * depth) / 2;
    let mut body = "[".repeat(depth);
    body.push_str(&vec!["1"; n].join(","));
    body.push_str(&"]".repeat(depth));
    body
}

/// What a route mapping descendants costs on bodies shaped to make it expensive. Each case
/// is the whole policy (parse, mapping, serialisation), whatever its outcome (mapped, or
/// refused 422 `transform_failed` by a bound).
fn worst_cases(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules_worst");
    group.sample_size(10);
    // The fuzz finding (fuzz/findings/README.md), kept in the corpus as `doubling`.
    let finding = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/rules_template/doubling"
    ))
    .unwrap();
    let split = finding.iter().position(|&b| b == b'\n').unwrap();
    let finding = String::from_utf8(finding[split + 1..].to_vec()).unwrap();
    let meta = meta();
    let cases = [
        // For scale: a path without `..` over the largest body (mostly parsing).
        (
            "deep_wide_1m_first_item",
            &deep_and_wide(1 << 20),
            "$[0][0]",
        ),
        ("finding_80k_all_descendants", &finding, "$..*"),
        ("tree_1m_all_descendants", &binary_tree(1 << 20), "$..*"),
        (
            "deep_wide_1m_all_descendants",
            &deep_and_wide(1 << 20),
            "$..*",
        ),
        (
            "deep_wide_1m_descendant_filter",
            &deep_and_wide(1 << 20),
            "$..[?@..id]",
        ),
    ]
    .map(|(name, body, path)| (name, Bytes::from(body.to_owned()), path));
    for (name, body, path) in &cases {
        let policy = PayloadPolicy::new().transform(
            Template::compile(&json!({ "all": path })).unwrap(),
            OnMissing::Null,
        );
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut h = HeaderMap::new();
                black_box(policy.apply(&mut h, black_box(body), &meta).is_ok())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, rules, worst_cases);
criterion_main!(benches);
