//! A small SMTP server on `127.0.0.1:0` that records what it receives: EHLO, STARTTLS
//! (rustls, a self-signed certificate made by rcgen for `127.0.0.1` and `localhost`),
//! AUTH PLAIN (offered only after STARTTLS, as real servers do), MAIL, RCPT, DATA, QUIT.
//! Enough of RFC 5321/3207/4954 for a real client (lettre) to send mail through it; not a
//! mail server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One message the server accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message (headers and body) as sent in DATA, dot-unstuffed.
    pub data: String,
    /// Whether the session had switched to TLS (STARTTLS) before MAIL.
    pub tls: bool,
    /// The user and password of AUTH PLAIN, if the client authenticated.
    pub auth: Option<(String, String)>,
}

/// A running test SMTP server; stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    ca_pem: String,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    /// Binds `127.0.0.1:0` and serves, each connection in its own task.
    pub async fn start() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("a self-signed certificate");
        let ca_pem = certified.cert.pem();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("the certificate and key");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP server on 127.0.0.1:0");
        let addr = listener.local_addr().expect("SMTP server address");
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let recorded = Arc::clone(&mails);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let mails = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let mut mail = Mail::default();
                    let mut tcp = tcp;
                    if tcp
                        .write_all(b"220 localhost ESMTP hookguard-test\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let Ok(Some(tcp)) = dialog(tcp, &mut mail, &mails, false).await else {
                        return;
                    };
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    mail.tls = true;
                    let _ = dialog(tls, &mut mail, &mails, true).await;
                });
            }
        });
        Self {
            addr,
            ca_pem,
            mails,
            task,
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server certificate (PEM), to trust as a CA.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The messages accepted so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One session's commands until QUIT (`None`) or STARTTLS (the stream back, to wrap).
async fn dialog<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    mail: &mut Mail,
    mails: &Mutex<Vec<Mail>>,
    tls: bool,
) -> std::io::Result<Option<S>> {
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let extension = if tls {
                "250-AUTH PLAIN\r\n"
            } else {
                "250-STARTTLS\r\n"
            };
            format!("250-localhost\r\n{extension}250 8BITMIME\r\n")
        } else if upper.starts_with("HELO") {
            "250 localhost\r\n".into()
        } else if upper == "STARTTLS" && !tls {
            stream
                .get_mut()
                .write_all(b"220 ready to start TLS\r\n")
                .await?;
            return Ok(Some(stream.into_inner()));
        } else if let Some(encoded) = upper.strip_prefix("AUTH PLAIN ").map(|_| &command[11..]) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .unwrap_or_default();
            let parts: Vec<String> = decoded
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            match parts.as_slice() {
                [_, user, password] if tls => {
                    mail.auth = Some((user.clone(), password.clone()));
                    "235 authenticated\r\n".into()
                }
                _ => "535 authentication failed\r\n".into(),
            }
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = address(&command[10..]);
            mail.to.clear();
            "250 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(address(&command[8..]));
            "250 ok\r\n".into()
        } else if upper == "DATA" {
            stream
                .get_mut()
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                line.clear();
                if stream.read_line(&mut line).await? == 0 {
                    return Ok(None);
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let mut accepted = mail.clone();
            accepted.data = data;
            mails
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(accepted);
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            stream.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(None);
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".into()
        } else {
            "502 not implemented\r\n".into()
        };
        stream.get_mut().write_all(reply.as_bytes()).await?;
    }
}

/// `<a@b>` (with any parameters after it) → `a@b`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(open), Some(close)) if open < close => arg[open + 1..close].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or_default().to_owned(),
    }
}
