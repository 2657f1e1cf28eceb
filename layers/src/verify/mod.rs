//! Signature verification, exactly as each provider signs.
//!
//! - [`Scheme`]: one provider's signing rules, free of HTTP frameworks (one file each in
//!   [`schemes`]); [`schemes::by_name`] builds one from its configuration name.
//! - [`Keyring`]: a route's secrets parsed for a scheme, primary first (rotation).
//! - [`Verifier`]: the policy core — scheme, keys, tolerance, clock — that the tower
//!   service, the sidecar and the CLI all call.
//! - [`VerifySignatureLayer`]: buffers the body up to a limit (413 beyond), verifies, and
//!   hands the inner service the same bytes with a [`Verified`] extension; refusals answer
//!   401 with a small JSON body naming the reason.
//!
//! ```
//! use hookguard_layers::verify::{schemes, Keyring, VerifySignatureLayer, Verified};
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let scheme = schemes::by_name("github").unwrap();
//! let keys = Keyring::from_secrets(&*scheme, ["It's a Secret to Everybody"]).unwrap();
//! let app = ServiceBuilder::new()
//!     .layer(VerifySignatureLayer::new(scheme, keys).max_body(1 << 20))
//!     .service(service_fn(|req: Request<Full<Bytes>>| async move {
//!         let verified = req.extensions().get::<Verified>().unwrap();
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(format!("secret {}", verified.secret_index)))))
//!     }));
//! let req = Request::post("/hook")
//!     .header("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
//!     .body(Full::from("Hello, World!"))
//!     .unwrap();
//! assert_eq!(app.oneshot(req).await.unwrap().status(), 200);
//! # });
//! ```

mod error;
mod form;
#[doc(hidden)]
pub mod fuzzing;
mod json;
mod layer;
pub mod mac;
pub(crate) mod rfc3339;
mod scheme;
pub mod schemes;
mod secret;
#[cfg(test)]
pub(crate) mod testing;
mod verifier;

pub use error::{SecretError, SignError, VerifyError};
pub use json::{top_level_field, top_level_string};
#[cfg(feature = "rules")]
pub(crate) use layer::collect_body;
pub use layer::{VerifySignature, VerifySignatureLayer, DEFAULT_MAX_BODY};
pub use scheme::{
    match_mac, optional_header, parse_unix_seconds, single_header, verify_timestamped_hex_list,
    DeliveryIdSource, Scheme, SignOptions, SignOutput, Verified, VerifyContext, WebhookRequest,
};
pub use secret::{Key, KeyEntry, Keyring};
pub use verifier::{request_url, KeySource, Verifier};
