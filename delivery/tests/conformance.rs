//! The store conformance suite against every backend of this crate.

use hookguard_delivery::{EmbeddedOptions, EmbeddedQueueStore, MemoryQueueStore};

mod memory {
    use super::*;
    hookguard_delivery::queue_store_conformance!((MemoryQueueStore::new(), ()));
}

mod embedded {
    use super::*;

    fn open() -> (EmbeddedQueueStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            EmbeddedQueueStore::open(dir.path(), EmbeddedOptions::default()).expect("open store");
        (store, dir)
    }

    hookguard_delivery::queue_store_conformance!(open());
}
