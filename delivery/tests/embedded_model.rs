//! Model-based test: the same random operations, restarts included, against the embedded
//! store and `MemoryQueueStore` (the model); every answer, every listing and every stat
//! must agree, ids mapped (each store makes its own).

use std::collections::HashMap;
use std::time::Duration;

use hookguard_delivery::store::conformance::{answered, message, reason, T0};
use hookguard_delivery::{
    Bounds, DeadCode, Durability, EmbeddedOptions, EmbeddedQueueStore, ListQuery, MemoryQueueStore,
    Message, MessageId, QueueStore, Settlement, State, StoreError, Timestamp,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        dest: u8,
        key: Option<u8>,
        size: u8,
        bounded: bool,
    },
    Claim {
        dest: u8,
        limit: usize,
        lease: u64,
    },
    Settle {
        pick: usize,
        kind: u8,
        delay: u64,
    },
    Requeue {
        pick: usize,
    },
    Delete {
        pick: usize,
    },
    Expire {
        delivered_for: u64,
        dead_for: u64,
    },
    Advance {
        secs: u64,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..2u8, proptest::option::of(0..2u8), 1..20u8, any::<bool>())
            .prop_map(|(dest, key, size, bounded)| Op::Enqueue { dest, key, size, bounded }),
        4 => (0..2u8, 1..4usize, 0..3u64).prop_map(|(dest, limit, lease)| Op::Claim { dest, limit, lease }),
        4 => (any::<usize>(), 0..4u8, 0..3u64).prop_map(|(pick, kind, delay)| Op::Settle { pick, kind, delay }),
        1 => any::<usize>().prop_map(|pick| Op::Requeue { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
        1 => (0..4u64, 0..4u64).prop_map(|(delivered_for, dead_for)| Op::Expire { delivered_for, dead_for }),
        2 => (0..3u64).prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::Reopen),
    ]
}

const BOUNDS: Bounds = Bounds {
    max_messages: 5,
    max_bytes: 60,
};

struct Harness {
    dir: tempfile::TempDir,
    real: Option<EmbeddedQueueStore>,
    model: MemoryQueueStore,
    /// (model id, real id), in enqueue order.
    ids: Vec<(MessageId, MessageId)>,
    to_model: HashMap<MessageId, MessageId>,
    now: Timestamp,
}

fn options() -> EmbeddedOptions {
    EmbeddedOptions {
        durability: Durability::Os,
        commit_interval: Duration::ZERO,
        ..EmbeddedOptions::default()
    }
}

fn kind(e: &StoreError) -> String {
    match e {
        StoreError::Full { destination, what } => format!("full {destination} {what}"),
        other => panic!("store error: {other}"),
    }
}

impl Harness {
    fn real(&self) -> &EmbeddedQueueStore {
        self.real.as_ref().expect("open")
    }

    /// The real store's message with the model's id (payloads and all else compared).
    fn mapped(&self, mut m: Message) -> Message {
        m.id = self.to_model[&m.id].clone();
        m
    }

    fn pick(&self, pick: usize) -> Option<(MessageId, MessageId)> {
        (!self.ids.is_empty()).then(|| self.ids[pick % self.ids.len()].clone())
    }

    async fn step(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Enqueue {
                dest,
                key,
                size,
                bounded,
            } => {
                let key = key.map(|k| format!("k{k}"));
                let payload = "x".repeat(size as usize);
                let new = message(&format!("d{dest}"), key.as_deref(), &payload, now);
                let bounds = if bounded { BOUNDS } else { Bounds::UNBOUNDED };
                let model = self.model.enqueue(new.clone(), bounds).await;
                let real = self.real().enqueue(new, bounds).await;
                match (model, real) {
                    (Ok(m), Ok(r)) => {
                        self.to_model.insert(r.clone(), m.clone());
                        self.ids.push((m, r));
                    }
                    (Err(m), Err(r)) => assert_eq!(kind(&m), kind(&r)),
                    (m, r) => panic!("enqueue: model {m:?}, real {r:?}"),
                }
            }
            Op::Claim { dest, limit, lease } => {
                let dest = format!("d{dest}");
                let lease = Duration::from_secs(lease);
                let model = self.model.claim(&dest, now, limit, lease).await.unwrap();
                let real = self.real().claim(&dest, now, limit, lease).await.unwrap();
                let real: Vec<_> = real.into_iter().map(|m| self.mapped(m)).collect();
                assert_eq!(model, real, "claim {dest} at {now:?}");
            }
            Op::Settle { pick, kind, delay } => {
                let Some((m, r)) = self.pick(pick) else {
                    return;
                };
                let attempt = answered(now, 500);
                let settlement = match kind {
                    0 => Settlement::Delivered(answered(now, 200)),
                    1 => Settlement::Retry {
                        attempt,
                        at: now.add(Duration::from_secs(delay)),
                    },
                    2 => Settlement::Dead {
                        attempt: Some(attempt),
                        reason: reason(DeadCode::Rejected),
                    },
                    _ => Settlement::Defer {
                        at: now.add(Duration::from_secs(delay)),
                    },
                };
                let model = self
                    .model
                    .settle(&m, settlement.clone(), now)
                    .await
                    .unwrap();
                let real = self.real().settle(&r, settlement, now).await.unwrap();
                assert_eq!(model, real, "settle");
            }
            Op::Requeue { pick } => {
                let Some((m, r)) = self.pick(pick) else {
                    return;
                };
                let model = self.model.requeue(&m, now).await.unwrap();
                assert_eq!(
                    model,
                    self.real().requeue(&r, now).await.unwrap(),
                    "requeue"
                );
            }
            Op::Delete { pick } => {
                let Some((m, r)) = self.pick(pick) else {
                    return;
                };
                let model = self.model.delete(&m).await.unwrap();
                assert_eq!(model, self.real().delete(&r).await.unwrap(), "delete");
            }
            Op::Expire {
                delivered_for,
                dead_for,
            } => {
                let (a, b) = (
                    Duration::from_secs(delivered_for),
                    Duration::from_secs(dead_for),
                );
                let model = self.model.expire(now, a, b).await.unwrap();
                assert_eq!(
                    model,
                    self.real().expire(now, a, b).await.unwrap(),
                    "expire"
                );
            }
            Op::Advance { secs } => self.now = now.add(Duration::from_secs(secs)),
            Op::Reopen => {
                self.real.take();
                self.real = Some(EmbeddedQueueStore::open(self.dir.path(), options()).unwrap());
                // The model of a restart: every lease released, due when it was claimed.
                let in_flight = ListQuery {
                    state: Some(State::InFlight),
                    limit: 10_000,
                    ..Default::default()
                };
                for m in self.model.list(&in_flight).await.unwrap() {
                    let at = m.updated_at;
                    assert!(self
                        .model
                        .settle(&m.id, Settlement::Defer { at }, at)
                        .await
                        .unwrap());
                }
            }
        }
        self.compare_everything().await;
    }

    async fn compare_everything(&self) {
        let all = ListQuery {
            limit: 10_000,
            ..Default::default()
        };
        let model = self.model.list(&all).await.unwrap();
        let real = self.real().list(&all).await.unwrap();
        let mut real: Vec<_> = real.into_iter().map(|m| self.mapped(m)).collect();
        // Ids of the two stores are both time-ordered but not equal: order by seq.
        real.sort_by_key(|m| m.seq);
        assert_eq!(model, real, "every message");
        let dead = ListQuery {
            state: Some(State::Dead),
            limit: 10_000,
            ..Default::default()
        };
        let model_dead = self.model.list(&dead).await.unwrap().len();
        assert_eq!(
            model_dead,
            self.real().list(&dead).await.unwrap().len(),
            "dead letters"
        );
        assert_eq!(
            self.model.stats().await.unwrap(),
            self.real().stats().await.unwrap(),
            "stats"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn embedded_store_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let real = EmbeddedQueueStore::open(dir.path(), options()).unwrap();
            let mut harness = Harness {
                dir,
                real: Some(real),
                model: MemoryQueueStore::new(),
                ids: Vec::new(),
                to_model: HashMap::new(),
                now: T0,
            };
            for op in ops {
                harness.step(op).await;
            }
        });
    }
}
