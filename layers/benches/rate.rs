//! Rate-limit decisions with 10 and 1,000,000 keys in the table: one hot key (the usual
//! case: a provider's few addresses), and a walk over every key (each decision a likely
//! cache miss).
//!
//! cargo bench -p hookguard-layers --bench rate -- --warm-up-time 1 --measurement-time 3

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hookguard_layers::ip::ClientIp;
use hookguard_layers::rate::{LimitKey, MemoryStore, RateLimiter, RateQuota, RateScope};

fn key(n: u32) -> LimitKey {
    LimitKey::client(IpAddr::V4(Ipv4Addr::from(n)))
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate");
    // Generous enough that the benchmark measures admitted decisions throughout.
    let quota = RateQuota::per_second(1_000_000_000)
        .unwrap()
        .burst(1_000_000)
        .unwrap();
    for n in [10u32, 1_000_000] {
        let store = MemoryStore::new(quota, n as usize).unwrap();
        for i in 0..n {
            store.decide(&key(i));
        }
        assert_eq!(store.len(), n as usize);

        let hot = key(n / 2);
        group.bench_with_input(BenchmarkId::new("decide_hot_key", n), &hot, |b, k| {
            b.iter(|| store.decide(black_box(k)).allowed)
        });

        let mut i = 0u32;
        group.bench_function(BenchmarkId::new("decide_walk_all_keys", n), |b| {
            b.iter(|| {
                i = if i + 1 == n { 0 } else { i + 1 };
                store.decide(&key(black_box(i))).allowed
            })
        });

        // The whole core path the service runs: key from the request head, then decide.
        let limiter = RateLimiter::with_store(RateScope::ClientIp, store);
        let mut request = http::Request::new(());
        request
            .extensions_mut()
            .insert(ClientIp(IpAddr::V4(Ipv4Addr::from(n / 2))));
        let (parts, ()) = request.into_parts();
        group.bench_function(BenchmarkId::new("key_and_decide", n), |b| {
            b.iter(|| {
                let key = limiter.key_for(black_box(&parts)).unwrap();
                limiter.store().decide(&key).allowed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
