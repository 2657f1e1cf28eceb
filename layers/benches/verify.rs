//! Verification cost per scheme at 1 KiB and 64 KiB, beside raw SHA-256 of the same bytes
//! (the floor: an HMAC cannot beat hashing its input once).
//!
//! cargo bench -p hookguard-layers --bench verify

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hookguard_layers::verify::{schemes, Keyring, SignOptions, VerifyContext, WebhookRequest};
use http::{HeaderMap, HeaderValue, Method};
use sha2::Digest;
use std::hint::black_box;

const NOW: i64 = 1_700_000_000;

fn body(size: usize) -> Vec<u8> {
    // A JSON object with the id first, as providers send it; filler up to `size`.
    let mut body = br#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","data":""#.to_vec();
    while body.len() < size - 2 {
        body.push(b'a' + (body.len() % 26) as u8);
    }
    body.extend_from_slice(b"\"}");
    body
}

fn signed_headers(name: &str, secret: &str, body: &[u8]) -> HeaderMap {
    let scheme = schemes::by_name(name).unwrap();
    let key = scheme.parse_signing_key(secret).unwrap();
    let empty = HeaderMap::new();
    let req = WebhookRequest {
        method: &Method::POST,
        url: None,
        headers: &empty,
        body,
    };
    let out = scheme
        .sign(
            &req,
            &key,
            &SignOptions {
                timestamp: NOW,
                id: Some("msg_2a8PjfXNNJpbz2iFyHbJrpzYcMB".into()),
            },
        )
        .unwrap();
    out.headers
        .into_iter()
        .map(|(n, v)| (n, HeaderValue::from_str(&v).unwrap()))
        .collect()
}

fn verify(c: &mut Criterion) {
    let cases = [
        ("github", "It's a Secret to Everybody"),
        ("stripe", "whsec_test_secret_for_benchmarks"),
        (
            "standard-webhooks",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
    ];
    for size in [1024usize, 64 * 1024] {
        let body = body(size);
        let mut group = c.benchmark_group(format!("verify/{}KiB", size / 1024));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("sha256-raw", |b| {
            b.iter(|| sha2::Sha256::digest(black_box(&body)))
        });
        for (name, secret) in cases {
            let scheme = schemes::by_name(name).unwrap();
            let keys = Keyring::from_secrets(&*scheme, [secret]).unwrap();
            let headers = signed_headers(name, secret, &body);
            let ctx = VerifyContext::new(&*scheme, NOW);
            group.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
                b.iter(|| {
                    let req = WebhookRequest {
                        method: &Method::POST,
                        url: None,
                        headers: &headers,
                        body: black_box(body),
                    };
                    scheme.verify(&req, &keys, &ctx).unwrap()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
