#![no_main]
// cargo fuzz run paddle_header   (corpus: fuzz/corpus/paddle_header, replayed by layers/tests/fuzz_corpus.rs)
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hookguard_layers::verify::fuzzing::paddle_header(data));
