//! Bounds on request bodies, free and paid alike: a size (refused before forwarding when
//! `Content-Length` says so, cut mid-stream otherwise) and two clocks on the client, the
//! longest gap between two parts and the whole time the upstream waits for the body
//! (decision 0811).
//!
//! The clocks run only while the upstream is asking for more and the client has none to give,
//! the mirror of the response clock (decision 0806), so a slow upstream is not blamed on the
//! client.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::HeaderMap;
use hyper::body::{Bytes, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::stall::LONGEST;
use crate::upstream::{Body, BoxError};

/// One service's request-body bounds (see `[request_body]` in `docs/proxy.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BodyLimits {
    /// The most bytes a body may have.
    pub(crate) max_bytes: u64,
    /// The longest the upstream may wait for the next part; `None`: no limit.
    pub(crate) idle: Option<Duration>,
    /// The longest the upstream may wait for the body in all; `None`: no limit.
    pub(crate) total: Option<Duration>,
}

/// Why a body was refused; each has a stable code (problem body and metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// More than `max_bytes` (413).
    TooLarge,
    /// A gap longer than `idle_ms`, or more than `timeout_ms` of waiting in all (408).
    Timeout,
}

impl Refusal {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Refusal::TooLarge => "body-too-large",
            Refusal::Timeout => "body-timeout",
        }
    }
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Refusal::TooLarge => "request body too large",
            Refusal::Timeout => "request body too slow",
        })
    }
}

impl std::error::Error for Refusal {}

/// Refuses a body whose `Content-Length` is already over the limit. A malformed length is
/// left to hyper, which has refused it before this point.
pub(crate) fn check_declared(headers: &HeaderMap, limits: &BodyLimits) -> Result<(), Refusal> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limits.max_bytes => Err(Refusal::TooLarge),
        _ => Ok(()),
    }
}

/// Where a [`Bounded`] body records why it was cut, for the answer the proxy then makes.
pub(crate) type Tripwire = Arc<OnceLock<Refusal>>;

/// Called once when a body is cut (for logs and metrics).
pub(crate) type OnCut = Box<dyn FnOnce(Refusal) + Send + Sync>;

/// A request body within its bounds; past one it ends with an error, and the tripwire says
/// which.
pub(crate) struct Bounded {
    inner: Body,
    limits: BodyLimits,
    read: u64,
    /// Time already spent waiting for the client, before the current wait.
    waited: Duration,
    /// When the current wait for the client began.
    waiting_since: Option<Instant>,
    clock: Option<Pin<Box<Sleep>>>,
    tripwire: Tripwire,
    on_cut: Option<OnCut>,
    done: bool,
}

impl Bounded {
    pub(crate) fn new(inner: Body, limits: BodyLimits, on_cut: OnCut) -> (Bounded, Tripwire) {
        let tripwire = Tripwire::default();
        let body = Bounded {
            inner,
            limits,
            read: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            clock: None,
            tripwire: Arc::clone(&tripwire),
            on_cut: Some(on_cut),
            done: false,
        };
        (body, tripwire)
    }

    fn cut(&mut self, why: Refusal) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.done = true;
        let _ = self.tripwire.set(why);
        if let Some(f) = self.on_cut.take() {
            f(why);
        }
        Poll::Ready(Some(Err(Box::new(why))))
    }

    /// When the current wait must end: the gap limit, or what is left of the total.
    fn deadline(&self, since: Instant) -> Option<Instant> {
        let left = self.limits.total.map(|t| t.saturating_sub(self.waited));
        let limit = match (self.limits.idle, left) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(since + limit.min(LONGEST))
    }
}

impl hyper::body::Body for Bounded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if polled.is_pending() {
            let since = match self.waiting_since {
                Some(t) => t,
                None => {
                    let now = Instant::now();
                    self.waiting_since = Some(now);
                    if let Some(at) = self.deadline(now) {
                        match &mut self.clock {
                            Some(c) => c.as_mut().reset(at),
                            None => self.clock = Some(Box::pin(tokio::time::sleep_until(at))),
                        }
                    }
                    now
                }
            };
            if self.deadline(since).is_some() {
                if let Some(c) = &mut self.clock {
                    if c.as_mut().poll(cx).is_ready() {
                        return self.cut(Refusal::Timeout);
                    }
                }
            }
            return Poll::Pending;
        }
        if let Some(since) = self.waiting_since.take() {
            self.waited = self.waited.saturating_add(since.elapsed());
        }
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
                self.read = self.read.saturating_add(len);
                if self.read > self.limits.max_bytes {
                    return self.cut(Refusal::TooLarge);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
