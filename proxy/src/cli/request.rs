//! Arguments shared by `verify` and `sign`: the scheme, the body, the URL.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use hookguard_layers::verify::schemes::{
    self,
    hmac::{HmacOptions, HmacScheme, TimestampFormat},
};
use hookguard_layers::verify::Scheme;

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct BodyArgs {
    /// Read the raw body from this file (exact bytes).
    #[arg(long, value_name = "PATH")]
    body_file: Option<PathBuf>,
    /// The raw body as text.
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,
}

impl BodyArgs {
    pub(crate) fn read(&self) -> Result<Vec<u8>, String> {
        match (&self.body_file, &self.body) {
            (Some(path), _) => {
                std::fs::read(path).map_err(|e| format!("--body-file {}: {e}", path.display()))
            }
            (None, Some(text)) => Ok(text.clone().into_bytes()),
            (None, None) => Err("one of --body-file or --body is required".into()),
        }
    }
}

/// The scheme and, for the generic `hmac` scheme, its options.
#[derive(Debug, Args)]
pub(crate) struct SchemeArgs {
    /// Scheme name, e.g. github, stripe, standard-webhooks, hmac.
    #[arg(long, value_name = "NAME")]
    scheme: String,
    /// hmac: header carrying the signature.
    #[arg(long, value_name = "NAME", help_heading = "Generic hmac scheme")]
    hmac_header: Option<String>,
    /// hmac: sha1, sha256 or sha512.
    #[arg(long, value_name = "ALG", help_heading = "Generic hmac scheme")]
    hmac_algorithm: Option<String>,
    /// hmac: hex or base64.
    #[arg(long, value_name = "ENC", help_heading = "Generic hmac scheme")]
    hmac_encoding: Option<String>,
    /// hmac: prefix before the encoded MAC, e.g. "sha256=" ("" for none).
    #[arg(long, value_name = "TEXT", help_heading = "Generic hmac scheme")]
    hmac_prefix: Option<String>,
    /// hmac: header carrying a Unix-seconds timestamp ("" for none).
    #[arg(long, value_name = "NAME", help_heading = "Generic hmac scheme")]
    hmac_timestamp_header: Option<String>,
    /// hmac: signed payload template, e.g. "{timestamp}.{body}".
    #[arg(long, value_name = "TEMPLATE", help_heading = "Generic hmac scheme")]
    hmac_payload: Option<String>,
}

impl SchemeArgs {
    pub(crate) fn build(&self) -> Result<Arc<dyn Scheme>, String> {
        let has_hmac_options = self.hmac_header.is_some()
            || self.hmac_algorithm.is_some()
            || self.hmac_encoding.is_some()
            || self.hmac_prefix.is_some()
            || self.hmac_timestamp_header.is_some()
            || self.hmac_payload.is_some();
        if self.scheme == "hmac" && has_hmac_options {
            let defaults = HmacOptions::default();
            let options = HmacOptions {
                header: self.hmac_header.clone().unwrap_or(defaults.header),
                algorithm: self.hmac_algorithm.clone().unwrap_or(defaults.algorithm),
                encoding: self.hmac_encoding.clone().unwrap_or(defaults.encoding),
                prefix: self.hmac_prefix.clone().unwrap_or(defaults.prefix),
                timestamp_header: match &self.hmac_timestamp_header {
                    Some(h) if h.is_empty() => None,
                    Some(h) => Some(h.clone()),
                    None => defaults.timestamp_header,
                },
                timestamp_format: TimestampFormat::UnixSeconds,
                id_header: None,
                payload: self.hmac_payload.clone(),
                tolerance: None,
            };
            return HmacScheme::generic(&options)
                .map(|s| Arc::new(s) as Arc<dyn Scheme>)
                .map_err(|e| e.to_string());
        }
        if has_hmac_options {
            return Err(format!(
                "--hmac-* options apply to --scheme hmac only, not {:?}",
                self.scheme
            ));
        }
        schemes::by_name(&self.scheme).ok_or_else(|| {
            format!(
                "unknown scheme {:?}; expected one of: {}",
                self.scheme,
                schemes::NAMES.join(", ")
            )
        })
    }
}
