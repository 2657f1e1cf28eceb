#![no_main]
// cargo fuzz run verify_any_scheme   (corpus: fuzz/corpus/verify_any_scheme, replayed by layers/tests/fuzz_corpus.rs)
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hookguard_layers::verify::fuzzing::verify_any_scheme(data));
