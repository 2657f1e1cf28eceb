//! Webhook keys of key routes (`<key_prefix><key>`): those written in the config file and
//! those made through the admin API, merged into one table that the route lookup reads.
//!
//! A key is a bearer credential: records print it redacted, and only the key's own API
//! call (`GET /api/v1/keys/{id}`) and the console show it in full.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use hookguard_config::{Config, MatchKind};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Origin {
    /// Written in the config file: the API may disable and enable it, not delete or
    /// regenerate it (the file would bring it back).
    Config,
    /// Made through the API, kept in the admin store.
    Api,
}

/// A key's own rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct KeyRate {
    /// Requests per `per_ms`.
    pub(crate) requests: u32,
    /// The period in milliseconds.
    pub(crate) per_ms: u64,
    /// Requests admitted at once after a quiet spell (default `requests`).
    pub(crate) burst: Option<u32>,
}

impl KeyRate {
    pub(crate) fn from_config(rate: &hookguard_config::Rate) -> Self {
        Self {
            requests: rate.requests,
            per_ms: u64::try_from(rate.per.get().as_millis()).unwrap_or(u64::MAX),
            burst: rate.burst,
        }
    }

    /// The layers' quota; an error says what is wrong.
    pub(crate) fn quota(&self) -> Result<hookguard_layers::rate::RateQuota, String> {
        let quota = hookguard_layers::rate::RateQuota::new(
            self.requests,
            std::time::Duration::from_millis(self.per_ms),
        )
        .map_err(|e| e.to_string())?;
        match self.burst {
            Some(burst) => quota.burst(burst).map_err(|e| e.to_string()),
            None => Ok(quota),
        }
    }
}

/// A key that still works until `until_ms` after a regeneration with a grace period.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RetiredKey {
    pub(crate) key: String,
    pub(crate) until_ms: u64,
}

/// One key as the admin store keeps it. For a config key, only the API's changes (its
/// state, who changed it) are stored.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    /// Stable across regenerations: `k_` + 12 random characters for API keys, `cfg_` + 12
    /// hex digits of the key's SHA-256 for config keys.
    pub(crate) id: String,
    pub(crate) route: String,
    pub(crate) key: String,
    pub(crate) origin: Origin,
    pub(crate) enabled: bool,
    pub(crate) created_ms: u64,
    pub(crate) changed_ms: u64,
    /// The admin token id of the last change.
    pub(crate) changed_by: Option<String>,
    pub(crate) retired: Option<RetiredKey>,
    /// The key's own limit (for a config key: the API's, else the file's).
    #[serde(default)]
    pub(crate) rate_limit: Option<KeyRate>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("route", &self.route)
            .field("key", &"[redacted]")
            .field("origin", &self.origin)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A new key: `wh_` + 32 letters and digits from the operating system's CSPRNG.
pub(crate) fn generate_key() -> String {
    format!(
        "wh_{}",
        Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32)
    )
}

/// A new API key's id.
pub(crate) fn generate_id() -> String {
    format!(
        "k_{}",
        Alphanumeric.sample_string(&mut rand::rngs::OsRng, 12)
    )
}

/// A config key's id, derived from the key (stable while the file keeps the key).
pub(crate) fn config_key_id(key: &str) -> String {
    format!("cfg_{}", &hex::encode(Sha256::digest(key.as_bytes()))[..12])
}

/// How a key resolves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) id: Arc<str>,
    pub(crate) route: Arc<str>,
    pub(crate) enabled: bool,
    /// A retired key in its grace period: works until then (Unix ms).
    pub(crate) until_ms: Option<u64>,
    pub(crate) rate_limit: Option<KeyRate>,
}

/// Counters of one key since the process started.
#[derive(Debug, Default)]
pub(crate) struct KeyCounters {
    pub(crate) total: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) last_used_ms: AtomicU64,
    pub(crate) rejected: Mutex<HashMap<String, u64>>,
}

/// Every key, config and API, merged: key value → how it resolves.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    by_key: HashMap<String, Resolved>,
    /// Records by id (config keys included, with the API's overrides applied).
    pub(crate) records: Vec<KeyRecord>,
}

impl KeyTable {
    /// Merges the config file's keys with the stored records (overrides of config keys,
    /// and API keys of routes that still exist as key routes).
    pub(crate) fn build(config: &Config, stored: &[KeyRecord]) -> Self {
        let stored_by_id: HashMap<&str, &KeyRecord> =
            stored.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut table = KeyTable::default();
        for route in &config.routes {
            let Some(MatchKind::Keys { keys, .. }) = route.matches.kind() else {
                continue;
            };
            for key in keys {
                let id = config_key_id(&key.key);
                let from_file = key.rate_limit.as_ref().map(KeyRate::from_config);
                let record = match stored_by_id.get(id.as_str()) {
                    Some(&over) if over.origin == Origin::Config => KeyRecord {
                        key: key.key.clone(),
                        route: route.id.clone(),
                        rate_limit: over.rate_limit.or(from_file),
                        ..over.clone()
                    },
                    _ => KeyRecord {
                        id,
                        route: route.id.clone(),
                        key: key.key.clone(),
                        origin: Origin::Config,
                        enabled: key.enabled,
                        created_ms: 0,
                        changed_ms: 0,
                        changed_by: None,
                        retired: None,
                        rate_limit: from_file,
                    },
                };
                table.records.push(record);
            }
        }
        for record in stored.iter().filter(|r| r.origin == Origin::Api) {
            let is_key_route = config
                .route(&record.route)
                .is_some_and(|r| matches!(r.matches.kind(), Some(MatchKind::Keys { .. })));
            if is_key_route {
                table.records.push(record.clone());
            }
        }
        for record in &table.records {
            let resolved = Resolved {
                id: Arc::from(record.id.as_str()),
                route: Arc::from(record.route.as_str()),
                enabled: record.enabled,
                until_ms: None,
                rate_limit: record.rate_limit,
            };
            if let Some(retired) = &record.retired {
                table.by_key.entry(retired.key.clone()).or_insert(Resolved {
                    until_ms: Some(retired.until_ms),
                    ..resolved.clone()
                });
            }
            // The first wins, as in the config's router.
            table.by_key.entry(record.key.clone()).or_insert(resolved);
        }
        table
    }

    /// How `key` resolves at `now_ms`: `None` for an unknown key or a retired one past
    /// its grace period.
    pub(crate) fn resolve(&self, key: &str, now_ms: u64) -> Option<&Resolved> {
        self.by_key
            .get(key)
            .filter(|r| r.until_ms.is_none_or(|until| now_ms < until))
    }

    /// The record with `id`.
    pub(crate) fn record(&self, id: &str) -> Option<&KeyRecord> {
        self.records.iter().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        Config::from_text(
            toml,
            hookguard_config::Format::Toml,
            "h.toml".as_ref(),
            &HashMap::new(),
        )
        .unwrap()
    }

    const CONFIG_KEY: &str = "wh_0123456789abcdefghijABCDEFGHIJkl";

    fn key_route() -> Config {
        config(&format!(
            r#"
upstream.address = "127.0.0.1:3000"
[[routes]]
id = "hooks"
match = {{ key_prefix = "/hooks/", keys = [{{ key = "{CONFIG_KEY}" }}] }}
scheme = "github"
secrets = [{{ id = "primary", value = "s" }}]
"#
        ))
    }

    fn api_record(id: &str, route: &str, key: &str) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            route: route.into(),
            key: key.into(),
            origin: Origin::Api,
            enabled: true,
            created_ms: 1,
            changed_ms: 1,
            changed_by: Some("ops".into()),
            retired: None,
            rate_limit: None,
        }
    }

    #[test]
    fn generated_keys_are_wh_and_32_alphanumerics_and_differ() {
        let a = generate_key();
        assert!(hookguard_config::is_valid_key(&a), "{a}");
        assert_ne!(a, generate_key());
    }

    #[test]
    fn config_and_api_keys_merge_and_an_override_disables_a_config_key() {
        let new = generate_key();
        let mut over = KeyTable::build(&key_route(), &[]).records[0].clone();
        assert_eq!(over.origin, Origin::Config);
        over.enabled = false;
        let table = KeyTable::build(&key_route(), &[over, api_record("k_1", "hooks", &new)]);
        assert_eq!(table.resolve(CONFIG_KEY, 0).map(|r| r.enabled), Some(false));
        assert_eq!(table.resolve(&new, 0).map(|r| &*r.route), Some("hooks"));
        assert!(table.resolve(&generate_key(), 0).is_none());
    }

    #[test]
    fn api_keys_of_a_route_that_is_gone_do_not_resolve() {
        let key = generate_key();
        let table = KeyTable::build(&key_route(), &[api_record("k_1", "gone", &key)]);
        assert!(table.resolve(&key, 0).is_none());
    }

    #[test]
    fn a_retired_key_works_until_its_grace_period_ends() {
        let (old, new) = (generate_key(), generate_key());
        let mut record = api_record("k_1", "hooks", &new);
        record.retired = Some(RetiredKey {
            key: old.clone(),
            until_ms: 1000,
        });
        let table = KeyTable::build(&key_route(), &[record]);
        assert!(table.resolve(&old, 999).is_some());
        assert!(table.resolve(&old, 1000).is_none());
        assert!(table.resolve(&new, 5000).is_some());
    }
}
