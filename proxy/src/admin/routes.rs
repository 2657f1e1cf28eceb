//! `/api/v1/routes`: each route's configuration, redacted (secrets by id, source and
//! age — never a value), and its numbers: requests by outcome and reason since the
//! process started, p50/p95 latency over the last 5 and 60 minutes, recent failures.

// Helpers return the refusal `Response` itself as the error, as axum handlers answer.
#![allow(clippy::result_large_err)]

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hookguard_config::{MatchKind, Rate};
use hookguard_delivery::Timestamp;
use serde_json::{json, Value};

use super::api::{not_found, rfc3339_ms, ApiError};
use super::AdminState;
use crate::runtime::{Route, Snapshot};
use crate::state::{EventFilter, OperatorState};

fn rate(rate: Option<&Rate>) -> Value {
    rate.map_or(
        Value::Null,
        |r| json!({ "requests": r.requests, "per": r.per.to_string(), "burst": r.burst }),
    )
}

/// The route's match, without key values.
fn matching(route: &hookguard_config::Route) -> Value {
    match route.matches.kind() {
        Some(MatchKind::Exact(path)) => json!({ "path": path }),
        Some(MatchKind::Prefix(prefix)) => json!({ "path_prefix": prefix }),
        Some(MatchKind::Keys { prefix, keys }) => json!({
            "key_prefix": prefix,
            "config_keys": keys.len(),
        }),
        None => Value::Null,
    }
}

fn latency(operator: &OperatorState, route: &str, minutes: u64, now: u64) -> Value {
    operator.route_stats(route, |s| {
        let p50 = s.quantile(0.5, minutes, now);
        let p95 = s.quantile(0.95, minutes, now);
        json!({
            "requests": p50.map_or(0, |q| q.1),
            "p50_ms": p50.map(|q| round(q.0)),
            "p95_ms": p95.map(|q| round(q.0)),
        })
    })
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

pub(super) fn view(snapshot: &Snapshot, operator: Option<&OperatorState>, route: &Route) -> Value {
    let config = &route.config;
    let defaults = &snapshot.config.defaults;
    let now = Timestamp::now().0;
    let now_secs = (now / 1000) as i64;
    let secrets: Vec<Value> = config
        .secrets
        .iter()
        .map(|s| {
            let rotated = s.rotated_at.map(|t| t.0.unix_timestamp());
            json!({
                "id": s.id,
                "source": s.source().map(|src| src.kind()),
                "rotated_at": rotated.and_then(|t| rfc3339_ms(u64::try_from(t).ok()? * 1000)),
                "age_seconds": rotated.map(|t| now_secs.saturating_sub(t)),
            })
        })
        .collect();
    let mut view = json!({
        "id": config.id,
        "match": matching(config),
        "scheme": route.scheme,
        "mode": if route.shadow { "shadow" } else { "enforce" },
        "delivery": if route.queue.is_some() { "queue" } else { "forward" },
        "body_limit_bytes": config.body_limit(defaults),
        "rate_limit": {
            "per_route": rate(config.rate_limit.as_ref().and_then(|r| r.per_route.as_ref())),
            "per_client": rate(config.rate_limit.as_ref().and_then(|r| r.per_client.as_ref())),
        },
        "replay_guard": config.replay.enabled,
        "secrets": secrets,
    });
    if let Some(operator) = operator {
        let counts: Vec<Value> = operator.route_stats(&config.id, |s| {
            s.counts
                .iter()
                .map(|((outcome, reason), n)| {
                    json!({ "outcome": outcome, "reason": (!reason.is_empty()).then_some(reason), "requests": n })
                })
                .collect()
        });
        let failures = |outcome: &str| {
            operator.events.list(
                &EventFilter {
                    route: Some(config.id.clone()),
                    outcome: Some(outcome.to_owned()),
                    limit: 5,
                    ..EventFilter::default()
                },
                now,
            )
        };
        let mut recent = failures("rejected");
        recent.extend(failures("error"));
        recent.sort_by_key(|e| std::cmp::Reverse(e.id));
        recent.truncate(5);
        view["stats"] = json!({
            "requests": counts,
            "latency": {
                "last_5m": latency(operator, &config.id, 5, now),
                "last_60m": latency(operator, &config.id, 60, now),
            },
            "recent_failures": recent,
        });
        if route.config.matches.key_prefix.is_some() {
            let table = operator.keys.load();
            let keys = table.records.iter().filter(|r| r.route == config.id);
            let (total, enabled) =
                keys.fold((0, 0), |(t, e), r| (t + 1, e + usize::from(r.enabled)));
            view["keys"] = json!({ "total": total, "enabled": enabled });
        }
    }
    view
}

/// Every route, in the config's order.
#[utoipa::path(get, path = "/routes", tag = "routes",
    responses((status = 200, description = "`items`: each route, redacted, with its numbers", body = Value)))]
pub(super) async fn list(State(state): State<AdminState>) -> Response {
    let snapshot = state.live.current();
    let operator = state.process.operator().map(|o| &**o);
    let items: Vec<Value> = snapshot
        .routes
        .iter()
        .map(|r| view(&snapshot, operator, r))
        .collect();
    Json(json!({ "items": items, "listen": snapshot.config.listen })).into_response()
}

/// One route.
#[utoipa::path(get, path = "/routes/{id}", tag = "routes",
    params(("id" = String, Path, description = "the route's id")),
    responses(
        (status = 200, description = "The route, redacted, with its numbers", body = Value),
        (status = 404, description = "No such route", body = ApiError),
    ))]
pub(super) async fn show(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let snapshot = state.live.current();
    let operator = state.process.operator().map(|o| &**o);
    match snapshot.routes.iter().find(|r| *r.id == *id) {
        Some(route) => {
            let mut view = view(&snapshot, operator, route);
            view["listen"] = json!(snapshot.config.listen);
            Json(view).into_response()
        }
        None => not_found(format!("no route {id}")),
    }
}
