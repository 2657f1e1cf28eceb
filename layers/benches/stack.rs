//! The whole stack — IP filter, rate limit, signature verification (GitHub, 1 KiB), replay
//! guard — around an echo service, beside the echo service alone and beside the HMAC of the
//! same body, in one run. The overhead of the layers is `stack - echo - hmac`.
//!
//! cargo bench -p hookguard-layers --bench stack

use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use hookguard_layers::ip::{IpFilterLayer, IpPolicy};
use hookguard_layers::rate::{RateLimitLayer, RateLimiter, RateQuota, RateScope};
use hookguard_layers::replay::{MemoryReplayStore, ReplayGuardLayer};
use hookguard_layers::verify::mac::{MacAlgorithm, MacKey};
use hookguard_layers::verify::{
    schemes, Keyring, SignOptions, VerifySignatureLayer, WebhookRequest,
};
use http::{HeaderMap, Method, Request, Response};
use http_body_util::Full;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

const SECRET: &str = "bench-secret";

async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(req.into_body()))
}

fn stack(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = Bytes::from(vec![b'a'; 1024]);
    let scheme = schemes::by_name("github").unwrap();
    let key = scheme.parse_signing_key(SECRET).unwrap();
    let empty = HeaderMap::new();
    let unsigned = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &empty,
        body: &body,
    };
    let signature = scheme
        .sign(&unsigned, &key, &SignOptions::default())
        .unwrap()
        .headers[0]
        .1
        .clone();
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let request = |id: u64| {
        let mut req = Request::post("/hook")
            .header("x-hub-signature-256", &signature)
            .header(
                "x-github-delivery",
                format!("72d3162e-cc78-11e3-81ab-{id:012}"),
            )
            .body(Full::new(body.clone()))
            .unwrap();
        req.extensions_mut().insert(peer);
        req
    };

    let policy = IpPolicy::builder()
        .allow(["127.0.0.0/8".parse().unwrap()])
        .build();
    let limiter = RateLimiter::new(
        RateScope::ClientIp,
        RateQuota::per_second(1_000_000_000).unwrap(),
    );
    let keys = Keyring::from_secrets(&*scheme, [SECRET]).unwrap();
    let mut full = ServiceBuilder::new()
        .layer(IpFilterLayer::new(policy))
        .layer(RateLimitLayer::new(limiter))
        .layer(VerifySignatureLayer::new(scheme.clone(), keys))
        .layer(ReplayGuardLayer::new("bench", MemoryReplayStore::default()).for_scheme(&*scheme))
        .service(service_fn(echo));
    let policy = IpPolicy::builder()
        .allow(["127.0.0.0/8".parse().unwrap()])
        .build();
    let limiter = RateLimiter::new(
        RateScope::ClientIp,
        RateQuota::per_second(1_000_000_000).unwrap(),
    );
    let keys = Keyring::from_secrets(&*scheme, [SECRET]).unwrap();
    // Without the replay guard: what a delivery without an id (or a guard-less route) costs.
    let mut no_replay = ServiceBuilder::new()
        .layer(IpFilterLayer::new(policy))
        .layer(RateLimitLayer::new(limiter))
        .layer(VerifySignatureLayer::new(scheme.clone(), keys))
        .service(service_fn(echo));
    let mut alone = service_fn(echo);
    let mac = MacKey::new(MacAlgorithm::Sha256, SECRET.as_bytes());

    let mut group = c.benchmark_group("stack/1KiB");
    group.bench_function("echo_alone", |b| {
        b.iter(|| {
            runtime.block_on(async { alone.ready().await.unwrap().call(request(0)).await.unwrap() })
        })
    });
    group.bench_function("hmac_sha256_only", |b| {
        b.iter(|| mac.compute(&[black_box(&body)]))
    });
    group.bench_function("ip_rate_verify_echo", |b| {
        b.iter(|| {
            runtime.block_on(async {
                no_replay
                    .ready()
                    .await
                    .unwrap()
                    .call(request(0))
                    .await
                    .unwrap()
            })
        })
    });
    let mut id = 0u64;
    group.bench_function("ip_rate_verify_replay_echo", |b| {
        b.iter(|| {
            id += 1;
            let response = runtime
                .block_on(async { full.ready().await.unwrap().call(request(id)).await.unwrap() });
            assert_eq!(response.status(), 200);
        })
    });
    group.finish();
}

criterion_group!(benches, stack);
criterion_main!(benches);
