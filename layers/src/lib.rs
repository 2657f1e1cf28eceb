//! Tower layers that keep forged, replayed, oversized and abusive webhook requests away
//! from an application.
//!
//! Each layer has a policy core with no HTTP-framework types (plain structs that the
//! tower services and the hookguard sidecar both call) and a thin tower
//! `Layer`/`Service`. Rejections are one typed value ([`Rejection`]) turned into a response
//! in one place ([`FromRejection`]). A stack that answers with a [`Verdict`] can run in
//! shadow mode ([`shadow`]): every check reports, nothing is refused.
//!
//! ```
//! # #[cfg(feature = "verify")] {
//! use hookguard_layers::verify::{schemes, Keyring, VerifySignatureLayer};
//!
//! let scheme = schemes::by_name("github").unwrap();
//! let keys = Keyring::from_secrets(&*scheme, ["It's a Secret to Everybody"]).unwrap();
//! let layer = VerifySignatureLayer::new(scheme, keys).max_body(1 << 20);
//! # let _ = layer;
//! # }
//! ```
//!
//! # Features
//!
//! Each layer, and each source that needs a heavy dependency, is a Cargo feature, so a
//! service compiles only what it uses (as with tower-http).
//!
//! | Feature       | Module           | What it adds                                                     |
//! |---------------|------------------|------------------------------------------------------------------|
//! | `verify`      | [`verify`]       | every provider scheme (HMAC), `VerifySignatureLayer`             |
//! | `ed25519`     | —                | Standard Webhooks `v1a` keys and the `discord` scheme            |
//! | `ip`          | [`ip`]           | allow/deny lists, trusted proxies, provider ranges from files    |
//! | `ip-fetch`    | —                | provider ranges fetched over HTTPS (reqwest, rustls)             |
//! | `rate`        | [`rate`]         | GCRA rate limiting (governor); implies `ip` for the client key   |
//! | `replay`      | [`replay`]       | replay guard with an in-memory store; implies `verify`           |
//! | `credentials` | [`credentials`]  | secret cache; inline, environment and file sources               |
//! | `vault`       | —                | HashiCorp Vault KV v2 source (reqwest, rustls)                   |
//! | `infisical`   | —                | Infisical Universal Auth source (reqwest, rustls)                |
//! | `rules`       | [`rules`]        | payload rules: event filter, JSON Schema, JSONPath mapping       |
//! | `full`        | all of the above | what the hookguard sidecar builds                                |
//!
//! **The default is `verify` and `replay`.** Every webhook receiver needs both: a
//! signature says who sent a delivery, and only the replay guard stops the same signed
//! delivery from being handled twice within the provider's timestamp tolerance. Both are
//! light (HMAC, a JSON reader, `tokio`'s timer) and need no configuration beyond the secret.
//! The rest is left out because a service usually has it elsewhere or does not need it:
//! IP filtering and rate limiting often live at the edge (load balancer, WAF), secrets
//! usually come from the service's own configuration, and `ed25519`, `ip-fetch`, `vault`
//! and `infisical` bring in a curve library or an HTTP client with TLS.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "credentials")]
#[cfg_attr(docsrs, doc(cfg(feature = "credentials")))]
pub mod credentials;
pub mod env;
#[cfg(feature = "ip")]
#[cfg_attr(docsrs, doc(cfg(feature = "ip")))]
pub mod ip;
#[cfg(feature = "rate")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate")))]
pub mod rate;
pub mod reject;
#[cfg(feature = "replay")]
#[cfg_attr(docsrs, doc(cfg(feature = "replay")))]
pub mod replay;
#[cfg(feature = "rules")]
#[cfg_attr(docsrs, doc(cfg(feature = "rules")))]
pub mod rules;
pub mod shadow;
#[cfg(all(test, any(feature = "verify", feature = "ip")))]
mod testing;
#[cfg(feature = "verify")]
#[cfg_attr(docsrs, doc(cfg(feature = "verify")))]
pub mod verify;

pub use reject::{FromRejection, Reason, Rejection, Verdict};

/// An error with its sources, e.g. "error sending request: connection refused": what an
/// operator needs to see, where `Display` alone gives only the outermost words.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
