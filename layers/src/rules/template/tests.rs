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
