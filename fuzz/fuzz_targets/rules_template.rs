#![no_main]
// cargo fuzz run rules_template   (corpus: fuzz/corpus/rules_template, replayed by layers/tests/fuzz_corpus.rs)
// Input: a JSONPath, a newline, a payload.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hookguard_layers::rules::fuzzing::template_and_paths(data));
