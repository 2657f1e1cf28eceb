//! `hookguard check`'s summary, and the JSON Schema `hookguard config schema` prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::schema::{Config, MatchKind, Rate, Route};

impl Config {
    /// A short summary for `hookguard check`: addresses, routes, their matches, schemes,
    /// guards, and where each secret comes from. Secret values and keys are never shown.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let file = self.source_map().map_or_else(
            || "(built in code)".to_string(),
            |m| m.file().display().to_string(),
        );
        let _ = writeln!(out, "configuration {file}: OK");
        let _ = writeln!(
            out,
            "listen {}, admin {}, upstream {}",
            self.listen, self.admin_listen, self.upstream.address
        );
        if let Some(rate) = &self.global_rate_limit {
            let _ = writeln!(out, "global rate limit {}", rate_text(rate));
        }
        let _ = writeln!(
            out,
            "{} route{}:",
            self.routes.len(),
            if self.routes.len() == 1 { "" } else { "s" }
        );
        let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
        for route in &self.routes {
            self.route_summary(&mut out, route);
            for secret in &route.secrets {
                if let Some(source) = secret.source() {
                    *kinds.entry(source.kind()).or_default() += 1;
                }
            }
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(out, "secret sources: {}", kinds.join(", "));
        out
    }

    fn route_summary(&self, out: &mut String, route: &Route) {
        let matched = match route.matches.kind() {
            Some(MatchKind::Exact(p)) => format!("path {p}"),
            Some(MatchKind::Prefix(p)) => format!("path_prefix {p}"),
            Some(MatchKind::Keys { prefix, keys }) => format!(
                "key_prefix {prefix}{{key}} ({} keys, {} enabled)",
                keys.len(),
                keys.iter().filter(|k| k.enabled).count()
            ),
            None => "no match".into(),
        };
        let _ = write!(
            out,
            "  {}: {matched}, scheme {}, mode {}",
            route.id,
            route.scheme,
            route.mode(&self.defaults).as_str()
        );
        if let Some(t) = route.tolerance(&self.defaults) {
            let _ = write!(out, ", tolerance {t}");
        }
        let _ = write!(
            out,
            ", body limit {}",
            crate::units::ByteSize(route.body_limit(&self.defaults))
        );
        if let Some(rewrite) = &route.rewrite {
            let _ = write!(out, ", rewrite to {rewrite}");
        }
        let _ = writeln!(out);
        let secrets: Vec<String> = route
            .secrets
            .iter()
            .map(|s| match s.source() {
                Some(source) => format!("{} ({source})", s.id),
                None => format!("{} (no source)", s.id),
            })
            .collect();
        let _ = writeln!(out, "    secrets: {}", secrets.join(", "));
        let mut guards = Vec::new();
        if let Some(ip) = &route.ip {
            let mut parts = Vec::new();
            for (name, list) in [
                ("allow", &ip.allow),
                ("deny", &ip.deny),
                ("trusted proxies", &ip.trusted_proxies),
            ] {
                if !list.is_empty() {
                    parts.push(format!("{name} {}", list.len()));
                }
            }
            if let Some(ranges) = &ip.provider_ranges {
                parts.push(format!("{:?} ranges", ranges.provider).to_lowercase());
            }
            guards.push(format!("ip: {}", parts.join(", ")));
        }
        if let Some(limits) = &route.rate_limit {
            if let Some(rate) = &limits.per_route {
                guards.push(format!("rate per route {}", rate_text(rate)));
            }
            if let Some(rate) = &limits.per_client {
                guards.push(format!("rate per client {}", rate_text(rate)));
            }
        }
        if route.replay.enabled {
            let scheme = route.build_scheme().ok();
            let tolerance = scheme
                .as_ref()
                .and_then(|s| route.effective_tolerance(&self.defaults, &**s));
            let ids = scheme.map(|s| s.delivery_id_source()).unwrap_or_default();
            // What the guard can promise depends on whether the provider signs the id.
            let reach = match (ids.exists(), ids.signed) {
                (false, _) => "; the scheme sends no delivery id, so it has nothing to track",
                (true, false) => "; the delivery id is not signed, so it stops exact resends only",
                (true, true) => "",
            };
            guards.push(format!(
                "replay guard {} (duplicates answered {}{reach})",
                crate::units::HumanDuration(route.replay.window(tolerance)),
                route.replay.duplicate_status
            ));
        } else {
            guards.push("replay guard off".into());
        }
        let _ = writeln!(out, "    {}", guards.join("; "));
    }
}

fn rate_text(rate: &Rate) -> String {
    format!(
        "{}/{} (burst {})",
        rate.requests,
        rate.per,
        rate.burst.unwrap_or(rate.requests)
    )
}

/// The JSON Schema (draft 2020-12) of the configuration file, for editors: point a TOML or
/// YAML language server at it for completion and the fields' documentation.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(Config);
    schema.insert("title".into(), "hookguard configuration".into());
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
