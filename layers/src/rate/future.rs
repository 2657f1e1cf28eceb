//! The rate limiter's response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Request;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::RateStore;
use crate::reject::{FromRejection, Rejection};

pin_project! {
    /// Response future of [`RateLimit`](super::RateLimit): waits for the store's decision,
    /// then runs the inner service or answers the rejection.
    pub struct ResponseFuture<S, B, St>
    where
        S: Service<Request<B>>,
        St: RateStore,
    {
        #[pin]
        state: State<St::Future, S, S::Future, Request<B>, S::Response>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<C, S, F, Req, R> {
        Check { #[pin] check: C, inner: Option<(S, Req)> },
        Inner { #[pin] future: F },
        Reject { response: Option<R> },
    }
}

impl<S, B, St> ResponseFuture<S, B, St>
where
    S: Service<Request<B>>,
    St: RateStore,
{
    pub(super) fn check(check: St::Future, inner: S, request: Request<B>) -> Self {
        Self {
            state: State::Check {
                check,
                inner: Some((inner, request)),
            },
        }
    }

    pub(super) fn reject(response: S::Response) -> Self {
        Self {
            state: State::Reject {
                response: Some(response),
            },
        }
    }
}

impl<S, B, St> Future for ResponseFuture<S, B, St>
where
    S: Service<Request<B>>,
    S::Response: FromRejection,
    St: RateStore,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.state.as_mut().project() {
                StateProj::Check { check, inner } => {
                    let decision = ready!(check.poll(cx));
                    if let Err(rejection) = decision
                        .map_err(Rejection::from)
                        .and_then(|d| d.into_result())
                    {
                        return Poll::Ready(Ok(S::Response::from_rejection(rejection)));
                    }
                    match inner.take() {
                        Some((mut service, request)) => State::Inner {
                            future: service.call(request),
                        },
                        // Polled after completion: a caller bug; stay pending, never panic.
                        None => return Poll::Pending,
                    }
                }
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Reject { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        None => Poll::Pending,
                    }
                }
            };
            this.state.set(next);
        }
    }
}
