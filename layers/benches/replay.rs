//! The replay guard's policy core with the in-memory store: a new delivery (reserve and
//! commit: two writes to the sharded map) and a duplicate (refused from a read).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use hookguard_layers::replay::{MemoryReplayStore, ReplayPolicy, Tracking};
use hookguard_layers::verify::Verified;

fn verified(id: String) -> Verified {
    Verified {
        scheme: "github",
        secret_index: 0,
        secret_id: "primary".into(),
        delivery_id: Some(id),
        timestamp: None,
    }
}

fn replay(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let policy = ReplayPolicy::new("github", MemoryReplayStore::default());
    let mut group = c.benchmark_group("replay");

    let mut next = 0u64;
    group.bench_function("new_delivery_reserve_commit", |b| {
        b.iter(|| {
            next += 1;
            let request = verified(format!("72d3162e-cc78-11e3-81ab-{next:012}"));
            runtime.block_on(async {
                match policy.check(Some(&request)).await {
                    Ok(Tracking::Pending(pending)) => pending.commit().await.unwrap(),
                    other => panic!("new delivery not reserved: {other:?}"),
                }
            })
        })
    });

    let seen = verified("72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned());
    runtime.block_on(async {
        if let Ok(Tracking::Pending(pending)) = policy.check(Some(&seen)).await {
            pending.commit().await.unwrap();
        }
    });
    group.bench_function("duplicate_refused", |b| {
        b.iter(|| black_box(runtime.block_on(policy.check(Some(&seen))).is_err()))
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
