//! `hookguard sandbox`: run the mock receiver, or read its history and replay from it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hookguard_layers::clock::{Clock, SystemClock};
use hookguard_layers::verify::schemes;
use serde_json::{json, Value};

use super::dlq::table;
use super::{EXIT_INVALID, EXIT_USAGE};
use crate::sandbox::{Replay, Settings};

const EXIT_CODES: &str = "Exit codes: 0 ok (replay: the target answered 2xx), 1 the check \
failed (replay: the target answered non-2xx; show: no such request), 2 usage, settings or \
connection error.";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = EXIT_CODES)]
pub(crate) struct SandboxArgs {
    #[command(subcommand)]
    command: Option<SandboxCommand>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Running the sandbox.
#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// A settings file (TOML, or JSON when named *.json): default, paths, verify, history.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Per-path behaviour, 'PATH=key=value,…' with keys status, body, error_rate,
    /// error_status, delay ("250ms" or "100ms..2s"), timeout; PATH may end in '*'.
    #[arg(long = "path", value_name = "PATH=SETTINGS")]
    paths: Vec<String>,
    /// Status for paths without their own settings.
    #[arg(long)]
    status: Option<u16>,
    /// Verify signatures with this scheme (github, stripe, standard-webhooks, …).
    #[arg(long, value_name = "NAME", requires = "secret")]
    scheme: Option<String>,
    /// A secret to verify with; repeat for rotation.
    #[arg(long, value_name = "S", requires = "scheme")]
    secret: Vec<String>,
    /// Answer 401 with the reason when a signature fails (default: answer as configured
    /// and only record the failure).
    #[arg(long)]
    enforce: bool,
    /// Requests kept in the history.
    #[arg(long)]
    history: Option<usize>,
    /// Seed for error injection and delay ranges (reproducible runs).
    #[arg(long)]
    seed: Option<u64>,
}

/// Where a running sandbox is.
#[derive(Debug, Args)]
struct SandboxUrl {
    /// The running sandbox.
    #[arg(
        long = "sandbox",
        env = "HOOKGUARD_SANDBOX_URL",
        default_value = "http://127.0.0.1:9000"
    )]
    sandbox: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// List what a running sandbox received, newest first.
    History {
        #[command(flatten)]
        at: SandboxUrl,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One received request in full: headers, body, answer, signature check.
    Show {
        /// The request's id (from `history`, or the x-sandbox-request-id answer header).
        id: u64,
        #[command(flatten)]
        at: SandboxUrl,
    },
    /// Send a recorded request again, as received or re-signed.
    #[command(after_help = EXIT_CODES)]
    Replay {
        /// The request's id in the running sandbox's history.
        #[arg(required_unless_present = "file")]
        id: Option<u64>,
        /// Replay a saved entry instead (`hookguard sandbox show ID --json > fixture.json`).
        #[arg(long, value_name = "FILE", conflicts_with = "id")]
        file: Option<PathBuf>,
        /// Where to send it: a base URL (the recorded path is appended) or a full URL.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Re-sign with this secret (a fresh timestamp unless --timestamp).
        #[arg(long, value_name = "S")]
        secret: Option<String>,
        /// The scheme to re-sign with (default: the one the sandbox verified it with).
        #[arg(long, value_name = "NAME", requires = "secret")]
        scheme: Option<String>,
        /// The timestamp to sign, Unix seconds (default: now).
        #[arg(long, value_name = "UNIX", requires = "secret")]
        timestamp: Option<i64>,
        /// The delivery id to sign (default: the recorded one).
        #[arg(long = "delivery-id", value_name = "ID", requires = "secret")]
        delivery_id: Option<String>,
        #[command(flatten)]
        at: SandboxUrl,
    },
}

pub(crate) fn run(args: SandboxArgs) -> Result<u8, String> {
    match args.command {
        None => serve(args.serve),
        Some(SandboxCommand::History { at, limit }) => {
            let body = match get(&at.sandbox, &format!("/_sandbox/history?limit={limit}"))? {
                Ok(body) => body,
                Err(e) => return refused(&e),
            };
            if at.json {
                println!("{body:#}");
            } else {
                let items = body["items"].as_array().cloned().unwrap_or_default();
                let columns = [
                    "id",
                    "received_at",
                    "method",
                    "target",
                    "status",
                    "body_bytes",
                    "signature",
                ];
                println!("{}", table(&items, &columns));
            }
            Ok(0)
        }
        Some(SandboxCommand::Show { id, at }) => {
            let entry = match get(&at.sandbox, &format!("/_sandbox/history/{id}"))? {
                Ok(entry) => entry,
                Err(e) => return refused(&e),
            };
            if at.json {
                println!("{entry:#}");
            } else {
                print_entry(&entry);
            }
            Ok(0)
        }
        Some(SandboxCommand::Replay {
            id,
            file,
            to,
            secret,
            scheme,
            timestamp,
            delivery_id,
            at,
        }) => {
            let entry = match (file, id) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("--file {}: {e}", path.display()))?;
                    serde_json::from_str(&text)
                        .map_err(|e| format!("--file {}: not JSON: {e}", path.display()))?
                }
                (None, Some(id)) => match get(&at.sandbox, &format!("/_sandbox/history/{id}"))? {
                    Ok(entry) => entry,
                    Err(e) => return refused(&e),
                },
                (None, None) => return Err("give an ID or --file".into()),
            };
            let mut replay = Replay::from_entry(&entry)?;
            let url = replay.url(&to)?;
            if let Some(secret) = secret {
                let name = scheme.or_else(|| replay.scheme.clone()).ok_or(
                    "--scheme is needed to re-sign: the entry was not verified by the sandbox",
                )?;
                let scheme = schemes::by_name(&name).ok_or_else(|| {
                    format!(
                        "--scheme: unknown scheme {name:?}; expected one of: {}",
                        schemes::NAMES.join(", ")
                    )
                })?;
                let timestamp = timestamp.unwrap_or_else(|| SystemClock.now_unix());
                replay.resign(&*scheme, &secret, &url, timestamp, delivery_id)?;
            }
            let (status, answer) = block_on(replay.send(&url))??;
            if at.json {
                println!("{}", json!({"url": url, "status": status, "body": answer}));
            } else {
                println!("{} {url} -> {status}", replay.method);
                if !answer.is_empty() {
                    println!("{}", answer.trim_end());
                }
            }
            Ok(if (200..300).contains(&status) {
                0
            } else {
                EXIT_INVALID
            })
        }
    }
}

fn serve(args: ServeArgs) -> Result<u8, String> {
    let mut settings = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    for flag in &args.paths {
        settings.apply_path_flag(flag)?;
    }
    if let Some(status) = args.status {
        settings.default.status = status;
    }
    if let Some(name) = args.scheme {
        settings.verify = Some(
            serde_json::from_value(json!({
                "scheme": name,
                "secrets": args.secret,
                "enforce": args.enforce,
            }))
            .map_err(|e| format!("--scheme/--secret: {e}"))?,
        );
    } else if args.enforce {
        return Err(
            "--enforce needs --scheme and --secret (or verify in the settings file)".into(),
        );
    }
    if let Some(n) = args.history {
        settings.history = n;
    }
    if args.seed.is_some() {
        settings.seed = args.seed;
    }
    let compiled = match settings.compile() {
        Ok(compiled) => compiled,
        Err(problems) => {
            eprintln!("hookguard: invalid sandbox settings:");
            for p in problems {
                eprintln!("  {p}");
            }
            return Ok(EXIT_USAGE);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(crate::sandbox::run(args.listen, compiled))?;
    Ok(0)
}

fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(runtime.block_on(future))
}

/// GETs a sandbox endpoint: `Ok(Ok(json))`, `Ok(Err(message))` when the sandbox refused,
/// `Err` when it could not be reached.
fn get(base: &str, path: &str) -> Result<Result<Value, String>, String> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    block_on(async {
        let response = reqwest::Client::new()
            .get(&url)
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| format!("{url}: {e} (is `hookguard sandbox` running there?)"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("{url}: the answer is not JSON: {e}"))?;
        if status.is_success() {
            Ok(Ok(body))
        } else {
            Ok(Err(body["error"].as_str().unwrap_or("refused").to_owned()))
        }
    })?
}

fn refused(message: &str) -> Result<u8, String> {
    eprintln!("hookguard: {message}");
    Ok(EXIT_INVALID)
}

fn print_entry(entry: &Value) {
    let text = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for key in ["id", "received_at", "method", "target", "body_bytes"] {
        println!("{key:>12}: {}", text(&entry[key]));
    }
    let answer = &entry["answer"];
    println!(
        "{:>12}: {} (delay {} ms{})",
        "answered",
        if answer["timed_out"] == true {
            "nothing (timeout)".to_owned()
        } else {
            text(&answer["status"])
        },
        text(&answer["delay_ms"]),
        if answer["injected_error"] == true {
            ", injected error"
        } else {
            ""
        },
    );
    if let Some(check) = entry.get("signature") {
        let verdict = if check["valid"] == true {
            format!(
                "valid ({}, {})",
                text(&check["scheme"]),
                text(&check["secret_id"])
            )
        } else {
            format!(
                "invalid ({}): {}",
                text(&check["scheme"]),
                text(&check["reason"])
            )
        };
        println!("{:>12}: {verdict}", "signature");
        let likely = check["likely_mistakes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for h in &likely {
            println!("{:>12}  likely: {}", "", text(&h["detail"]));
        }
        if check["valid"] != true && likely.is_empty() {
            println!(
                "{:>12}  likely: none of the common mistakes fits (another secret?); \
                 `hookguard explain` lists what was tried",
                ""
            );
        }
    }
    println!("{:>12}:", "headers");
    for pair in entry["headers"].as_array().into_iter().flatten() {
        println!("              {}: {}", text(&pair[0]), text(&pair[1]));
    }
    if let Some(b64) = entry["body_base64"].as_str() {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default();
        match std::str::from_utf8(&body) {
            Ok(body) => println!("{:>12}:\n{body}", "body"),
            Err(_) => println!(
                "{:>12}: {} bytes, not UTF-8 (see --json)",
                "body",
                body.len()
            ),
        }
    }
}
