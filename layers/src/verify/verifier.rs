//! The verification policy core: one route's scheme, keys, tolerance, public URL and clock.

use std::fmt;
use std::sync::Arc;

use http::{header, HeaderMap, Method, Uri};

use super::{Keyring, Scheme, Verified, VerifyContext, VerifyError, WebhookRequest};
use crate::clock::{Clock, SystemClock};

/// Where a route's keys come from at request time: a fixed keyring, or a credential cache
/// that refreshes them.
pub trait KeySource: Send + Sync + 'static {
    /// The current keyring. An error fails the request closed.
    fn keyring(&self) -> Result<Arc<Keyring>, VerifyError>;
}

impl KeySource for Arc<Keyring> {
    fn keyring(&self) -> Result<Arc<Keyring>, VerifyError> {
        Ok(Arc::clone(self))
    }
}

impl<F> KeySource for F
where
    F: Fn() -> Result<Arc<Keyring>, VerifyError> + Send + Sync + 'static,
{
    fn keyring(&self) -> Result<Arc<Keyring>, VerifyError> {
        self()
    }
}

/// Verifies requests for one route. Cheap to share behind an `Arc`.
pub struct Verifier {
    scheme: Arc<dyn Scheme>,
    keys: Box<dyn KeySource>,
    tolerance: Option<u64>,
    public_url: Option<String>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme.name())
            .field("tolerance", &self.tolerance)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier with the scheme's default tolerance and the system clock.
    pub fn new(scheme: Arc<dyn Scheme>, keys: impl KeySource) -> Self {
        let tolerance = scheme.default_tolerance();
        Self {
            scheme,
            keys: Box::new(keys),
            tolerance,
            public_url: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Overrides the timestamp tolerance (seconds); `None` disables the timestamp check.
    pub fn tolerance(mut self, tolerance: Option<u64>) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The public base URL the provider calls (`https://hooks.example.com`), for schemes
    /// that sign the URL (Twilio, Square). The request's path and query are appended.
    /// Without it, the URL is `https://{Host}{path}`.
    pub fn public_url(mut self, base: impl Into<String>) -> Self {
        self.public_url = Some(base.into().trim_end_matches('/').to_owned());
        self
    }

    /// Replaces the clock (tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The scheme.
    pub fn scheme(&self) -> &dyn Scheme {
        &*self.scheme
    }

    /// Verifies one request.
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        let keys = self.keys.keyring()?;
        // Built only for the schemes that sign it (a `format!` per request otherwise).
        let url = self
            .scheme
            .signs_url()
            .then(|| self.url_of(uri, headers))
            .flatten();
        let request = WebhookRequest {
            method,
            url: url.as_deref(),
            headers,
            body,
        };
        let ctx = VerifyContext {
            now: self.clock.now_unix(),
            tolerance: self.tolerance,
        };
        self.scheme.verify(&request, &keys, &ctx)
    }

    fn url_of(&self, uri: &Uri, headers: &HeaderMap) -> Option<String> {
        request_url(self.public_url.as_deref(), uri, headers)
    }
}

/// The URL a provider called, as verification sees it: `public_url` (the base, without a
/// trailing `/`) + the path and query; else the request URI when it is absolute; else
/// `https://{Host}{path}`. `None` when none of them is known.
pub fn request_url(public_url: Option<&str>, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(base) = public_url {
        return Some(format!("{}{path}", base.trim_end_matches('/')));
    }
    if uri.scheme().is_some() {
        return Some(uri.to_string());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    Some(format!("https://{host}{path}"))
}
