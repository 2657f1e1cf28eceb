//! Embedded store throughput: 1 KiB enqueues from 64 concurrent callers (fsync and os
//! durability), printing records per commit and commits (fsyncs) per second; and
//! claim + settle. `cargo bench -p hookguard-delivery --bench store`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hookguard_delivery::{
    Attempt, AttemptOutcome, Bounds, Direction, Durability, EmbeddedOptions, EmbeddedQueueStore,
    Metadata, NewMessage, QueueStore, Settlement, Timestamp,
};

const CALLERS: u64 = 64;

fn message(i: u64) -> NewMessage {
    NewMessage {
        destination: "bench".into(),
        direction: Direction::Inbound,
        ordering_key: None,
        payload: vec![b'x'; 1024].into(),
        meta: Metadata {
            received_at: Timestamp(i),
            ..Metadata::default()
        },
    }
}

fn enqueue(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("enqueue_1k_64_callers");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(1));
    for durability in [Durability::Fsync, Durability::Os] {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = EmbeddedOptions::default().durability(durability);
        let store = Arc::new(EmbeddedQueueStore::open(dir.path(), options).expect("open"));
        let (mut spent, mut before) = (Duration::ZERO, store.commit_stats());
        let name = format!("{durability:?}").to_lowercase();
        group.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let store = store.clone();
                async move {
                    let per_caller = iters.div_ceil(CALLERS);
                    let started = Instant::now();
                    let callers: Vec<_> = (0..CALLERS)
                        .map(|_| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                for i in 0..per_caller {
                                    store
                                        .enqueue(message(i), Bounds::UNBOUNDED)
                                        .await
                                        .expect("enqueue");
                                }
                            })
                        })
                        .collect();
                    for caller in callers {
                        caller.await.expect("caller");
                    }
                    // Time per enqueue, though callers rounded up to whole messages.
                    started
                        .elapsed()
                        .mul_f64(iters as f64 / (per_caller * CALLERS) as f64)
                }
            });
        });
        let after = store.commit_stats();
        spent += after.total_latency - before.total_latency;
        let (commits, records) = (
            after.commits - before.commits,
            after.records - before.records,
        );
        before = after;
        let _ = before;
        println!(
            "{name}: {records} records in {commits} commits: {:.1} records/commit, \
             {:.2} ms per commit write (fsyncs/s = enqueues/s / records per commit)",
            records as f64 / commits.max(1) as f64,
            spent.as_secs_f64() * 1000.0 / commits.max(1) as f64,
        );
    }
    group.finish();
}

fn claim_settle(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Arc::new(EmbeddedQueueStore::open(dir.path(), EmbeddedOptions::default()).expect("open"));
    let mut group = c.benchmark_group("claim_settle_1k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(1));
    group.bench_function("fsync_batches_of_64", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let store = store.clone();
            async move {
                // Fill outside the clock: 64 callers, so the fill itself group-commits.
                let fill: Vec<_> = (0..CALLERS)
                    .map(|_| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            for i in 0..iters.div_ceil(CALLERS) {
                                store
                                    .enqueue(message(i), Bounds::UNBOUNDED)
                                    .await
                                    .expect("fill");
                            }
                        })
                    })
                    .collect();
                for f in fill {
                    f.await.expect("fill");
                }
                let started = Instant::now();
                let mut done = 0;
                while done < iters {
                    let now = Timestamp::now();
                    let claimed = store
                        .claim("bench", now, 64, Duration::from_secs(30))
                        .await
                        .expect("claim");
                    if claimed.is_empty() {
                        break;
                    }
                    let settles: Vec<_> = claimed
                        .into_iter()
                        .map(|m| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                let attempt = Attempt {
                                    at: now,
                                    duration_ms: 1,
                                    outcome: AttemptOutcome::Status {
                                        code: 200,
                                        retry_after: None,
                                        body: None,
                                    },
                                };
                                store
                                    .settle(&m.id, Settlement::Delivered(attempt), now)
                                    .await
                                    .expect("settle")
                            })
                        })
                        .collect();
                    for s in settles {
                        s.await.expect("settle");
                        done += 1;
                    }
                }
                started.elapsed().mul_f64(iters as f64 / done.max(1) as f64)
            }
        });
    });
    group.finish();
}

criterion_group!(benches, enqueue, claim_settle);
criterion_main!(benches);
