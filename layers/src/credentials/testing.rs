//! Test helpers: a local HTTP server standing in for a secret store.
//!
//! Vault and Infisical cannot run here, so their tests start an axum server on
//! 127.0.0.1:0 that speaks the documented API (paths, JSON shapes, auth headers), and
//! point the source at it.

use std::net::SocketAddr;

/// A server running `router` on a free loopback port, stopped when dropped.
pub(crate) struct TestServer {
    pub(crate) base: String,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(router: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            base: format!("http://{addr}"),
            task,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
