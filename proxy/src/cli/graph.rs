//! `hookguard graph`: the configuration as a diagram — routes → checks (IP, rate, scheme,
//! replay, rules) → the app or the queue, and the outbound side: app → events listener →
//! queue → subscriptions. Mermaid (renders on GitHub) or Graphviz dot.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use hookguard_config::{Config, DeliveryMode, MatchKind, Mode};

use super::EXIT_USAGE;

#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 printed, 2 usage or configuration error.")]
pub(crate) struct GraphArgs {
    /// The sidecar's configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,
    /// The diagram's language.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz dot (`| dot -Tsvg > flows.svg`).
    Dot,
}

/// The diagram, independent of its language.
#[derive(Default)]
struct Graph {
    /// (id, label, is a terminal: the app, the queue, an endpoint)
    nodes: Vec<(String, String, bool)>,
    /// (from, to, label)
    edges: Vec<(String, String, String)>,
}

impl Graph {
    fn node(&mut self, id: impl Into<String>, label: impl Into<String>, terminal: bool) -> String {
        let id = id.into();
        if !self.nodes.iter().any(|(n, _, _)| *n == id) {
            self.nodes.push((id.clone(), label.into(), terminal));
        }
        id
    }

    fn edge(&mut self, from: &str, to: &str, label: impl Into<String>) {
        self.edges
            .push((from.to_owned(), to.to_owned(), label.into()));
    }
}

fn build(config: &Config) -> Graph {
    let mut g = Graph::default();
    let app = g.node("app", format!("app\n{}", config.upstream.address), true);
    for (i, route) in config.routes.iter().enumerate() {
        let matched = match route.matches.kind() {
            Some(MatchKind::Exact(p)) => p.to_owned(),
            Some(MatchKind::Prefix(p)) => format!("{p}*"),
            Some(MatchKind::Keys { prefix, keys }) => {
                format!("{prefix}{{key}} ({} keys)", keys.len())
            }
            None => "?".into(),
        };
        let shadow = route.mode(&config.defaults) == Mode::Shadow;
        let mut at = g.node(
            format!("r{i}"),
            format!(
                "route {}\n{matched}{}",
                route.id,
                if shadow { "\nshadow mode" } else { "" }
            ),
            false,
        );
        let mut checks: Vec<(String, String)> = Vec::new();
        if let Some(ip) = &route.ip {
            let mut parts = Vec::new();
            if !ip.allow.is_empty() {
                parts.push(format!("allow {}", ip.allow.len()));
            }
            if !ip.deny.is_empty() {
                parts.push(format!("deny {}", ip.deny.len()));
            }
            if let Some(ranges) = &ip.provider_ranges {
                parts.push(format!("{:?} ranges", ranges.provider).to_lowercase());
            }
            checks.push(("ip".into(), format!("IP filter\n{}", parts.join(", "))));
        }
        let mut rates = Vec::new();
        if let Some(r) = route.rate_limit.as_ref().and_then(|r| r.per_route.as_ref()) {
            rates.push(format!("route {}/{}", r.requests, r.per));
        }
        if let Some(r) = route
            .rate_limit
            .as_ref()
            .and_then(|r| r.per_client.as_ref())
        {
            rates.push(format!("client {}/{}", r.requests, r.per));
        }
        if let Some(r) = &config.global_rate_limit {
            rates.push(format!("global {}/{}", r.requests, r.per));
        }
        if !rates.is_empty() {
            checks.push(("rate".into(), format!("rate limit\n{}", rates.join(", "))));
        }
        let ids: Vec<&str> = route.secrets.iter().map(|s| s.id.as_str()).collect();
        checks.push((
            "sig".into(),
            format!("{} signature\nsecrets: {}", route.scheme, ids.join(", ")),
        ));
        if route.replay.enabled {
            checks.push(("replay".into(), "replay guard".into()));
        }
        if let Some(rules) = &route.rules {
            let mut parts = Vec::new();
            if !rules.events.is_empty() {
                parts.push(format!("events {}", rules.events.join(" ")));
            }
            if rules.payload_schema.is_some() {
                parts.push("JSON Schema".into());
            }
            if rules.transform.is_some() {
                parts.push("mapping".into());
            }
            checks.push((
                "rules".into(),
                format!("payload rules\n{}", parts.join(", ")),
            ));
        }
        for (suffix, label) in checks {
            let next = g.node(format!("r{i}_{suffix}"), label, false);
            g.edge(&at, &next, "");
            at = next;
        }
        match route.delivery {
            DeliveryMode::Queue => {
                let queue = g.node("queue", "durable queue\n(retries, DLQ)", true);
                g.edge(&at, &queue, "202");
            }
            _ => {
                let target = route.upstream_path(&matched);
                g.edge(&at, &app, format!("forward {target}"));
            }
        }
    }
    if config
        .routes
        .iter()
        .any(|r| r.delivery == DeliveryMode::Queue)
    {
        g.edge("queue", &app, "deliver");
    }
    if let Some(outbound) = &config.outbound {
        let listener = g.node(
            "outbound",
            format!("events listener\n{}", outbound.listen),
            false,
        );
        g.edge(&app, &listener, "POST /v1/events");
        let queue = g.node("queue", "durable queue\n(retries, DLQ)", true);
        g.edge(&listener, &queue, "202");
        for (j, sub) in config.subscriptions.iter().enumerate() {
            let label = format!(
                "subscription {}\n{}{}",
                sub.id,
                sub.url,
                if sub.enabled { "" } else { "\n(disabled)" }
            );
            let node = g.node(format!("s{j}"), label, true);
            g.edge(&queue, &node, format!("{} signed", sub.events.join(" ")));
        }
    }
    g
}

fn mermaid(g: &Graph) -> String {
    let text = |s: &str| s.replace('"', "#quot;").replace('\n', "<br/>");
    let mut out = String::from("flowchart LR\n");
    for (id, label, terminal) in &g.nodes {
        let (open, close) = if *terminal {
            ("[(\"", "\")]")
        } else {
            ("[\"", "\"]")
        };
        out.push_str(&format!("    {id}{open}{}{close}\n", text(label)));
    }
    for (from, to, label) in &g.edges {
        if label.is_empty() {
            out.push_str(&format!("    {from} --> {to}\n"));
        } else {
            out.push_str(&format!("    {from} -->|\"{}\"| {to}\n", text(label)));
        }
    }
    out
}

fn dot(g: &Graph) -> String {
    let text = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let mut out = String::from("digraph hookguard {\n    rankdir=LR;\n    node [shape=box];\n");
    for (id, label, terminal) in &g.nodes {
        let shape = if *terminal { " shape=cylinder" } else { "" };
        out.push_str(&format!("    {id} [label=\"{}\"{shape}];\n", text(label)));
    }
    for (from, to, label) in &g.edges {
        out.push_str(&format!(
            "    {from} -> {to} [label=\"{}\"];\n",
            text(label)
        ));
    }
    out.push_str("}\n");
    out
}

pub(crate) fn run(args: GraphArgs) -> Result<u8, String> {
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return Ok(EXIT_USAGE);
        }
    };
    let graph = build(&config);
    print!(
        "{}",
        match args.format {
            Format::Mermaid => mermaid(&graph),
            Format::Dot => dot(&graph),
        }
    );
    Ok(0)
}
