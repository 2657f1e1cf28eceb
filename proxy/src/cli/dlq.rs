//! `hookguard dlq …` and `hookguard queue stats`: clients of a running sidecar's admin API
//! (never of the store directly), with tables for people and `--json` for scripts.
//!
//! Exit codes: 0 done, 1 the sidecar refused (unknown id, bad filter, no token), 2 usage
//! or connection error.

use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::Value;

use super::{EXIT_INVALID, EXIT_USAGE};

/// Where the admin API is and how to authenticate.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// The sidecar's admin listener.
    #[arg(
        long = "admin",
        env = "HOOKGUARD_ADMIN_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    admin: String,
    /// The admin token's environment variable (the token itself never goes on the command line).
    #[arg(long = "token-env", default_value = "HOOKGUARD_ADMIN_TOKEN")]
    token_env: String,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub(super) json: bool,
}

/// Filters of the dead-letter queue.
#[derive(Debug, Args, Default)]
pub(crate) struct Filter {
    /// Only this route.
    #[arg(long)]
    route: Option<String>,
    /// Only this reason: rejected, retries_exhausted, undecodable, no_destination.
    #[arg(long)]
    reason: Option<String>,
    /// Only dead since (RFC 3339 or Unix seconds).
    #[arg(long)]
    since: Option<String>,
    /// Only dead before (RFC 3339 or Unix seconds).
    #[arg(long)]
    until: Option<String>,
}

impl Filter {
    fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("route", &self.route),
            ("reason", &self.reason),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// List dead letters.
    List {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        filter: Filter,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// The next page: the id printed under the previous page.
        #[arg(long)]
        after: Option<String>,
    },
    /// Show one dead letter: headers (credentials masked), body size, every attempt.
    Show {
        #[command(flatten)]
        admin: AdminArgs,
        /// The message id.
        id: String,
    },
    /// Put a dead letter (or, with --all, every one matching the filters) back in the queue.
    Retry {
        #[command(flatten)]
        admin: AdminArgs,
        /// The message id (or --all).
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Every dead letter matching the filters.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        #[command(flatten)]
        filter: Filter,
    },
    /// Delete one dead letter.
    Delete {
        #[command(flatten)]
        admin: AdminArgs,
        /// The message id.
        id: String,
    },
    /// Delete every dead letter matching the filters.
    Purge {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        filter: Filter,
        /// Required: purging cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Messages per route and state, the oldest waiting, each route's breaker.
    Stats {
        #[command(flatten)]
        admin: AdminArgs,
    },
}

impl AdminArgs {
    /// The admin listener at `admin`, the token in the variable `token_env`.
    pub(super) fn new(admin: &str, token_env: &str) -> Self {
        Self {
            admin: admin.to_owned(),
            token_env: token_env.to_owned(),
            json: false,
        }
    }
}

/// One call to the admin API.
pub(super) struct Call<'a> {
    pub(super) admin: &'a AdminArgs,
    pub(super) method: reqwest::Method,
    pub(super) path: String,
    pub(super) query: Vec<(&'static str, String)>,
    /// A JSON body, for calls that send one.
    pub(super) body: Option<Value>,
}

impl Call<'_> {
    /// The answer's JSON (`Ok`), or the refusal (`Err` inside); the outer `Err` is a
    /// usage or connection error.
    pub(super) fn send(self) -> Result<Result<Value, String>, String> {
        let token = std::env::var(&self.admin.token_env).map_err(|_| {
            format!(
                "{} is not set: export the admin token (admin.tokens in the sidecar's config)",
                self.admin.token_env
            )
        })?;
        let url = format!(
            "{}/api/v1{}",
            self.admin.admin.trim_end_matches('/'),
            self.path
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let mut request = reqwest::Client::new()
                .request(self.method, &url)
                .query(&self.query)
                .bearer_auth(token);
            if let Some(body) = &self.body {
                request = request.json(body);
            }
            let response = request
                .timeout(std::time::Duration::from_secs(30))
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = response.status();
            let body: Value = response
                .json()
                .await
                .map_err(|e| format!("{url}: answer is not JSON: {e}"))?;
            if status.is_success() {
                Ok(Ok(body))
            } else {
                let message = body["message"].as_str().unwrap_or("refused").to_owned();
                Ok(Err(format!("{status}: {message}")))
            }
        })
    }
}

fn call(
    admin: &AdminArgs,
    method: reqwest::Method,
    path: String,
    query: Vec<(&'static str, String)>,
) -> Result<u8, String> {
    let json = admin.json;
    match (Call {
        admin,
        method,
        path,
        query,
        body: None,
    })
    .send()?
    {
        Ok(body) => {
            if json {
                println!("{body:#}");
            } else {
                print_table(&body);
            }
            Ok(0)
        }
        Err(refusal) => {
            eprintln!("hookguard: {refusal}");
            Ok(EXIT_INVALID)
        }
    }
}

pub(crate) fn dlq(command: DlqCommand) -> Result<u8, String> {
    use reqwest::Method;
    match command {
        DlqCommand::List {
            admin,
            filter,
            limit,
            after,
        } => {
            let mut query = filter.query();
            query.push(("limit", limit.to_string()));
            query.extend(after.map(|a| ("after", a)));
            call(&admin, Method::GET, "/dlq".into(), query)
        }
        DlqCommand::Show { admin, id } => call(&admin, Method::GET, format!("/dlq/{id}"), vec![]),
        DlqCommand::Retry {
            admin,
            id: Some(id),
            ..
        } => call(&admin, Method::POST, format!("/dlq/{id}/retry"), vec![]),
        DlqCommand::Retry { admin, filter, .. } => {
            call(&admin, Method::POST, "/dlq/retry".into(), filter.query())
        }
        DlqCommand::Delete { admin, id } => {
            call(&admin, Method::DELETE, format!("/dlq/{id}"), vec![])
        }
        DlqCommand::Purge { admin, filter, yes } => {
            if !yes {
                eprintln!(
                    "hookguard: purge deletes every matching dead letter for good; add --yes"
                );
                return Ok(EXIT_USAGE);
            }
            call(&admin, Method::POST, "/dlq/purge".into(), filter.query())
        }
    }
}

pub(crate) fn queue(command: QueueCommand) -> Result<u8, String> {
    match command {
        QueueCommand::Stats { admin } => {
            call(&admin, reqwest::Method::GET, "/queue/stats".into(), vec![])
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn table(rows: &[Value], columns: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(columns.to_vec());
    for row in rows {
        table.add_row(columns.iter().map(|c| cell(&row[*c])).collect::<Vec<_>>());
    }
    table
}

fn print_table(body: &Value) {
    if let Some(routes) = body["routes"].as_array() {
        let columns = [
            "route",
            "ready",
            "scheduled",
            "in_flight",
            "delivered",
            "dead",
            "pending_bytes",
            "oldest_pending_age_seconds",
            "breaker",
        ];
        println!("{}", table(routes, &columns));
    } else if let Some(items) = body["items"].as_array() {
        let columns = [
            "id",
            "route",
            "reason",
            "attempts",
            "last_status",
            "updated_at",
            "detail",
        ];
        println!("{}", table(items, &columns));
        if let Some(next) = body["next"].as_str() {
            println!("more: --after {next}");
        }
    } else if body.get("attempt_history").is_some() {
        for key in [
            "id",
            "route",
            "state",
            "reason",
            "detail",
            "method",
            "target",
            "body_bytes",
            "received_at",
            "updated_at",
            "delivery_id",
        ] {
            println!("{key:>12}: {}", cell(&body[key]));
        }
        if let Some(headers) = body["headers"].as_array() {
            println!("     headers:");
            for h in headers {
                println!("              {}: {}", cell(&h[0]), cell(&h[1]));
            }
        }
        if let Some(attempts) = body["attempt_history"].as_array() {
            let rows: Vec<Value> = attempts
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "at": a["at"],
                        "duration_ms": a["duration_ms"],
                        "outcome": a["outcome"].to_string(),
                    })
                })
                .collect();
            println!("{}", table(&rows, &["at", "duration_ms", "outcome"]));
        }
    } else {
        // Retry, delete, purge: {"retried": n} / {"deleted": n}.
        println!("{body}");
    }
}
