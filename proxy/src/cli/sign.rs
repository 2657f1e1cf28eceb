//! `hookguard sign`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use hookguard_layers::clock::{Clock, SystemClock};
use hookguard_layers::verify::{SignOptions, WebhookRequest};
use http::{HeaderMap, Method};

use super::request::{BodyArgs, SchemeArgs};
use super::EXIT_USAGE;

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    #[command(flatten)]
    scheme: SchemeArgs,
    /// The secret (or private key) to sign with.
    #[arg(long, value_name = "S")]
    secret: String,
    #[command(flatten)]
    body: BodyArgs,
    /// The URL the provider will call (schemes that sign it: twilio, square).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Timestamp to sign, Unix seconds (default: now).
    #[arg(long, value_name = "UNIX")]
    timestamp: Option<i64>,
    /// Delivery id to send (schemes that carry one).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// For schemes that sign inside the body (mailgun): write the signed body here instead
    /// of printing it after a blank line.
    #[arg(long, value_name = "PATH")]
    body_out: Option<PathBuf>,
}

/// `x-hub-signature-256` → `X-Hub-Signature-256`: how the providers write them.
fn display_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

pub(crate) fn run(args: SignArgs) -> Result<u8, String> {
    let scheme = args.scheme.build()?;
    let body = args.body.read()?;
    let key = match scheme.parse_signing_key(&args.secret) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("hookguard: --secret: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let options = SignOptions {
        timestamp: args.timestamp.unwrap_or_else(|| SystemClock.now_unix()),
        id: args.id,
    };
    let empty = HeaderMap::new();
    let request = WebhookRequest {
        method: &Method::POST,
        url: args.url.as_deref(),
        headers: &empty,
        body: &body,
    };
    let signed = scheme
        .sign(&request, &key, &options)
        .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let mut write = || -> std::io::Result<()> {
        for (name, value) in &signed.headers {
            writeln!(out, "{}: {value}", display_name(name.as_str()))?;
        }
        if let Some(new_body) = &signed.body {
            match &args.body_out {
                Some(path) => std::fs::write(path, new_body)?,
                None => {
                    writeln!(out)?;
                    out.write_all(new_body)?;
                    writeln!(out)?;
                }
            }
        }
        Ok(())
    };
    write().map_err(|e| format!("writing output: {e}"))?;
    Ok(0)
}
