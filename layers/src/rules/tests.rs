//! The layer through `oneshot`, for both response types: `Response<B>` (Rust services) and
//! `Verdict` (the sidecar).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

use super::*;
use crate::clock::FixedClock;
use crate::Verdict;

/// An echo app: answers with the headers it saw (as JSON) and the body it received.
async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap().into())))
        .collect();
    let out = json!({
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "transformed": parts.extensions.get::<Transformed>().is_some(),
    });
    Ok(Response::new(Full::from(out.to_string())))
}

async fn call(policy: PayloadPolicy, request: Request<Full<Bytes>>) -> (StatusCode, Value) {
    let layer = PayloadRulesLayer::new("orders", policy).clock(FixedClock::new(1_768_467_600));
    let response = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(echo))
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

fn request(event: &str, body: &str) -> Request<Full<Bytes>> {
    let mut req = Request::post("/hook")
        .header("content-type", "application/json")
        .header("x-event", event)
        .header("x-hookguard-original-sha256", "forged")
        .body(Full::from(body.to_owned()))
        .unwrap();
    req.extensions_mut()
        .insert("203.0.113.9:4711".parse::<SocketAddr>().unwrap());
    req
}

fn events(allow: &[&str], ignore: &[&str]) -> EventFilter {
    EventFilter::new(EventSource::header("X-Event").unwrap())
        .events(allow.iter().copied())
        .unwrap()
        .ignore(ignore.iter().copied())
        .unwrap()
}

#[tokio::test]
async fn filtered_event_is_acknowledged_with_the_pattern_and_never_reaches_the_app() {
    let policy = PayloadPolicy::new().events(events(&["order.*"], &["order.test"]));
    let (status, body) = call(policy.clone(), request("order.test", "{}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"], "event_filtered");
    assert!(body["message"].as_str().unwrap().contains("filtered"));
    let (status, body) = call(policy.clone(), request("order.paid", "{}")).await;
    assert_eq!(
        (status, body["body"].as_str()),
        (StatusCode::OK, Some("{}"))
    );

    // The sidecar's answer carries the bounded label, never the raw event type.
    let stage = PayloadRulesLayer::new("orders", policy).layer(service_fn(
        |req: Request<Full<Bytes>>| async move {
            let (parts, _) = req.into_parts();
            Ok::<_, Infallible>(Verdict::Forward(Request::from_parts(parts, Bytes::new())))
        },
    ));
    let Verdict::Respond(response) = stage.oneshot(request("refund.x", "{}")).await.unwrap() else {
        panic!("forwarded a filtered delivery");
    };
    assert_eq!(
        response.extensions().get::<crate::Reason>(),
        Some(&crate::Reason::EventFiltered)
    );
    assert_eq!(
        response
            .extensions()
            .get::<FilteredEvent>()
            .map(|f| &*f.pattern),
        Some("other")
    );
}

fn order_schema() -> PayloadSchema {
    PayloadSchema::compile(&json!({
        "type": "object",
        "required": ["id"],
        "properties": { "id": { "type": "string" }, "amount": { "type": "integer" } }
    }))
    .unwrap()
}

#[tokio::test]
async fn schema_violations_are_422_with_pointers_and_non_json_is_415() {
    let policy = PayloadPolicy::new().schema(order_schema());
    let (status, body) = call(policy.clone(), request("x", r#"{"id":"o1","amount":"3"}"#)).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"], "schema_invalid");
    assert_eq!(body["details"][0]["pointer"], "/amount");
    let (status, body) = call(policy.clone(), request("x", "payload=%7B%7D")).await;
    assert_eq!(status, 415);
    assert_eq!(body["error"], "unsupported_media_type");
    let (status, _) = call(policy, request("x", r#"{"id":"o1","amount":3}"#)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn too_deep_json_is_refused_quickly_and_shallow_passes() {
    let policy = PayloadPolicy::new().schema(PayloadSchema::compile(&json!({})).unwrap());
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, body) = call(policy.clone(), request("x", &deep)).await;
    assert_eq!(status, 415);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("recursion limit"),
        "{body}"
    );
    let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(call(policy, request("x", &ok)).await.0, 200);
}

#[tokio::test]
async fn mapping_sends_the_new_body_with_the_original_hash_and_metadata() {
    let template = Template::compile(&json!({
        "order": "$.data.id",
        "route": "{{ route }}",
        "at": "{{ received_at }}",
        "ip": "{{ client_ip }}",
        "delivery": "{{ delivery_id }}"
    }))
    .unwrap();
    let policy = PayloadPolicy::new().transform(template, OnMissing::Null);
    let original = r#"{"data":{"id":"o-7"}}"#;
    let (status, body) = call(policy, request("x", original)).await;
    assert_eq!(status, 200);
    let sent: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        sent,
        json!({ "order": "o-7", "route": "orders", "at": "2026-01-15T09:00:00Z", "ip": "203.0.113.9", "delivery": null })
    );
    assert_eq!(body["transformed"], true);
    // Computed independently of the layer: sha256 of the bytes sent.
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(original.as_bytes()))
    };
    assert_eq!(body["headers"][ORIGINAL_SHA256_HEADER], expected);
    assert_eq!(
        body["headers"]["content-length"],
        body["body"].as_str().unwrap().len().to_string()
    );
}

#[tokio::test]
async fn on_missing_error_refuses_and_original_forwards_the_bytes_as_sent() {
    let template = Template::compile(&json!({ "id": "$.nope" })).unwrap();
    let (status, body) = call(
        PayloadPolicy::new().transform(template.clone(), OnMissing::Error),
        request("x", "{}"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("transform_failed"))
    );
    let (status, body) = call(
        PayloadPolicy::new().transform(template, OnMissing::Original),
        request("x", r#"{"a": 1}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["body"], r#"{"a": 1}"#);
    assert_eq!(body["transformed"], false);
    // Whatever the caller sent under hookguard's header name does not reach the app.
    assert!(
        body["headers"].get(ORIGINAL_SHA256_HEADER).is_none(),
        "{body}"
    );
}

#[tokio::test]
async fn headers_are_removed_then_added() {
    let rules = HeaderRules::new()
        .remove("x-event")
        .unwrap()
        .add("x-team", "payments")
        .unwrap();
    let (_, body) = call(PayloadPolicy::new().headers(rules), request("x", "{}")).await;
    assert_eq!(body["headers"]["x-team"], "payments");
    assert!(body["headers"].get("x-event").is_none());
}

#[tokio::test]
async fn descendant_paths_too_costly_for_the_body_refuse_the_mapping_and_read_no_event_type() {
    // 3,000 ones under 100 nested arrays: `$..*` and `$..type` may cost values × depth,
    // 310,000 units, where this body allows 16 per value + 10,000 = 59,600.
    let deep = format!(
        "{}{}{}",
        "[".repeat(100),
        vec!["1"; 3_000].join(","),
        "]".repeat(100)
    );
    let mapping = Template::compile(&json!({ "all": "$..*" })).unwrap();
    let (status, body) = call(
        PayloadPolicy::new().transform(mapping, OnMissing::Null),
        request("x", &deep),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("transform_failed"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("3100 values nested 100 deep allows (59600 units"),
        "{body}"
    );

    // The event type is not read, as from a body that is not JSON: filtered as "other".
    let by_type = EventFilter::new(EventSource::path("$..type").unwrap())
        .events(["order.*"])
        .unwrap();
    let policy = PayloadPolicy::new().events(by_type);
    let (status, body) = call(policy.clone(), request("x", &deep)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::OK, Some("event_filtered"))
    );
    // The same path over an ordinary body reads the type.
    let ordinary = r#"{"data": {"type": "order.paid"}}"#;
    let (status, body) = call(policy, request("x", ordinary)).await;
    assert_eq!(
        (status, body["body"].as_str()),
        (StatusCode::OK, Some(ordinary))
    );
}
