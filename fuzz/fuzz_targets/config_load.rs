#![no_main]
// cargo fuzz run config_load   (corpus: fuzz/corpus/config_load, replayed by config/tests/fuzz_corpus.rs)
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hookguard_config::fuzzing::load(data));
