#![no_main]
// cargo fuzz run signature_list   (corpus: fuzz/corpus/signature_list, replayed by layers/tests/fuzz_corpus.rs)
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hookguard_layers::verify::fuzzing::signature_list(data));
