//! An axum service whose GitHub and Stripe webhook routes are protected by hookguard's
//! `VerifySignatureLayer`. The handlers see only verified requests, with a `Verified`
//! extension saying which secret matched. Payload rules (`PayloadRulesLayer`, inside the
//! verification) decide what the handlers see: GitHub `ping`s are acknowledged without
//! reaching the handler, and Stripe events arrive mapped to the three fields the app uses.
//!
//! cargo run -p hookguard-examples --example axum_webhooks
//! then, in another shell (the example prints these with real signatures):
//!   curl -i localhost:3000/webhooks/github -H "X-Hub-Signature-256: sha256=…" -d 'Hello, World!'

use axum::{extract::Extension, routing::post, Router};
use bytes::Bytes;
use hookguard_layers::rules::{
    EventFilter, EventSource, OnMissing, PayloadPolicy, PayloadRulesLayer, Template,
};
use hookguard_layers::verify::{schemes, Keyring, Verified, VerifySignatureLayer};
use tower::ServiceBuilder;

/// The app: one route per provider, each with its own scheme and secrets.
pub fn app(github_secrets: &[&str], stripe_secrets: &[&str]) -> Router {
    let github = schemes::by_name("github").expect("known scheme");
    let github_keys =
        Keyring::from_secrets(&*github, github_secrets).expect("valid GitHub secrets");
    let stripe = schemes::by_name("stripe").expect("known scheme");
    let stripe_keys =
        Keyring::from_secrets(&*stripe, stripe_secrets).expect("valid Stripe secrets");

    // GitHub's event type is `X-GitHub-Event` (with the payload's `action`).
    let github_events = EventFilter::new(EventSource::preset("github").expect("a preset"))
        .ignore(["ping"])
        .expect("valid patterns");
    // The app needs three fields of a Stripe event, whatever else Stripe adds.
    let stripe_mapping = Template::compile(&serde_json::json!({
        "id": "$.id", "type": "$.type", "route": "{{ route }}"
    }))
    .expect("a valid template");

    Router::new()
        // Layers sit on the route, outermost first: verification, then the payload rules,
        // which judge verified payloads only.
        .route(
            "/webhooks/github",
            post(handle).layer(
                ServiceBuilder::new()
                    .layer(VerifySignatureLayer::new(github, github_keys).max_body(1 << 20))
                    .layer(PayloadRulesLayer::new(
                        "github",
                        PayloadPolicy::new().events(github_events),
                    )),
            ),
        )
        .route(
            "/webhooks/stripe",
            post(handle).layer(
                ServiceBuilder::new()
                    .layer(VerifySignatureLayer::new(stripe, stripe_keys).max_body(1 << 20))
                    .layer(PayloadRulesLayer::new(
                        "stripe",
                        PayloadPolicy::new().transform(stripe_mapping, OnMissing::Null),
                    )),
            ),
        )
}

/// Runs only for verified requests.
async fn handle(Extension(verified): Extension<Verified>, body: Bytes) -> String {
    format!(
        "accepted {} delivery {} ({} bytes, secret #{}): {}\n",
        verified.scheme,
        verified.delivery_id.as_deref().unwrap_or("-"),
        body.len(),
        verified.secret_index,
        String::from_utf8_lossy(&body)
    )
}

#[allow(dead_code)] // The smoke test includes this file for `app` only.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let github_secret = std::env::var("GITHUB_WEBHOOK_SECRET")
        .unwrap_or_else(|_| "It's a Secret to Everybody".into());
    let stripe_secret =
        std::env::var("STRIPE_WEBHOOK_SECRET").unwrap_or_else(|_| "whsec_example".into());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}");
    println!("try:  curl -i http://{addr}/webhooks/github -H 'X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' --data-binary 'Hello, World!'");
    println!("      (with the default secret; `hookguard sign --scheme stripe --secret whsec_example --body '{{\"id\":\"evt_1\"}}'` makes a Stripe header)");
    axum::serve(listener, app(&[&github_secret], &[&stripe_secret])).await
}
