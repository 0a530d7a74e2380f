//! The idle timeout of a response body: once the headers are in, an upstream that leaves the
//! client waiting for the next frame longer than `idle_ms` has its body ended and its
//! connection (or HTTP/2 stream) dropped (decision 0808).
//!
//! The clock runs only while the client is waiting for the next frame, as the response
//! clock runs only while the proxy waits on the upstream (decision 0806): a slow reader does
//! not poll, and its pauses are not blamed on the upstream.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::HeaderMap;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use l402_server::tower::IdleTimeout;

use crate::stall::LONGEST;
use crate::upstream::{Body, BoxError};

/// What the client gets in place of the rest of the body.
pub(crate) enum Ending {
    /// A body error: HTTP/1.1 clients see the connection close before the body is complete,
    /// HTTP/2 clients a reset stream, so nobody takes a cut-off body for a whole one.
    Cut,
    /// These trailers (a gRPC status), so a gRPC client sees a status it can act on.
    Trailers(HeaderMap),
}

/// Called once when the clock runs out (for logs and metrics).
pub(crate) type OnIdle = Box<dyn FnOnce() + Send + Sync>;

/// A response body with an idle timeout.
pub(crate) struct Idle {
    inner: Body,
    limit: Duration,
    /// Made the first time the client has to wait: most bodies never make it wait.
    clock: Option<Pin<Box<Sleep>>>,
    /// Whether the clock is set: the client asked for a frame the upstream has not sent.
    waiting: bool,
    ending: Option<Ending>,
    on_idle: Option<OnIdle>,
    done: bool,
}

impl Idle {
    /// Wraps `inner`, ending it as `ending` says after `limit` without a frame.
    pub(crate) fn new(inner: Body, limit: Duration, ending: Ending, on_idle: OnIdle) -> Idle {
        let limit = limit.min(LONGEST);
        Idle {
            inner,
            limit,
            clock: None,
            waiting: false,
            ending: Some(ending),
            on_idle: Some(on_idle),
            done: false,
        }
    }
}

impl hyper::body::Body for Idle {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            self.waiting = false;
            return Poll::Ready(frame);
        }
        let limit = self.limit;
        let restart = !core::mem::replace(&mut self.waiting, true);
        let clock = self.clock.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if restart {
            clock.as_mut().reset(Instant::now() + limit);
        }
        if clock.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.done = true;
        // Dropping the upstream's body closes its HTTP/1.1 connection (it cannot be reused
        // mid-message) or resets its HTTP/2 stream.
        self.inner = Empty::new().map_err(|never| -> BoxError { match never {} }).boxed();
        if let Some(f) = self.on_idle.take() {
            f();
        }
        match self.ending.take() {
            Some(Ending::Trailers(t)) => Poll::Ready(Some(Ok(Frame::trailers(t)))),
            _ => Poll::Ready(Some(Err(Box::new(IdleTimeout)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A body that yields one frame, then nothing, ever (it never wakes its reader).
    struct Silent(bool);

    impl hyper::body::Body for Silent {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if core::mem::replace(&mut self.0, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first")))))
            }
        }
    }

    fn one_frame_then_silence() -> Body {
        Silent(false).boxed()
    }

    fn counter() -> (Arc<AtomicUsize>, OnIdle) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&n);
        (
            n,
            Box::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_is_cut_after_the_limit_and_only_then() {
        let (fired, on_idle) = counter();
        let limit = Duration::from_secs(5);
        let mut body = Idle::new(one_frame_then_silence(), limit, Ending::Cut, on_idle);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "first");
        let started = Instant::now();
        let cut = body.frame().await.unwrap();
        assert!(cut.unwrap_err().is::<IdleTimeout>());
        assert_eq!(started.elapsed(), limit, "paused time: exactly the limit");
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        assert!(body.frame().await.is_none(), "ended");
        assert!(hyper::body::Body::is_end_stream(&body));
    }

    /// A body that yields "first" at once, then "second" a second after it is next asked.
    struct Paced {
        sent: u8,
        delay: Option<Pin<Box<Sleep>>>,
    }

    impl hyper::body::Body for Paced {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            let frame = match self.sent {
                0 => "first",
                1 => {
                    let delay = self.delay.get_or_insert_with(|| {
                        Box::pin(tokio::time::sleep(Duration::from_secs(1)))
                    });
                    if delay.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    "second"
                }
                _ => return Poll::Ready(None),
            };
            self.sent += 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(frame.as_bytes())))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_is_not_blamed_on_the_upstream() {
        let (fired, on_idle) = counter();
        let limit = Duration::from_secs(5);
        let inner = Paced { sent: 0, delay: None }.boxed();
        let mut body = Idle::new(inner, limit, Ending::Cut, on_idle);
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "first");
        // The client pauses far longer than the limit before asking again; the upstream then
        // takes a second, well within the limit counted from the asking.
        tokio::time::sleep(limit * 3).await;
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "second");
        assert!(body.frame().await.is_none());
        assert_eq!(fired.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_grpc_body_ends_with_the_given_trailers() {
        let (_, on_idle) = counter();
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("4"));
        let ending = Ending::Trailers(trailers.clone());
        let mut body = Idle::new(one_frame_then_silence(), Duration::from_secs(1), ending, on_idle);
        let _ = body.frame().await.unwrap().unwrap();
        let last = body.frame().await.unwrap().unwrap();
        assert_eq!(last.into_trailers().unwrap(), trailers);
        assert!(body.frame().await.is_none());
    }
}
