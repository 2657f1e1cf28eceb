//! The store conformance suites against the in-memory stores of this crate (the Redis
//! stores run the same suites in hookguard-redis).

mod memory {
    use hookguard_layers::rate::MemoryStore;
    use hookguard_layers::replay::MemoryReplayStore;

    hookguard_layers::rate_store_conformance!(|quota| (
        MemoryStore::new(quota, 1000).expect("store"),
        ()
    ));
    hookguard_layers::replay_store_conformance!(|| (MemoryReplayStore::default(), ()));
}
