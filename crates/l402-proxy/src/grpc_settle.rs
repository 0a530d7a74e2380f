//! A gRPC call is charged at its `grpc-status`, not at its response headers (decision 0807).
//!
//! gRPC answers HTTP 200 whatever happens and puts the outcome in the trailers, after the
//! last message. Counting the use when the headers arrive would charge for calls the upstream
//! then fails with `INTERNAL` or `UNAVAILABLE`. So the response body is wrapped: when the
//! trailers come, the use is committed or given back, and `L402-Token-Status` is added to the
//! trailers, where gRPC clients read metadata that arrives after the headers.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue};
use hyper::body::{Bytes, Frame, SizeHint};
use l402_server::{Authorized, Paywall, TOKEN_STATUS};
use tokio::task::JoinHandle;

use crate::upstream::{Body, BoxError};

/// The codes that mean the server side failed (the ones the usual gRPC to HTTP mapping sends
/// to 5xx): UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. The
/// others (`OK`, and the caller's mistakes such as INVALID_ARGUMENT or NOT_FOUND) are answers
/// the client paid for.
pub(crate) fn is_server_failure(code: u32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

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

/// Settles `authorized` with `success`, answering the status header to add.
fn settle(
    paywall: Arc<Paywall>,
    authorized: Authorized,
    success: bool,
) -> JoinHandle<Option<HeaderValue>> {
    tokio::spawn(async move {
        match paywall.finish(authorized, success).await {
            Ok(status) => status.to_header_value(),
            Err(e) => {
                tracing::warn!(code = e.code(), "counting a gRPC use failed");
                None
            }
        }
    })
}

enum State {
    /// Passing messages through, the use still reserved.
    Streaming(Arc<Paywall>, Authorized),
    /// Trailers held back until the use is settled.
    Settling(JoinHandle<Option<HeaderValue>>, HeaderMap),
    Done,
}

/// A gRPC response body that settles its use when the status arrives.
pub(crate) struct Settled {
    inner: Body,
    state: State,
    /// Whether a message went to the client.
    delivered: bool,
}

impl Settled {
    pub(crate) fn new(inner: Body, paywall: Arc<Paywall>, authorized: Authorized) -> Settled {
        Settled { inner, state: State::Streaming(paywall, authorized), delivered: false }
    }
}

impl Drop for Settled {
    fn drop(&mut self) {
        // The client went away before the status. The messages it already received are what it
        // paid for: charged, as an HTTP response is once its headers are out, or cancelling
        // before the trailers would make any stream free. Before any message, `Authorized`'s
        // own drop gives the use back.
        if !self.delivered || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if let State::Streaming(paywall, authorized) =
            core::mem::replace(&mut self.state, State::Done)
        {
            drop(settle(paywall, authorized, true));
        }
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
            State::Streaming(paywall, authorized) => {
                let Poll::Ready(polled) = Pin::new(&mut self.inner).poll_frame(cx) else {
                    self.state = State::Streaming(paywall, authorized);
                    return Poll::Pending;
                };
                match polled.map(|r| r.map(Frame::into_trailers)) {
                    Some(Ok(Err(data))) => {
                        self.state = State::Streaming(paywall, authorized);
                        self.delivered = true;
                        Poll::Ready(Some(Ok(data)))
                    }
                    Some(Ok(Ok(trailers))) => {
                        let success = status(&trailers).is_some_and(|c| !is_server_failure(c));
                        self.state =
                            State::Settling(settle(paywall, authorized, success), trailers);
                        self.poll_frame(cx)
                    }
                    // Ended or broke before its status: a gRPC client reports a failure.
                    Some(Err(e)) => {
                        drop(settle(paywall, authorized, false));
                        Poll::Ready(Some(Err(e)))
                    }
                    None => {
                        drop(settle(paywall, authorized, false));
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
        let failures: Vec<u32> = (0..=16).filter(|c| is_server_failure(*c)).collect();
        assert_eq!(failures, vec![2, 4, 12, 13, 14, 15]);
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
