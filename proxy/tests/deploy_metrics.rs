//! Every metric the deploy files query (the Prometheus alert rules, the PrometheusRule and
//! the Grafana dashboard under `deploy/`) is one the real sidecar exports on `/metrics`.
//!
//! The sidecar runs with a small configuration (a file secret with a maximum age, so the
//! credential metrics have children), gets one valid and one forged request (so the request
//! counters and histograms have children), and is scraped. A name is accepted only as a
//! series Prometheus would store: a counter or gauge under its family name, a histogram as
//! `_bucket`, `_sum` or `_count` (never its bare family name).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hookguard_tests::{send, sidecar, upstream, Signer};

const SECRET: &str = "deploy-metrics-secret-4c1d9e";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Metric names in a text of PromQL (or a file holding PromQL): every `hookguard_…`
/// identifier, and every other identifier used as a selector (followed by `{` or `[`), so a
/// query on a metric the sidecar does not export (`up{…}`, `http_requests_total[5m]`) is
/// caught too. Grafana variables (`$route`, `${route}`) are not names.
fn metric_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let is_start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b':';
    let is_part = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        // Not inside another word, and not a Grafana variable (`$route`, `${route}`).
        let before = |back: usize| i.checked_sub(back).map(|at| bytes[at]);
        let variable =
            before(1) == Some(b'$') || before(1) == Some(b'{') && before(2) == Some(b'$');
        let boundary = !before(1).is_some_and(is_part) && !variable;
        if is_start(bytes[i]) && boundary {
            let start = i;
            while i < bytes.len() && is_part(bytes[i]) {
                i += 1;
            }
            let word = &text[start..i];
            let next = bytes.get(i).copied();
            let selector = matches!(next, Some(b'{' | b'[')) && !word.contains(':');
            if word.starts_with("hookguard_") || selector {
                names.insert(word.to_owned());
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The PromQL expressions in the dashboard (`expr` of targets, `query`/`definition` of
/// variables), found anywhere in the JSON tree.
fn dashboard_queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    ("query", serde_json::Value::String(s)) => out.push(s.clone()),
                    ("query", serde_json::Value::Object(q)) => {
                        if let Some(serde_json::Value::String(s)) = q.get("query") {
                            out.push(s.clone());
                        }
                    }
                    _ => dashboard_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// The `expr:` values of a rules file (single-line or folded `>-`/`|` blocks).
fn rule_exprs(yaml: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let lines: Vec<&str> = yaml.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("expr:") {
            let rest = rest.trim();
            if rest.is_empty() || rest.starts_with('|') || rest.starts_with('>') {
                let indent = line.len() - trimmed.len();
                let mut block = String::new();
                i += 1;
                while i < lines.len() {
                    let l = lines[i];
                    let t = l.trim_start();
                    if !t.is_empty() && l.len() - t.len() <= indent {
                        break;
                    }
                    block.push_str(t);
                    block.push('\n');
                    i += 1;
                }
                exprs.push(block);
                continue;
            }
            exprs.push(rest.to_owned());
        }
        i += 1;
    }
    exprs
}

/// The series names a scrape holds: family → type from `# TYPE`, and the names of the
/// sample lines.
fn scrape(text: &str) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut types = BTreeMap::new();
    let mut samples = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                types.insert(name.to_owned(), kind.to_owned());
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            samples.insert(line[..end].to_owned());
        }
    }
    (types, samples)
}

/// Whether `name` is a series Prometheus stores from this scrape: declared with the right
/// suffix for its type, and present as samples.
fn exported(
    name: &str,
    types: &BTreeMap<String, String>,
    samples: &BTreeSet<String>,
) -> Result<(), String> {
    let family_type = |family: &str| types.get(family).map(String::as_str);
    let declared = match family_type(name) {
        Some("counter" | "gauge" | "untyped") => true,
        Some(kind) => {
            return Err(format!(
                "{name} is a {kind}: query its _bucket/_sum/_count series"
            ))
        }
        None => ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|family| family_type(family) == Some("histogram"))
        }),
    };
    if !declared {
        return Err(format!("{name} is not declared in /metrics"));
    }
    if !samples.contains(name) {
        return Err(format!("{name} is declared but has no samples in /metrics"));
    }
    Ok(())
}

#[test]
fn name_extraction_handles_selectors_suffixes_and_variables() {
    let names = metric_names(
        r#"histogram_quantile(0.95, sum by (le, route) (rate(hookguard_request_duration_seconds_bucket{route=~"$route"}[5m])))
           / on() group_left up{job="x"} + ${route} + sum(rate(other_total[1m]))"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "hookguard_request_duration_seconds_bucket",
            "other_total",
            "up"
        ]
    );
    let (types, samples) = scrape(
        "# TYPE a_seconds histogram\na_seconds_bucket{le=\"1\"} 1\na_seconds_sum 1\na_seconds_count 1\n# TYPE b_total counter\n# TYPE c gauge\nc 1\n",
    );
    assert!(exported("a_seconds_bucket", &types, &samples).is_ok());
    assert!(exported("a_seconds_count", &types, &samples).is_ok());
    assert!(
        exported("a_seconds", &types, &samples).is_err(),
        "a bare histogram name is no series"
    );
    assert!(
        exported("b_total", &types, &samples).is_err(),
        "declared without samples"
    );
    assert!(
        exported("b_total_count", &types, &samples).is_err(),
        "a counter has no _count"
    );
    assert!(exported("c", &types, &samples).is_ok());
    assert!(exported("d", &types, &samples).is_err());
    let exprs = rule_exprs("  - alert: A\n    expr: x > 1\n    for: 1m\n  - alert: B\n    expr: |\n      sum(y)\n        > 2\n    labels: {}\n");
    assert_eq!(exprs, ["x > 1", "sum(y)\n> 2\n"]);
}

#[tokio::test]
async fn every_metric_in_the_deploy_files_is_exported_by_the_sidecar() {
    // What the deploy files query.
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in [
        "prometheus/hookguard-rules.yaml",
        "prometheus/prometheusrule.yaml",
    ] {
        let text = read(file);
        let exprs = rule_exprs(&text);
        assert!(
            exprs.len() >= 6,
            "{file}: expected at least 6 rule expressions, found {}",
            exprs.len()
        );
        for expr in exprs {
            for name in metric_names(&expr) {
                wanted.entry(name).or_default().insert(file.to_owned());
            }
        }
        // Names mentioned outside expressions (annotations, runbooks) must exist too.
        for name in metric_names(&text)
            .into_iter()
            .filter(|n| n.starts_with("hookguard_"))
        {
            wanted.entry(name).or_default().insert(file.to_owned());
        }
    }
    let dashboard_file = "grafana/hookguard-dashboard.json";
    let dashboard: serde_json::Value =
        serde_json::from_str(&read(dashboard_file)).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(
        queries.len() >= 8,
        "expected the dashboard's queries, found {}",
        queries.len()
    );
    for query in &queries {
        for name in metric_names(query) {
            wanted
                .entry(name)
                .or_default()
                .insert(dashboard_file.to_owned());
        }
    }
    for name in metric_names(&read(dashboard_file))
        .into_iter()
        .filter(|n| n.starts_with("hookguard_"))
    {
        wanted
            .entry(name)
            .or_default()
            .insert(dashboard_file.to_owned());
    }
    // Each of these families must be queried somewhere: the issue asks for them.
    for family in [
        "hookguard_requests_total",
        "hookguard_request_duration_seconds_bucket",
        "hookguard_request_body_bytes_bucket",
        "hookguard_secret_matches_total",
        "hookguard_secret_last_match_timestamp_seconds",
        "hookguard_config_last_reload_successful",
        "hookguard_secret_source_up",
        "hookguard_secret_lookups_total",
        "hookguard_secret_too_old",
    ] {
        assert!(
            wanted.contains_key(family),
            "no deploy file queries {family}"
        );
    }

    // The real sidecar, with counters that have children, and its state in a real Redis
    // (the `hookguard_state_*` families exist only then).
    let redis = hookguard_tests::RedisServer::start();
    let app = upstream().record().start().await;
    let proxy = sidecar(env!("CARGO_BIN_EXE_hookguard"))
        .secret_file("secrets/github", SECRET)
        .config(format!(
            r#"
[upstream]
address = "{}"

[state]
backend = "redis"
url = "{}"

[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{{ id = "primary", file = "secrets/github", rotated_at = 2020-01-01T00:00:00Z, max_age = "30d" }}]
"#,
            app.addr(),
            redis.url()
        ))
        .start()
        .await;
    let valid = Signer::new("github", SECRET).post(
        &proxy.url("/webhooks/github"),
        b"{\"zen\":\"ok\"}",
        "d-1",
    );
    assert_eq!(send(valid).await.status, 200, "the signed request passes");
    let forged = Signer::new("github", "not-the-secret").post(
        &proxy.url("/webhooks/github"),
        b"{\"zen\":\"no\"}",
        "d-2",
    );
    assert_eq!(
        send(forged).await.status,
        401,
        "the forged request is refused"
    );
    let metrics = proxy.metrics().await;
    let (types, samples) = scrape(&metrics);

    let missing: Vec<String> = wanted
        .iter()
        .filter_map(|(name, files)| {
            exported(name, &types, &samples).err().map(|why| {
                format!(
                    "{why} (used in {})",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "metrics the deploy files use but the sidecar does not export:\n{}\n\n/metrics:\n{metrics}",
        missing.join("\n")
    );
    proxy.finish();
}
