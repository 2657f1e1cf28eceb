//! A route's IP rules: allow and deny lists, trusted proxies, a provider's published ranges.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::HumanDuration;

/// Which client addresses may call a route. Deny wins over allow; with neither `allow` nor
/// `provider_ranges`, every address not denied is allowed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpRules {
    /// Addresses or CIDR networks allowed (`192.30.252.0/22`, `2001:db8::/32`, `10.1.2.3`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Addresses or CIDR networks refused with 403, whatever else allows them.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Proxies in front of hookguard (load balancers, ingress) whose `forwarded_header` is
    /// believed: the client is the first address in it that is not one of them. Requests
    /// from anywhere else are judged by their own address.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write.
    #[serde(default)]
    pub forwarded_header: ForwardedHeaderName,
    /// Also allow the provider's published webhook ranges, kept current in the background.
    #[serde(default)]
    pub provider_ranges: Option<ProviderRanges>,
}

impl IpRules {
    /// The parsed `allow` list (only entries that parse; validation reports the others).
    pub fn allow_networks(&self) -> Vec<IpNet> {
        self.allow
            .iter()
            .filter_map(|s| parse_network(s).ok())
            .collect()
    }

    /// The parsed `deny` list.
    pub fn deny_networks(&self) -> Vec<IpNet> {
        self.deny
            .iter()
            .filter_map(|s| parse_network(s).ok())
            .collect()
    }

    /// The parsed `trusted_proxies` list.
    pub fn trusted_proxy_networks(&self) -> Vec<IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|s| parse_network(s).ok())
            .collect()
    }
}

/// Parses an address (`10.1.2.3`, a single-host network) or a CIDR network
/// (`10.0.0.0/8`). A network with host bits set (`10.0.0.1/8`) is refused, since it
/// usually means a typo.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    let net: IpNet = text
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address or CIDR network"))?;
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// The header trusted proxies record client addresses in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ForwardedHeaderName {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    #[serde(rename = "forwarded")]
    Forwarded,
}

/// A provider's published webhook source ranges.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderRanges {
    /// `github` or `stripe`.
    pub provider: Provider,
    /// Read the list from this file instead of the provider's URL (relative to this
    /// configuration file). Set at most one of `file` and `url`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Read the list from this URL. Unset (and no `file`): the provider's own —
    /// `https://api.github.com/meta`, `https://stripe.com/files/ips/ips_webhooks.json`.
    #[serde(default)]
    pub url: Option<String>,
    /// The document's format. Unset: the provider's JSON format, or `lines` for a `.txt`
    /// file or URL.
    #[serde(default)]
    pub format: Option<RangeFormatName>,
    /// How often the list is fetched again (at least 10 s).
    #[serde(default = "default_refresh")]
    pub refresh: HumanDuration,
}

fn default_refresh() -> HumanDuration {
    HumanDuration::secs(3600)
}

impl ProviderRanges {
    /// The URL the list is read from, when it is not read from a file.
    pub fn effective_url(&self) -> Option<&str> {
        if self.file.is_some() {
            return None;
        }
        Some(self.url.as_deref().unwrap_or(match self.provider {
            Provider::Github => "https://api.github.com/meta",
            Provider::Stripe => "https://stripe.com/files/ips/ips_webhooks.json",
        }))
    }

    /// The document's format.
    pub fn effective_format(&self) -> RangeFormatName {
        if let Some(format) = self.format {
            return format;
        }
        let is_txt = match (&self.file, &self.url) {
            (Some(f), _) => f.extension().is_some_and(|e| e == "txt"),
            (None, Some(u)) => u.ends_with(".txt"),
            _ => false,
        };
        match (is_txt, self.provider) {
            (true, _) => RangeFormatName::Lines,
            (false, Provider::Github) => RangeFormatName::GithubMeta,
            (false, Provider::Stripe) => RangeFormatName::StripeJson,
        }
    }
}

/// A provider that publishes its webhook source addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// GitHub (the `hooks` list of its meta API).
    Github,
    /// Stripe (its webhook IP list).
    Stripe,
}

/// The format of a range document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RangeFormatName {
    /// GitHub's meta API JSON (its `hooks` array).
    GithubMeta,
    /// Stripe's `ips_webhooks.json` (its `WEBHOOKS` array).
    StripeJson,
    /// One address or network per line; blank lines and `#` comments skipped.
    Lines,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_strictly() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("10.1.2.3").unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert_eq!(
            parse_network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        let err = parse_network("10.0.0.1/8").unwrap_err();
        assert!(err.contains("did you mean 10.0.0.0/8"), "{err}");
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("example.com").is_err());
    }

    #[test]
    fn provider_defaults_follow_the_provider_and_the_extension() {
        let github = ProviderRanges {
            provider: Provider::Github,
            file: None,
            url: None,
            format: None,
            refresh: default_refresh(),
        };
        assert_eq!(github.effective_url(), Some("https://api.github.com/meta"));
        assert_eq!(github.effective_format(), RangeFormatName::GithubMeta);
        let stripe_txt = ProviderRanges {
            provider: Provider::Stripe,
            url: Some("https://stripe.com/files/ips/ips_webhooks.txt".into()),
            ..github.clone()
        };
        assert_eq!(stripe_txt.effective_format(), RangeFormatName::Lines);
        let from_file = ProviderRanges {
            file: Some("ranges.json".into()),
            provider: Provider::Stripe,
            ..github
        };
        assert_eq!(from_file.effective_url(), None);
        assert_eq!(from_file.effective_format(), RangeFormatName::StripeJson);
    }
}
