//! Replays the `config_load` fuzz corpus (fuzz/corpus/config_load/*) through the entry
//! point the cargo-fuzz target calls, so inputs that once crashed stay fixed.

use std::path::Path;

#[test]
fn config_load_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/config_load");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        hookguard_config::fuzzing::load(&std::fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count > 0, "no corpus in {}", dir.display());
}
