//! The entry point shared by the cargo-fuzz target `config_load` (fuzz/) and the test that
//! replays its corpus (config/tests/fuzz_corpus.rs). It must never panic, whatever the input.

use std::collections::HashMap;
use std::path::Path;

use crate::{Config, Format};

/// Loads arbitrary text as a configuration file: the first byte picks TOML or YAML, the
/// rest is the file. Either a configuration or a list of problems, each with a place.
pub fn load(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (format, file) = if selector & 1 == 0 {
        (Format::Toml, "fuzz.toml")
    } else {
        (Format::Yaml, "fuzz.yaml")
    };
    // Relative paths in the input resolve against a folder that does not exist, and env
    // lookups see one variable: nothing outside the input decides the outcome.
    let env = HashMap::from([("FUZZ_SECRET".to_string(), "s3cret".to_string())]);
    let file = Path::new("/nonexistent-hookguard-fuzz").join(file);
    match Config::from_text(text, format, &file, &env) {
        Ok(config) => {
            let _ = config.summary();
            let _ = crate::Router::new(&config);
        }
        Err(e) => {
            assert!(
                !e.problems().is_empty(),
                "an error names at least one problem"
            );
            let _ = e.to_string();
        }
    }
}
