//! Support for hookguard's integration tests: running the real `hookguard` binary.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// Path of the `hookguard` binary built for this test run.
///
/// Cargo sets `CARGO_BIN_EXE_*` only for the binary's own package, so the path is derived
/// from this test binary's location (`target/<profile>/deps/..`).
pub fn hookguard_bin() -> PathBuf {
    let mut dir = std::env::current_exe().expect("test binary path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(format!("hookguard{}", std::env::consts::EXE_SUFFIX))
}
