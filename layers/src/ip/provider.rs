//! Provider IP ranges: loaded from a file or a URL in the provider's own format, refreshed
//! in the background, swapped atomically, the last good list kept when a refresh fails.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};
#[cfg(feature = "ip-fetch")]
use url::Url;

use super::{parse_network, IpSet};

/// Largest range document accepted, from a file or a URL (GitHub's whole meta document is
/// a few hundred KiB).
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// Shortest background refresh interval; shorter ones are raised to it. Providers announce
/// range changes days ahead, so refreshing faster only adds load on them.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// How a provider publishes its ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFormat {
    /// GitHub's meta API (`https://api.github.com/meta`): a JSON object whose `hooks` array
    /// lists the networks webhooks are sent from.
    GitHubMeta,
    /// Stripe's webhook address list (`https://stripe.com/files/ips/ips_webhooks.json`): a
    /// JSON object whose `WEBHOOKS` array lists single addresses.
    StripeWebhooks,
    /// Plain text: one address or network per line; blank lines and `#` comments skipped
    /// (e.g. Stripe's `ips_webhooks.txt`, or a list ops maintain).
    Lines,
}

impl RangeFormat {
    /// Parses a document in this format. Every entry must parse and the list must not be
    /// empty: a partial or empty list is a provider fault, never a reason to refuse all
    /// deliveries.
    pub fn parse(self, document: &[u8]) -> Result<Vec<IpNet>, String> {
        let networks = match self {
            RangeFormat::GitHubMeta => json_list(document, "hooks", "GitHub meta")?,
            RangeFormat::StripeWebhooks => json_list(document, "WEBHOOKS", "Stripe webhook IP")?,
            RangeFormat::Lines => {
                let text = std::str::from_utf8(document)
                    .map_err(|e| format!("the list is not UTF-8 text: {e}"))?;
                text.lines()
                    .enumerate()
                    .map(|(i, line)| (i, line.split('#').next().unwrap_or("").trim()))
                    .filter(|(_, line)| !line.is_empty())
                    .map(|(i, line)| {
                        parse_network(line).ok_or_else(|| {
                            format!("line {}: {line:?} is not an IP address or network", i + 1)
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        if networks.is_empty() {
            return Err("the list is empty".into());
        }
        Ok(networks)
    }
}

fn json_list(document: &[u8], key: &str, what: &str) -> Result<Vec<IpNet>, String> {
    let expected = || format!("expected a {what} JSON object with a {key:?} array of strings");
    let value: serde_json::Value =
        serde_json::from_slice(document).map_err(|e| format!("not JSON ({e}); {}", expected()))?;
    let entries = value
        .get(key)
        .and_then(|v| v.as_array())
        .ok_or_else(expected)?;
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            entry
                .as_str()
                .and_then(parse_network)
                .ok_or_else(|| format!("{key}[{i}] ({entry}) is not an IP address or network"))
        })
        .collect()
}

/// Where a provider's ranges are read from.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeSource {
    /// A local file, read whole at each refresh.
    File(PathBuf),
    /// An `https` URL (or `http` to a loopback address), fetched with a GET at each refresh.
    #[cfg(feature = "ip-fetch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ip-fetch")))]
    Url(Url),
}

impl RangeSource {
    /// A file source.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        RangeSource::File(path.into())
    }

    /// A URL source. Ranges decide who may call you, so they travel over TLS: plain `http`
    /// is accepted only for loopback hosts (tests, a local mirror).
    #[cfg(feature = "ip-fetch")]
    pub fn url(url: &str) -> Result<Self, String> {
        let parsed = Url::parse(url).map_err(|e| format!("URL {url:?}: {e}"))?;
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        match parsed.scheme() {
            "https" if parsed.has_host() => Ok(RangeSource::Url(parsed)),
            "http" if loopback => Ok(RangeSource::Url(parsed)),
            "http" => Err(format!(
                "URL {}: plain http is accepted only for loopback hosts; use https",
                redacted(&parsed)
            )),
            other => Err(format!(
                "URL {}: scheme {other:?} is not supported; expected https",
                redacted(&parsed)
            )),
        }
    }

    /// Without the `ip-fetch` feature: an error saying it is needed, checked when the
    /// source is configured rather than at the first refresh.
    #[cfg(not(feature = "ip-fetch"))]
    pub fn url(url: &str) -> Result<Self, String> {
        // Not echoed: it may carry credentials, and only `ip-fetch` can redact it.
        let _ = url;
        Err("a URL source needs the `ip-fetch` feature of hookguard-layers".into())
    }
}

/// A URL without credentials or query, safe for errors and logs.
#[cfg(feature = "ip-fetch")]
fn redacted(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}{}", url.scheme(), url.path())
}

impl fmt::Debug for RangeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeSource::File(path) => write!(f, "File({})", path.display()),
            #[cfg(feature = "ip-fetch")]
            RangeSource::Url(url) => write!(f, "Url({})", redacted(url)),
        }
    }
}

impl fmt::Display for RangeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeSource::File(path) => write!(f, "{}", path.display()),
            #[cfg(feature = "ip-fetch")]
            RangeSource::Url(url) => f.write_str(&redacted(url)),
        }
    }
}

/// A refresh that failed; the previous ranges stay in force.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider {provider}: {source_name}: {message}")]
pub struct ProviderError {
    /// The provider's name.
    pub provider: String,
    /// The file or URL (without credentials or query).
    pub source_name: String,
    /// What went wrong.
    pub message: String,
}

/// What the refreshes have done so far; watch it with [`ProviderRanges::subscribe`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshStatus {
    /// Refreshes that replaced the ranges.
    pub successes: u64,
    /// Refreshes that failed and kept the previous ranges.
    pub failures: u64,
    /// The error of the latest refresh, if it failed.
    pub last_error: Option<String>,
    /// Disjoint address ranges currently in force.
    pub range_count: usize,
}

/// When the background task refreshes. Implemented for [`tokio::time::Interval`] (what
/// [`ProviderRanges::spawn_refresh`] uses) and for an [`mpsc::Receiver<()>`], whose every
/// message triggers one refresh — tests, or an admin "refresh now" button.
pub trait RefreshSchedule: Send + 'static {
    /// Waits until the next refresh is due; `false` ends the task.
    fn next_refresh(&mut self) -> impl Future<Output = bool> + Send;
}

impl RefreshSchedule for Interval {
    async fn next_refresh(&mut self) -> bool {
        self.tick().await;
        true
    }
}

impl RefreshSchedule for mpsc::Receiver<()> {
    async fn next_refresh(&mut self) -> bool {
        self.recv().await.is_some()
    }
}

/// One provider's published ranges, shared by every policy that allows them. Cloning is
/// cheap and shares the ranges.
#[derive(Clone)]
pub struct ProviderRanges {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    source: RangeSource,
    format: RangeFormat,
    ranges: ArcSwap<IpSet>,
    status: watch::Sender<RefreshStatus>,
    #[cfg(feature = "ip-fetch")]
    client: std::sync::OnceLock<reqwest::Client>,
}

impl ProviderRanges {
    /// Ranges that stay empty — allowing nobody — until the first successful refresh.
    pub fn new(name: impl Into<String>, source: RangeSource, format: RangeFormat) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                source,
                format,
                ranges: ArcSwap::from_pointee(IpSet::new()),
                status: watch::Sender::new(RefreshStatus::default()),
                #[cfg(feature = "ip-fetch")]
                client: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Ranges loaded once now: fails if the first load does.
    pub async fn load(
        name: impl Into<String>,
        source: RangeSource,
        format: RangeFormat,
    ) -> Result<Self, ProviderError> {
        let ranges = Self::new(name, source, format);
        ranges.refresh().await?;
        Ok(ranges)
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether `ip` is in the ranges currently in force.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.inner.ranges.load().contains(ip)
    }

    /// The ranges currently in force.
    pub fn snapshot(&self) -> Arc<IpSet> {
        self.inner.ranges.load_full()
    }

    /// The refresh status, updated after every refresh.
    pub fn subscribe(&self) -> watch::Receiver<RefreshStatus> {
        self.inner.status.subscribe()
    }

    /// Reads the source and swaps the new ranges in. On failure the previous ranges stay
    /// in force and the error is recorded in the status. Returns the number of disjoint
    /// ranges now in force.
    pub async fn refresh(&self) -> Result<usize, ProviderError> {
        let result = self.read().await.and_then(|document| {
            self.inner
                .format
                .parse(&document)
                .map_err(|message| self.error(message))
        });
        match result {
            Ok(networks) => {
                let set: IpSet = networks.into_iter().collect();
                let count = set.range_count();
                self.inner.ranges.store(Arc::new(set));
                self.inner.status.send_modify(|s| {
                    s.successes += 1;
                    s.last_error = None;
                    s.range_count = count;
                });
                Ok(count)
            }
            Err(e) => {
                self.inner.status.send_modify(|s| {
                    s.failures += 1;
                    s.last_error = Some(e.to_string());
                });
                Err(e)
            }
        }
    }

    /// Refreshes every `every` (at least [`MIN_REFRESH_INTERVAL`]) on a tokio task, the
    /// first time one interval from now. The task ends when every clone of these ranges is
    /// dropped, or when the handle is aborted. Must be called inside a tokio runtime.
    pub fn spawn_refresh(&self, every: Duration) -> JoinHandle<()> {
        let every = every.max(MIN_REFRESH_INTERVAL);
        let mut interval = tokio::time::interval_at(Instant::now() + every, every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.spawn_refresh_on(interval)
    }

    /// Refreshes whenever `schedule` says so, on a tokio task (see [`RefreshSchedule`]).
    pub fn spawn_refresh_on(&self, mut schedule: impl RefreshSchedule) -> JoinHandle<()> {
        // Weak: the task must not keep the ranges alive on its own.
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while schedule.next_refresh().await {
                let Some(inner) = weak.upgrade() else { break };
                // A failure is recorded in the status; the last good ranges stay.
                let _ = ProviderRanges { inner }.refresh().await;
            }
        })
    }

    fn error(&self, message: impl Into<String>) -> ProviderError {
        ProviderError {
            provider: self.inner.name.clone(),
            source_name: self.inner.source.to_string(),
            message: message.into(),
        }
    }

    async fn read(&self) -> Result<Vec<u8>, ProviderError> {
        let document = match &self.inner.source {
            RangeSource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| self.error(format!("cannot read the file: {e}")))?,
            #[cfg(feature = "ip-fetch")]
            RangeSource::Url(url) => self.fetch(url).await?,
        };
        if document.len() > MAX_DOCUMENT_BYTES {
            return Err(self.error(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
        Ok(document)
    }

    #[cfg(feature = "ip-fetch")]
    async fn fetch(&self, url: &Url) -> Result<Vec<u8>, ProviderError> {
        let client = match self.inner.client.get() {
            Some(client) => client,
            None => {
                let client = reqwest::Client::builder()
                    .user_agent(concat!("hookguard/", env!("CARGO_PKG_VERSION")))
                    .timeout(Duration::from_secs(30))
                    // No downgrade from https by redirect.
                    .https_only(url.scheme() == "https")
                    .build()
                    .map_err(|e| {
                        self.error(format!("cannot build the HTTP client: {}", chain(&e)))
                    })?;
                self.inner.client.get_or_init(|| client)
            }
        };
        let fail =
            |e: reqwest::Error| self.error(format!("GET failed: {}", chain(&e.without_url())));
        let mut response = client
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json, text/plain")
            .send()
            .await
            .map_err(fail)?;
        if !response.status().is_success() {
            return Err(self.error(format!("GET answered {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(self.error(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(feature = "ip-fetch")]
use crate::error_chain as chain;

impl fmt::Debug for ProviderRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderRanges")
            .field("name", &self.inner.name)
            .field("source", &self.inner.source)
            .field("format", &self.inner.format)
            .field("ranges", &self.inner.ranges.load().range_count())
            .finish()
    }
}

#[cfg(test)]
mod tests;
