//! `hookguard run -c FILE`: the sidecar.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clap::Args;
use hookguard_config::{LiveConfig, Loader, WatchOptions};
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{ExecutionPhase, Server};

use crate::admin::{self, Health};
use crate::runtime::Snapshot;
use crate::sidecar::Sidecar;
use crate::stack::{self, ProcessState};

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The configuration file (TOML or YAML).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,
    /// Worker threads for the proxy (default: 1, the sidecar usually gets one core).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

pub(crate) fn run(args: RunArgs) -> Result<u8, String> {
    init_tracing();
    // Background work (credential fetches, provider range refreshes, reload builds, the
    // drain watch) runs on its own small runtime: pingora builds and owns its own.
    let background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("hookguard-bg")
        .enable_all()
        .build()
        .map_err(|e| format!("starting the background runtime: {e}"))?;
    let handle = background.handle().clone();

    let base_dir = args.config.parent().map(PathBuf::from).unwrap_or_default();
    let process = Arc::new(ProcessState::new(base_dir));
    let build_process = Arc::clone(&process);
    let build_handle = handle.clone();
    let live: Arc<LiveConfig<Snapshot>> = Arc::new(
        LiveConfig::load_with(Loader::new(&args.config), move |config| {
            build_handle.block_on(stack::build(config, &build_process))
        })
        .map_err(|e| e.to_string())?,
    );
    let first = live.current();
    let config = first.config.clone();
    let _watcher = live
        .watch(WatchOptions::default())
        .map_err(|e| format!("watching {}: {e}", args.config.display()))?;

    let health = Arc::new(Health::default());
    let status_live = Arc::clone(&live);
    health.set_reload_status(move || status_live.status().successful);
    // Registered once: each scrape reads the credential cache of the snapshot in service.
    let metrics_live = Arc::clone(&live);
    prometheus::register(Box::new(crate::metrics::CredentialCollector::new(
        move || metrics_live.current().credentials.0.stats(),
    )))
    .map_err(|e| format!("registering the credential metrics: {e}"))?;
    let admin_state = admin::AdminState {
        health: Arc::clone(&health),
        process: Arc::clone(&process),
        live: Arc::clone(&live),
    };
    let admin_addr = admin::start(config.admin_listen, admin_state)
        .map_err(|e| format!("admin listener on {}: {e}", config.admin_listen))?;

    let conf = ServerConf {
        threads: args.workers.max(1),
        grace_period_seconds: Some(config.shutdown_grace_period.get().as_secs()),
        graceful_shutdown_timeout_seconds: Some(1),
        // One runtime per worker thread, no stealing: measured ~5 % less CPU per request
        // than pingora's default work-stealing runtime for a sidecar on one or two threads.
        work_stealing: false,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let sidecar = Sidecar::new(Arc::clone(&live));
    let in_flight = Arc::clone(&sidecar.in_flight);
    let mut service = pingora_core::services::listening::Service::new("hookguard".into(), sidecar);
    service.add_tcp(&config.listen.to_string());
    server.add_service(service);

    // SIGTERM: /readyz turns 503 while pingora lets in-flight requests finish.
    let mut phases = server.watch_execution_phase();
    let drain_health = Arc::clone(&health);
    handle.spawn(async move {
        while let Ok(phase) = phases.recv().await {
            let stopping = matches!(
                phase,
                ExecutionPhase::GracefulTerminate | ExecutionPhase::ShutdownStarted
            );
            if stopping && !drain_health.draining.swap(true, Ordering::AcqRel) {
                tracing::info!("draining: readiness is now 503");
                tokio::spawn(exit_when_drained(Arc::clone(&in_flight)));
            }
        }
    });
    // Built-in alerting ([alerts]): evaluated on the background runtime.
    crate::alerts::start(
        Arc::clone(&live),
        args.config.parent().map(PathBuf::from).unwrap_or_default(),
        Arc::clone(&process.alerts),
        &handle,
    );
    health.loaded.store(true, Ordering::Release);
    tracing::info!(listen = %config.listen, admin = %admin_addr, routes = config.routes.len(), "hookguard running");
    // Keeps the background runtime alive for the life of the process.
    std::mem::forget(background);
    server.run(pingora_core::server::RunArgs::default());
    // The access log's last batch, then the exit `run_forever` would make.
    crate::sidecar::flush_access_log();
    std::process::exit(0)
}

/// Pingora waits out the whole grace period even when nothing is in flight; end the
/// process as soon as no request has been in flight for a quiet second (pingora has stopped
/// accepting and closes keep-alive connections after their current response). The grace
/// period still bounds a drain that does not finish.
async fn exit_when_drained(in_flight: Arc<std::sync::atomic::AtomicUsize>) {
    const QUIET: std::time::Duration = std::time::Duration::from_secs(1);
    const TICK: std::time::Duration = std::time::Duration::from_millis(50);
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(TICK).await;
        if in_flight.load(Ordering::Acquire) > 0 {
            quiet_since = tokio::time::Instant::now();
        } else if quiet_since.elapsed() >= QUIET {
            tracing::info!("drained: no request in flight, exiting before the grace period ends");
            crate::sidecar::flush_access_log();
            std::process::exit(0);
        }
    }
}

pub(crate) fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HOOKGUARD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,pingora=warn"));
    // Diagnostics as JSON on stderr; stdout carries the one-line-per-request access log.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
