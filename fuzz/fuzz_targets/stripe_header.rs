#![no_main]
// cargo fuzz run stripe_header   (corpus: fuzz/corpus/stripe_header, replayed by layers/tests/fuzz_corpus.rs)
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hookguard_layers::verify::fuzzing::stripe_header(data));
