//! A plain hyper 1 server, no framework: GitHub deliveries pass signature verification and
//! the replay guard (hookguard-layers' default features) before the handler sees them.
//!
//! The one thing plain hyper needs: the verification layer reads the body and hands the
//! inner service the same bytes, so the request body type must be buildable from `Bytes`.
//! hyper's `Incoming` is not; [`WebhookBody`] is either one (axum's `Body` already is).
//!
//! cargo run -p hookguard-examples --example hyper_webhooks
//! then, in another shell (twice: the second is answered as a duplicate):
//!   curl -i localhost:3001/ -H 'X-GitHub-Delivery: d-1' -H 'X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' --data-binary 'Hello, World!'

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hookguard_layers::replay::{MemoryReplayStore, ReplayGuardLayer};
use hookguard_layers::verify::{schemes, Keyring, Verified, VerifySignatureLayer};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{BoxError, Service, ServiceBuilder};

/// A request body as hyper received it, or the bytes the verification layer read.
pub enum WebhookBody {
    /// Straight from the connection.
    Incoming(Incoming),
    /// Read and verified.
    Read(Full<Bytes>),
}

impl From<Bytes> for WebhookBody {
    fn from(bytes: Bytes) -> Self {
        WebhookBody::Read(Full::new(bytes))
    }
}

impl Body for WebhookBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        // Both are `Unpin`: no projection needed.
        match self.get_mut() {
            WebhookBody::Incoming(body) => Pin::new(body).poll_frame(cx),
            WebhookBody::Read(body) => Pin::new(body).poll_frame(cx).map_err(|e| match e {}),
        }
    }
}

/// The service for one route: verification first (the guard trusts only verified ids),
/// then the replay guard, then the handler.
pub fn github_service(
    secrets: &[&str],
) -> impl Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = BoxError, Future: Send>
       + Clone
       + Send
       + 'static {
    let scheme = schemes::by_name("github").expect("known scheme");
    let keys = Keyring::from_secrets(&*scheme, secrets).expect("valid GitHub secrets");
    ServiceBuilder::new()
        .map_request(|request: Request<Incoming>| request.map(WebhookBody::Incoming))
        .layer(VerifySignatureLayer::new(scheme.clone(), keys).max_body(1 << 20))
        .layer(ReplayGuardLayer::new("github", MemoryReplayStore::default()).for_scheme(&*scheme))
        .service_fn(handle)
}

/// Runs only for verified deliveries not handled before.
async fn handle(request: Request<WebhookBody>) -> Result<Response<Full<Bytes>>, BoxError> {
    let verified = request.extensions().get::<Verified>().cloned();
    let body = request.into_body().collect().await?.to_bytes();
    let delivery = verified.and_then(|v| v.delivery_id);
    Ok(Response::new(Full::from(format!(
        "accepted delivery {} ({} bytes)\n",
        delivery.as_deref().unwrap_or("-"),
        body.len()
    ))))
}

/// Serves `service` on `listener`, one task per connection, until the task is dropped.
pub async fn serve<S>(listener: TcpListener, service: S) -> std::io::Result<Infallible>
where
    S: Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    loop {
        let (stream, _peer) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                eprintln!("connection: {e}");
            }
        });
    }
}

#[allow(dead_code)] // The smoke test includes this file for `github_service` and `serve`.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let secret = std::env::var("GITHUB_WEBHOOK_SECRET")
        .unwrap_or_else(|_| "It's a Secret to Everybody".into());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}");
    serve(listener, github_service(&[&secret])).await?;
    Ok(())
}
