//! `hookguard sandbox`: a mock receiver for testing senders (and hookguard's own outbound
//! path).
//!
//! Per path it answers with a fixed status, body and headers, an error rate, a delay (fixed
//! or a range) or a timeout; it can verify signatures with any scheme and says why one
//! fails (the likely-mistake search of [`crate::diagnose`]); it keeps a bounded history of
//! what it received, which `hookguard sandbox history|show|replay` read through its
//! `/_sandbox/…` endpoints.
//!
//! ```sh
//! hookguard sandbox --listen 127.0.0.1:9000 --scheme github --secret s3cret \
//!   --path '/flaky=error_rate=0.3,error_status=503' --path '/slow=delay=100ms..2s'
//! curl -s localhost:9000/_sandbox/history
//! ```

mod history;
mod replay;
mod server;
mod settings;

pub(crate) use replay::Replay;
pub(crate) use server::run;
pub(crate) use settings::Settings;
