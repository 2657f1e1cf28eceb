//! Replays every fuzz corpus file (fuzz/corpus/<target>/*) through the same entry points
//! the cargo-fuzz targets call, so inputs that once crashed stay fixed.

use std::path::Path;

use hookguard_layers::verify::fuzzing;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        run(&data);
        count += 1;
    }
    count
}

#[test]
fn stripe_header_corpus() {
    assert!(replay("stripe_header", fuzzing::stripe_header) > 0);
}

#[test]
fn signature_list_corpus() {
    assert!(replay("signature_list", fuzzing::signature_list) > 0);
}

#[test]
fn verify_any_scheme_corpus() {
    assert!(replay("verify_any_scheme", fuzzing::verify_any_scheme) > 0);
}

#[test]
fn paddle_header_corpus() {
    assert!(replay("paddle_header", fuzzing::paddle_header) > 0);
}

#[cfg(feature = "rules")]
#[test]
fn rules_template_corpus() {
    assert!(
        replay(
            "rules_template",
            hookguard_layers::rules::fuzzing::template_and_paths
        ) > 0
    );
}

/// `doubling`, the input a 10-minute fuzzing run flagged (4.8 s per execution in the fuzz
/// build): `$..*` over an 81,916-byte complete binary tree of arrays. The mapping used to
/// copy every subtree into an 850 KB body (42 ms in a release build); now the work bound
/// refuses it, 422 `transform_failed`. What it costs is measured by the `rules_worst`
/// bench (layers/benches/rules.rs), not here.
#[cfg(feature = "rules")]
#[test]
fn descendants_of_an_80k_nested_array_are_refused_by_the_work_bound() {
    use bytes::Bytes;
    use hookguard_layers::rules::{
        Metadata, OnMissing, PayloadPolicy, RenderError, Shape, Template,
    };
    use hookguard_layers::Reason;

    let data = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/rules_template/doubling"),
    )
    .unwrap();
    let split = data.iter().position(|&b| b == b'\n').unwrap();
    let (path, body) = (
        std::str::from_utf8(&data[..split]).unwrap(),
        &data[split + 1..],
    );
    assert_eq!(path, "$..*");
    let payload: serde_json::Value = serde_json::from_slice(body).unwrap();
    // 2^14 leaves under 14 levels of arrays, counted independently of the bound's code.
    let depth = body.iter().take_while(|&&b| b == b'[').count() as u64;
    let ones = body.iter().filter(|&&b| b == b'1').count() as u64;
    assert_eq!((depth, ones), (14, 1 << 14));
    assert_eq!(
        Shape::of(&payload),
        Shape {
            values: 2 * ones - 1,
            depth
        }
    );

    let template = Template::compile(&serde_json::json!({ "all": path })).unwrap();
    let meta = Metadata {
        route: "fuzz",
        delivery_id: None,
        received_at: "2026-01-15T09:00:00Z".into(),
        client_ip: None,
    };
    let refused = template.render(&payload, &meta, OnMissing::Null);
    assert_eq!(
        refused,
        Err(RenderError::TooCostly {
            values: 32_767,
            depth: 14,
            limit: 16 * 32_767 + 10_000
        })
    );
    let rejection = PayloadPolicy::new()
        .transform(template, OnMissing::Original)
        .apply(
            &mut http::HeaderMap::new(),
            &Bytes::copy_from_slice(body),
            &meta,
        )
        .unwrap_err();
    assert_eq!(
        (rejection.status.as_u16(), rejection.reason),
        (422, Reason::TransformFailed)
    );
    assert!(
        rejection.message.contains("32767 values nested 14 deep"),
        "{}",
        rejection.message
    );
}

#[cfg(feature = "ip")]
#[test]
fn forwarded_corpus() {
    assert!(replay("forwarded", hookguard_layers::ip::fuzzing::forwarded) > 0);
}

#[cfg(feature = "ip")]
#[test]
fn ip_list_corpus() {
    assert!(replay("ip_list", hookguard_layers::ip::fuzzing::ip_list) > 0);
}
