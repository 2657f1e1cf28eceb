//! hookguard's configuration file: schema, loading, validation and hot reload.
//!
//! The file format and its validation arrive with the sidecar (issue 4). Until then this
//! crate holds the workspace's place for it so that dependencies already point
//! `proxy → config → layers`; it re-exports the scheme names the file will accept.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

/// The scheme names a route may use (the same list as the CLI's `--scheme`).
pub use hookguard_layers::verify::schemes::NAMES as SCHEME_NAMES;
