//! Tower layers that keep forged, replayed, oversized and abusive webhook requests away
//! from an application.
//!
//! Each layer has a policy core with no HTTP-framework types (plain structs that the
//! tower services and the hookguard sidecar both call) and a thin tower
//! `Layer`/`Service`. Rejections are one typed value ([`Rejection`]) turned into a response
//! in one place ([`FromRejection`]).
//!
//! ```
//! use hookguard_layers::verify::{schemes, Keyring, VerifySignatureLayer};
//!
//! let scheme = schemes::by_name("github").unwrap();
//! let keys = Keyring::from_secrets(&*scheme, ["It's a Secret to Everybody"]).unwrap();
//! let layer = VerifySignatureLayer::new(scheme, keys).max_body(1 << 20);
//! # let _ = layer;
//! ```
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
#[cfg(feature = "credentials")]
#[cfg_attr(docsrs, doc(cfg(feature = "credentials")))]
pub mod credentials;
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
#[cfg(test)]
mod testing;
#[cfg(feature = "verify")]
#[cfg_attr(docsrs, doc(cfg(feature = "verify")))]
pub mod verify;

pub use reject::{Admission, FromRejection, Reason, Rejection};
