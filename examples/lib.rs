//! Examples of hookguard's layers in a Rust service. Each example is a file beside this one;
//! `cargo run -p hookguard-examples --example <name>` runs it.
