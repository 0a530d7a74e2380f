//! A gRPC call is settled at its `grpc-status`, not at its response headers (decisions 0807,
//! 0813).
//!
//! gRPC answers HTTP 200 whatever happens and puts the outcome in the trailers, after the
//! last message. So the response body is wrapped: when the trailers come, the use is charged
//! or given back, and `L402-Token-Status` is added to the trailers, where gRPC clients read
//! metadata that arrives after the headers. A call that delivered a message is charged
//! whatever its status; one that sent none is given back only for a status the service marks
//! as "not delivered". Everything that is not the upstream's own status (a cut, a break, the
//! client going away) is charged.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue};
use hyper::body::{Bytes, Frame, SizeHint};
use l402_server::{NotDelivered, TOKEN_STATUS};
use tokio::task::JoinHandle;

use crate::charge::{self, Reason, Use};
use crate::idle::IdleTimeout;
use crate::upstream::{Body, BoxError};

/// The `grpc-status` in `headers`, if there is one; an unreadable value counts as UNKNOWN.
pub(crate) fn status(headers: &HeaderMap) -> Option<u32> {
    let v = headers.get("grpc-status")?;
    Some(v.to_str().ok().and_then(|s| s.parse().ok()).unwrap_or(2))
}

/// Whether `headers` start a gRPC response whose status is still to come (not a
/// trailers-only response, which carries it already).
/// gRPC-Web (`application/grpc-web…`) is not: its status is a frame inside the body, so it
/// is settled at the headers like any HTTP answer.
pub(crate) fn status_pending(headers: &HeaderMap) -> bool {
    let grpc =
        headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| {
            t.get(..16).is_some_and(|head| head.eq_ignore_ascii_case("application/grpc"))
                && t.get(16..).is_some_and(|rest| rest.is_empty() || rest.starts_with(['+', ';']))
        });
    grpc && status(headers).is_none()
}

fn settle(paid: Use, reason: Reason) -> JoinHandle<Option<HeaderValue>> {
    tokio::spawn(paid.settle(reason))
}

enum State {
    /// Passing messages through, the use still reserved.
    Streaming(Use),
    /// Trailers held back until the use is settled.
    Settling(JoinHandle<Option<HeaderValue>>, HeaderMap),
    Done,
}

/// A gRPC response body that settles its use when the status arrives. Dropped before that
/// (the client went away), its [`Use`] is charged.
pub(crate) struct Settled {
    inner: Body,
    state: State,
    rule: NotDelivered,
    /// Whether a message went to the client.
    delivered: bool,
}

impl Settled {
    pub(crate) fn new(inner: Body, paid: Use, rule: NotDelivered) -> Settled {
        Settled { inner, state: State::Streaming(paid), rule, delivered: false }
    }
}

impl hyper::body::Body for Settled {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Each arm puts back the state it leaves in; `Done` is what stays otherwise.
        match core::mem::replace(&mut self.state, State::Done) {
            State::Streaming(paid) => {
                let Poll::Ready(polled) = Pin::new(&mut self.inner).poll_frame(cx) else {
                    self.state = State::Streaming(paid);
                    return Poll::Pending;
                };
                match polled.map(|r| r.map(Frame::into_trailers)) {
                    Some(Ok(Err(data))) => {
                        self.state = State::Streaming(paid);
                        self.delivered = true;
                        Poll::Ready(Some(Ok(data)))
                    }
                    Some(Ok(Ok(trailers))) => {
                        let code = status(&trailers).unwrap_or(2);
                        let reason = charge::at_status(code, self.delivered, &self.rule);
                        self.state = State::Settling(settle(paid, reason), trailers);
                        self.poll_frame(cx)
                    }
                    // The upstream went quiet before its status: the proxy writes one, and
                    // charges (the upstream had the request).
                    Some(Err(e)) if e.is::<IdleTimeout>() => {
                        let trailers = crate::idle::grpc_trailers();
                        self.state = State::Settling(settle(paid, Reason::UpstreamIdle), trailers);
                        self.poll_frame(cx)
                    }
                    // Broke or ended without a status: no status says the work was not done.
                    Some(Err(e)) => {
                        drop(settle(paid, Reason::UpstreamError));
                        Poll::Ready(Some(Err(e)))
                    }
                    None => {
                        drop(settle(paid, Reason::NoStatus));
                        Poll::Ready(None)
                    }
                }
            }
            State::Settling(mut job, mut trailers) => match Pin::new(&mut job).poll(cx) {
                Poll::Pending => {
                    self.state = State::Settling(job, trailers);
                    Poll::Pending
                }
                Poll::Ready(value) => {
                    if let Some(v) = value.ok().flatten() {
                        trailers.insert(TOKEN_STATUS, v);
                    }
                    Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                }
            },
            State::Done => Pin::new(&mut self.inner).poll_frame(cx),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_and_judged() {
        let mut h = HeaderMap::new();
        assert_eq!(status(&h), None);
        h.insert("grpc-status", HeaderValue::from_static("0"));
        assert_eq!(status(&h), Some(0));
        h.insert("grpc-status", HeaderValue::from_static("x"));
        assert_eq!(status(&h), Some(2), "unreadable is UNKNOWN");
    }

    #[test]
    fn only_grpc_responses_without_a_status_wait_for_trailers() {
        let mut h = HeaderMap::new();
        assert!(!status_pending(&h), "not gRPC");
        for grpc in ["application/grpc", "Application/GRPC+proto", "application/grpc;charset=x"] {
            h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(grpc));
            assert!(status_pending(&h), "{grpc}");
        }
        for other in ["application/grpc-web", "application/grpc-web+proto", "application/grp"] {
            h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(other));
            assert!(!status_pending(&h), "{other}");
        }
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc+proto"));
        h.insert("grpc-status", HeaderValue::from_static("14"));
        assert!(!status_pending(&h), "trailers-only");
    }
}
