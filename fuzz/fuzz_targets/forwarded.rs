#![no_main]
// cargo fuzz run forwarded   (corpus: fuzz/corpus/forwarded, replayed by layers/tests/fuzz_corpus.rs)
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hookguard_layers::ip::fuzzing::forwarded(data));
