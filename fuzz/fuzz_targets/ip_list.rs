#![no_main]
// cargo fuzz run ip_list   (corpus: fuzz/corpus/ip_list, replayed by layers/tests/fuzz_corpus.rs)
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hookguard_layers::ip::fuzzing::ip_list(data));
