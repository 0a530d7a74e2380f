//! A paid request's reserved use, settled once with a [`Reason`], and the gRPC body that
//! settles it at the call's status (decisions 0807, 0813).
//!
//! gRPC answers HTTP 200 whatever happens and puts the outcome in the trailers, after the
//! last message. So its body is wrapped: when the trailers come, the use is charged or given
//! back, and `L402-Token-Status` is added to the trailers, where gRPC clients read metadata
//! that arrives after the headers. A call that delivered a message is charged whatever its
//! status; one that sent none is given back only for a status the route marks as "not
//! delivered". Everything that is not the call's own status (a cut, a break, the client
//! going away) is charged.

use core::future::Future as _;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use tokio::task::JoinHandle;

use super::layer::Pipeline;
use super::{IdleTimeout, Reason};
use crate::mint::Route;
use crate::paywall::Authorized;
use crate::TOKEN_STATUS;

/// A boxed error, as tower and hyper pass them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A reserved use. Dropped unsettled (the request was abandoned), it is charged.
pub(crate) struct Use {
    held: Option<Authorized>,
    pipeline: Arc<Pipeline>,
    route: Arc<Route>,
}

impl Use {
    pub(crate) fn new(authorized: Authorized, pipeline: Arc<Pipeline>, route: Arc<Route>) -> Use {
        Use { held: Some(authorized), pipeline, route }
    }

    pub(crate) fn route(&self) -> &Route {
        &self.route
    }

    /// Settles the use; returns the `L402-Token-Status` value to send, if any.
    pub(crate) async fn settle(mut self, reason: Reason) -> Option<HeaderValue> {
        let authorized = self.held.take()?;
        let finished = self.pipeline.paywall.finish(authorized, reason.charged()).await;
        self.pipeline.observe.settled(&self.route, reason, finished.settlement);
        finished.status.to_header_value()
    }
}

impl Drop for Use {
    fn drop(&mut self) {
        let Some(authorized) = self.held.take() else {
            return;
        };
        // Without a runtime, `Authorized`'s own drop charges it, or its lease does.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (pipeline, route) = (Arc::clone(&self.pipeline), Arc::clone(&self.route));
            rt.spawn(Use { held: Some(authorized), pipeline, route }.settle(Reason::Abandoned));
        }
    }
}

enum State {
    /// Passing messages through, the use still reserved.
    Streaming(Use),
    /// Trailers held back until the use is settled.
    Settling(JoinHandle<Option<HeaderValue>>, HeaderMap),
    Done,
}

pin_project_lite::pin_project! {
    /// A gRPC response body that settles its use when the status arrives.
    pub(crate) struct Settled<B> {
        #[pin]
        inner: B,
        state: State,
        // Whether a message went to the client.
        delivered: bool,
    }
}

impl<B> Settled<B> {
    pub(crate) fn new(inner: B, paid: Use) -> Settled<B> {
        Settled { inner, state: State::Streaming(paid), delivered: false }
    }
}

fn settle(paid: Use, reason: Reason) -> JoinHandle<Option<HeaderValue>> {
    tokio::spawn(paid.settle(reason))
}

impl<B> Body for Settled<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            // Each arm puts back the state it leaves in; `Done` is what stays otherwise.
            match core::mem::replace(this.state, State::Done) {
                State::Streaming(paid) => {
                    let Poll::Ready(polled) = this.inner.as_mut().poll_frame(cx) else {
                        *this.state = State::Streaming(paid);
                        return Poll::Pending;
                    };
                    match polled.map(|r| r.map(Frame::into_trailers).map_err(Into::into)) {
                        Some(Ok(Err(data))) => {
                            *this.state = State::Streaming(paid);
                            *this.delivered = true;
                            return Poll::Ready(Some(Ok(data)));
                        }
                        Some(Ok(Ok(trailers))) => {
                            let code = l402_http::grpc::status(&trailers).unwrap_or(2);
                            let rule = &paid.route().not_delivered;
                            let reason = Reason::at_status(code, *this.delivered, rule);
                            *this.state = State::Settling(settle(paid, reason), trailers);
                        }
                        // Went quiet before its status: end the call with one, charged (the
                        // upstream had the request).
                        Some(Err(e)) if e.is::<IdleTimeout>() => {
                            let job = settle(paid, Reason::UpstreamIdle);
                            *this.state = State::Settling(job, IdleTimeout::trailers());
                        }
                        // Broke or ended without a status: no status says the work was not
                        // done.
                        Some(Err(e)) => {
                            drop(settle(paid, Reason::UpstreamError));
                            return Poll::Ready(Some(Err(e)));
                        }
                        None => {
                            drop(settle(paid, Reason::NoStatus));
                            return Poll::Ready(None);
                        }
                    }
                }
                State::Settling(mut job, mut trailers) => {
                    return match Pin::new(&mut job).poll(cx) {
                        Poll::Pending => {
                            *this.state = State::Settling(job, trailers);
                            Poll::Pending
                        }
                        Poll::Ready(value) => {
                            if let Some(v) = value.ok().flatten() {
                                trailers.insert(TOKEN_STATUS, v);
                            }
                            Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                        }
                    };
                }
                State::Done => return this.inner.poll_frame(cx).map_err(Into::into),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // Until settled there may be trailers to send, whatever the inner body says.
        matches!(self.state, State::Done) && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
