use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use super::*;

fn meta() -> Metadata<'static> {
    Metadata {
        route: "github",
        delivery_id: Some("d-1"),
        received_at: "2026-01-15T09:00:00Z".into(),
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 30, 252, 7))),
    }
}

fn render(template: Value, payload: Value, on_missing: OnMissing) -> Result<Value, RenderError> {
    Template::compile(&template)
        .unwrap()
        .render(&payload, &meta(), on_missing)
}

#[test]
fn paths_literals_and_placeholders_render() {
    let out = render(
        json!({
            "id": "$.pull_request.id",
            "labels": "$.pull_request.labels[*].name",
            "kind": "pr",
            "price": "$$5",
            "n": 3,
            "source": "{{ route }}/{{delivery_id}}",
            "at": "{{ received_at }}",
            "from": "{{ client_ip }}",
            "nested": ["$.action", { "x": true }]
        }),
        json!({
            "action": "opened",
            "pull_request": { "id": 42, "labels": [{ "name": "a" }, { "name": "b" }] }
        }),
        OnMissing::Null,
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "id": 42,
            "labels": ["a", "b"],
            "kind": "pr",
            "price": "$5",
            "n": 3,
            "source": "github/d-1",
            "at": "2026-01-15T09:00:00Z",
            "from": "192.30.252.7",
            "nested": ["opened", { "x": true }]
        })
    );
}

#[test]
fn a_missing_path_follows_on_missing() {
    let template = json!({ "id": "$.nope" });
    assert_eq!(
        render(template.clone(), json!({}), OnMissing::Null).unwrap(),
        json!({ "id": null })
    );
    assert_eq!(
        render(template.clone(), json!({}), OnMissing::Error),
        Err(RenderError::Missing("$.nope".into()))
    );
    assert_eq!(
        render(template, json!({}), OnMissing::Original),
        Err(RenderError::SendOriginal("$.nope".into()))
    );
}

#[test]
fn an_unknown_metadata_value_alone_is_null() {
    let template =
        Template::compile(&json!({ "id": "{{ delivery_id }}", "t": "x{{ delivery_id }}" }))
            .unwrap();
    let mut meta = meta();
    meta.delivery_id = None;
    assert_eq!(
        template.render(&json!({}), &meta, OnMissing::Null).unwrap(),
        json!({ "id": null, "t": "x" })
    );
}

#[test]
fn compile_errors_say_where() {
    let err = Template::compile(&json!({ "a": [1, "$.x[?"] })).unwrap_err();
    assert_eq!(
        err.at,
        vec![TemplateKey::Key("a".into()), TemplateKey::Index(1)]
    );
    assert!(err.to_string().starts_with("transform.a[1]: "), "{err}");
    assert!(err.error.problem.contains("is not a JSONPath"), "{err}");
    let err = Template::compile(&json!({ "a": "{{ colour }}" })).unwrap_err();
    assert!(err.error.problem.contains("unknown placeholder"), "{err}");
    let err = Template::compile(&json!("{{ route")).unwrap_err();
    assert!(err.error.problem.contains("does not close"), "{err}");
}

#[test]
fn output_is_bounded_even_when_paths_copy_every_subtree() {
    // `$..*` selects every subtree, and their copies add up (n log n here, n² for a chain).
    let mut payload = json!(1);
    for _ in 0..12 {
        payload = json!([payload, payload]);
    }
    let template = Template::compile(&json!({ "all": "$..*" }))
        .unwrap()
        .max_values(10_000);
    assert_eq!(
        template.render(&payload, &meta(), OnMissing::Null),
        Err(RenderError::TooLarge(10_000))
    );
}

/// `levels` nested arrays around a flat array of `n` ones: every value under the most
/// containers.
fn deep_and_wide(levels: usize, n: usize) -> Value {
    let mut payload = Value::Array(vec![json!(1); n]);
    for _ in 1..levels {
        payload = Value::Array(vec![payload]);
    }
    payload
}

#[test]
fn a_descendant_path_whose_worst_case_exceeds_the_payloads_budget_is_not_run() {
    // 2,000 values + 100 arrays: a budget of 16 × 2,100 + 10,000 = 43,600 units; `$..*`
    // may cost 2,100 × 100 = 210,000, so it is refused before the query runs.
    let payload = deep_and_wide(100, 2_000);
    let refused = render(json!({ "all": "$..*" }), payload.clone(), OnMissing::Null);
    assert_eq!(
        refused,
        Err(RenderError::TooCostly {
            values: 2_100,
            depth: 100,
            limit: 43_600
        })
    );
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("2100 values nested 100 deep"), "{message}");
    // `on_missing` does not apply: the path was not found wanting, it was not run.
    assert!(matches!(
        render(
            json!({ "all": "$..nope" }),
            payload.clone(),
            OnMissing::Original
        ),
        Err(RenderError::TooCostly { .. })
    ));
    // Paths without `..` are not charged up front: they visit each value at most once.
    assert_eq!(
        render(json!({ "first": "$[0][0][0]" }), payload, OnMissing::Null).unwrap(),
        json!({ "first": deep_and_wide(97, 2_000) })
    );
}

#[test]
fn descendant_paths_over_an_ordinary_payload_fit_the_budget() {
    // A GitHub-like payload: 300 commits, each with an author, 5 levels deep.
    let commits: Vec<Value> = (0..300)
        .map(|i| json!({ "id": i, "author": { "name": format!("dev{i}"), "email": "d@x" } }))
        .collect();
    let payload = json!({ "repository": { "name": "hello", "owner": { "name": "octo" } }, "commits": commits });
    let out = render(
        json!({ "names": "$..name", "authors": "$..author.name", "ids": "$.commits[*].id" }),
        payload,
        OnMissing::Null,
    )
    .unwrap();
    assert_eq!(out["names"].as_array().unwrap().len(), 302);
    assert_eq!(out["authors"][299], "dev299");
    assert_eq!(out["ids"].as_array().unwrap().len(), 300);
}

#[test]
fn copies_of_subtrees_count_against_the_work_budget_too() {
    // The fuzz finding's shape: a complete binary tree (4,095 values, 11 deep). `$..*` may
    // cost 45,045 of the 75,520 units; its copies (every subtree, 40,963 values) do not fit.
    let mut payload = json!(1);
    for _ in 0..11 {
        payload = json!([payload, payload]);
    }
    assert!(matches!(
        render(json!({ "all": "$..*" }), payload.clone(), OnMissing::Null),
        Err(RenderError::TooCostly {
            values: 4_095,
            depth: 11,
            ..
        })
    ));
    // One copy of the whole payload fits.
    assert_eq!(
        render(json!({ "all": "$" }), payload.clone(), OnMissing::Null).unwrap(),
        json!({ "all": payload })
    );
}
