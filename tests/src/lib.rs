//! Support for hookguard's integration tests: the real `hookguard` binary in front of a
//! recording upstream, both on `127.0.0.1:0`, never on fixed ports.
//!
//! ```no_run
//! # async fn demo() {
//! use hookguard_tests::{sidecar, upstream, Signer};
//!
//! // In a test of the `hookguard` package: env!("CARGO_BIN_EXE_hookguard").
//! let bin = "target/debug/hookguard";
//! let app = upstream().record().start().await;
//! let proxy = sidecar(bin)
//!     .config(format!(r#"
//!         upstream.address = "{}"
//!         [[routes]]
//!         id = "github"
//!         match.path = "/webhooks/github"
//!         scheme = "github"
//!         secrets = [{{ id = "primary", value = "s3cret" }}]
//!     "#, app.addr()))
//!     .start()
//!     .await;
//! let request = Signer::new("github", "s3cret").post(&proxy.url("/webhooks/github"), b"{}", "d-1");
//! let answer = hookguard_tests::send(request).await;
//! assert_eq!(answer.status, 200);
//! assert_eq!(app.requests().len(), 1);
//! # }
//! ```
//!
//! The binary's path comes from the caller: integration tests of the `hookguard` package get
//! it from `env!("CARGO_BIN_EXE_hookguard")`, which cargo guarantees is built and current.
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

pub mod browser;
mod client;
mod mosquitto;
mod redis;
pub mod secret_stores;
mod sidecar;
mod signing;
mod smtp;
mod upstream;

pub use browser::Browser;
pub use client::{send, try_send, Answer, RawConn};
pub use fantoccini;
pub use mosquitto::{Mosquitto, Subscriber};
pub use redis::{
    RedisCluster, RedisSentinel, RedisServer, RedisServerBuilder, SENTINEL_MASTER_NAME,
};
pub use secret_stores::{FaultControl, InfisicalServer, VaultServer};
pub use sidecar::{free_port, sidecar, Sidecar, SidecarBuilder};
pub use signing::Signer;
pub use smtp::{Mail, SmtpServer};
pub use upstream::{upstream, Recorded, Upstream, UpstreamBuilder};

#[doc(hidden)]
pub use tokio;

/// How long [`assert_eventually!`] polls before failing.
pub const EVENTUALLY: std::time::Duration = std::time::Duration::from_secs(10);

/// Polls an async condition every 20 ms until it holds, failing the test after
/// [`EVENTUALLY`] (never an unbounded wait).
///
/// ```no_run
/// # async fn demo(flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
/// hookguard_tests::assert_eventually!(flag.load(std::sync::atomic::Ordering::SeqCst), "flag never set");
/// # }
/// ```
#[macro_export]
macro_rules! assert_eventually {
    ($cond:expr, $($msg:tt)+) => {{
        let deadline = ::std::time::Instant::now() + $crate::EVENTUALLY;
        loop {
            if $cond {
                break;
            }
            if ::std::time::Instant::now() >= deadline {
                panic!("not true within {:?}: {}", $crate::EVENTUALLY, format!($($msg)+));
            }
            $crate::tokio::time::sleep(::std::time::Duration::from_millis(20)).await;
        }
    }};
    ($cond:expr) => {
        $crate::assert_eventually!($cond, "{}", stringify!($cond))
    };
}

/// SHA-256 of `bytes`, hex: how tests compare bodies.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `len` deterministic bytes covering every byte value (not valid UTF-8), so a body that
/// is altered, truncated or re-encoded on the way shows in its hash.
pub fn body_of(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9 ^ len as u32;
    (0..len)
        .map(|_| {
            // xorshift32: cheap, reproducible.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}
