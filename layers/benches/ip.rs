//! IP filter lookups: the cost of `IpSet::contains` and `IpPolicy::check` with 10 and
//! 10,000 networks. Sorted ranges and a binary search should make both sizes cost about
//! the same.
//!
//! cargo bench -p hookguard-layers --bench ip -- --warm-up-time 1 --measurement-time 3

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hookguard_layers::ip::{parse_networks, ForwardedHeader, IpPolicy, IpSet};
use http::HeaderMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// `n` distinct networks, 3 in 4 IPv4 /24s and 1 in 4 IPv6 /48s, scattered over the
/// address space by a fixed linear congruential sequence (no randomness between runs).
fn networks(n: usize) -> Vec<IpNet> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state
    };
    (0..n)
        .map(|i| {
            let r = next();
            if i % 4 == 3 {
                let addr = Ipv6Addr::from(u128::from(r) << 80 | 0x2001 << 112);
                IpNet::V6(Ipv6Net::new(addr, 48).unwrap().trunc())
            } else {
                let addr = Ipv4Addr::from((r >> 32) as u32);
                IpNet::V4(Ipv4Net::new(addr, 24).unwrap().trunc())
            }
        })
        .collect()
}

fn lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("ip");
    for n in [10usize, 10_000] {
        let nets = networks(n);
        let set: IpSet = nets.iter().collect();
        // A member (inside the middle network) and a non-member.
        let IpNet::V4(middle) = nets[(n / 2) / 4 * 4] else {
            unreachable!()
        };
        let hit = IpAddr::V4(Ipv4Addr::from(u32::from(middle.network()) + 7));
        let miss = IpAddr::V4(Ipv4Addr::new(0, 0, 0, 1));
        assert!(set.contains(hit) && !set.contains(miss));

        group.bench_with_input(BenchmarkId::new("set_contains_hit", n), &hit, |b, ip| {
            b.iter(|| set.contains(black_box(*ip)))
        });
        group.bench_with_input(BenchmarkId::new("set_contains_miss", n), &miss, |b, ip| {
            b.iter(|| set.contains(black_box(*ip)))
        });

        let policy = IpPolicy::builder()
            .allow(nets.clone())
            .deny(parse_networks(["192.0.2.0/24", "2001:db8::/32"]).unwrap())
            .build();
        let headers = HeaderMap::new();
        assert!(policy.check(hit, &headers).is_ok());
        group.bench_with_input(
            BenchmarkId::new("policy_check_allowed", n),
            &hit,
            |b, ip| b.iter(|| policy.check(black_box(*ip), &headers).is_ok()),
        );

        // Behind a trusted proxy: the client is read from X-Forwarded-For.
        let proxied = IpPolicy::builder()
            .allow(nets.clone())
            .trust_proxies(
                ForwardedHeader::XForwardedFor,
                parse_networks(["10.0.0.0/8"]).unwrap(),
            )
            .build();
        let mut forwarded = HeaderMap::new();
        forwarded.insert(
            "x-forwarded-for",
            format!("{hit}, 10.0.0.7").parse().unwrap(),
        );
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(proxied.check(peer, &forwarded).unwrap(), hit);
        group.bench_with_input(
            BenchmarkId::new("policy_check_forwarded", n),
            &peer,
            |b, ip| b.iter(|| proxied.check(black_box(*ip), &forwarded).is_ok()),
        );
    }
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
