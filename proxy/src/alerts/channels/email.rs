//! Email over SMTP (lettre): STARTTLS required (or implicit TLS), optional authentication;
//! the certificate is checked against the public roots plus `ca_file`.

use std::path::Path;

use async_trait::async_trait;
use hookguard_config::{EmailChannel, EmailTls};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::ExposeSecret as _;

use super::{Notify, SEND_TIMEOUT};
use crate::alerts::rules::Notification;
use crate::rfc3339::unix_ms;

pub(super) struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    pub(super) async fn new(spec: &EmailChannel, base_dir: &Path) -> Result<Self, String> {
        let (host, port) = spec
            .server
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("email.server: {:?} is not host:port", spec.server))?;
        let mut tls = TlsParameters::builder(host.to_owned());
        if let Some(ca) = &spec.ca_file {
            let path = base_dir.join(ca);
            let pem = std::fs::read(&path)
                .map_err(|e| format!("email.ca_file: cannot read {}: {e}", path.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("email.ca_file: {}: {e}", path.display()))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| format!("email: TLS settings: {e}"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(SEND_TIMEOUT))
            .tls(match spec.tls {
                EmailTls::Starttls => Tls::Required(tls),
                EmailTls::Tls => Tls::Wrapper(tls),
            });
        if let (Some(user), Some(password)) = (&spec.username, &spec.password) {
            let password = super::secret(password, base_dir, "email.password").await?;
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let from = spec
            .from
            .parse()
            .map_err(|e| format!("email.from: {:?}: {e}", spec.from))?;
        let to = spec
            .to
            .iter()
            .map(|t| t.parse().map_err(|e| format!("email.to: {t:?}: {e}")))
            .collect::<Result<Vec<Mailbox>, String>>()?;
        Ok(Self {
            transport: builder.build(),
            from,
            to,
        })
    }
}

/// The message's plain-text body.
fn body(n: &Notification) -> String {
    let labels: Vec<String> = n
        .labels
        .iter()
        .map(|(k, v)| format!("  {k}: {v}\n"))
        .collect();
    format!(
        "{}\n\nrule: {} ({})\nstatus: {}\nseverity: {}\nvalue: {}\nthreshold: {}\nsince: {}\nat: {}\nlabels:\n{}",
        n.summary,
        n.rule,
        n.kind.as_str(),
        n.status.as_str(),
        n.severity.as_str(),
        n.value,
        n.threshold,
        unix_ms(n.started_at_ms),
        unix_ms(n.at_ms),
        labels.concat()
    )
}

#[async_trait]
impl Notify for Email {
    async fn notify(&self, n: &Notification) -> Result<(), String> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(n.title())
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message
            .body(body(n))
            .map_err(|e| format!("email: cannot build the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}
