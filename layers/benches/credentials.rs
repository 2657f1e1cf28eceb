//! The credential cache's hot path: a key lookup on every verified request.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use hookguard_layers::credentials::{CachedCredentials, InlineSource, SecretSet};
use hookguard_layers::verify::{schemes, KeySource};

fn cache_hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = CachedCredentials::new();
    let source = InlineSource::new().route(
        "github",
        SecretSet::primary("It's a Secret to Everybody").with_next("the-next-secret"),
    );
    let keys = runtime
        .block_on(cache.load(
            "github",
            schemes::by_name("github").unwrap(),
            Arc::new(source),
        ))
        .unwrap();

    let mut group = c.benchmark_group("credentials");
    group.bench_function("keyring_cache_hit", |b| {
        b.iter(|| black_box(keys.keyring().unwrap()))
    });
    group.bench_function("record_match", |b| {
        b.iter(|| black_box(keys.record_match(black_box("next"))))
    });
    group.finish();
}

criterion_group!(benches, cache_hit);
criterion_main!(benches);
