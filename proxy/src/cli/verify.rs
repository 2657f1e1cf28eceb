//! `hookguard verify`.

use clap::Args;
use hookguard_layers::clock::{Clock, SystemClock};
use hookguard_layers::verify::{Keyring, VerifyContext, WebhookRequest};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::request::{BodyArgs, SchemeArgs};
use super::{EXIT_INVALID, EXIT_USAGE};

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    scheme: SchemeArgs,
    /// A secret to try; repeat for rotation (the first is index 0).
    #[arg(long, value_name = "S", required = true)]
    secret: Vec<String>,
    /// A request header, 'Name: value'; repeat for several.
    #[arg(long, value_name = "'Name: value'")]
    header: Vec<String>,
    #[command(flatten)]
    body: BodyArgs,
    /// The URL the provider called (schemes that sign it: twilio, square).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Replace the clock: the current time as Unix seconds.
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<i64>,
    /// Timestamp tolerance in seconds (default: the provider's).
    #[arg(long, value_name = "SECONDS")]
    tolerance: Option<u64>,
    /// HTTP method of the request.
    #[arg(long, default_value = "POST")]
    method: String,
}

pub(crate) fn parse_header(line: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| format!("--header {line:?}: expected 'Name: value'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        format!(
            "--header {line:?}: {:?} is not a valid header name",
            name.trim()
        )
    })?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        format!("--header for {name}: the value has characters not allowed in a header")
    })?;
    Ok((name, value))
}

pub(crate) fn run(args: VerifyArgs) -> Result<u8, String> {
    let scheme = args.scheme.build()?;
    let mut headers = HeaderMap::new();
    for line in &args.header {
        let (name, value) = parse_header(line)?;
        headers.append(name, value);
    }
    let body = args.body.read()?;
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| format!("--method {:?} is not a method", args.method))?;
    let keys = match Keyring::from_secrets(&*scheme, &args.secret) {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("hookguard: --secret: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let now = args.now.unwrap_or_else(|| SystemClock.now_unix());
    let mut ctx = VerifyContext::new(&*scheme, now);
    if let Some(t) = args.tolerance {
        ctx = ctx.with_tolerance(Some(t));
    }
    let request = WebhookRequest {
        method: &method,
        url: args.url.as_deref(),
        headers: &headers,
        body: &body,
    };
    match scheme.verify(&request, &keys, &ctx) {
        Ok(v) => {
            let mut line = format!("valid secret_index={}", v.secret_index);
            if let Some(id) = v.delivery_id {
                line.push_str(&format!(" delivery_id={id}"));
            }
            if let Some(ts) = v.timestamp {
                line.push_str(&format!(" timestamp={ts}"));
            }
            println!("{line}");
            Ok(0)
        }
        Err(e) => {
            println!("invalid: {e}");
            Ok(EXIT_INVALID)
        }
    }
}
