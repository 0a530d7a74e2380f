//! One client connection's clocks: the socket wrapper that holds the connection's table slot
//! and notices bytes arriving, the guard that marks a request in flight until its response
//! is sent, and the watchdog that closes the connection when a clock runs out or the table
//! sheds it (decision 0811).
//!
//! hyper's own `header_read_timeout` is not used: it starts when a keep-alive connection goes
//! idle, so it bounds idleness and the next head together (one limit for both), and under
//! hyper-util's `auto` builder it does not cover the bytes read to tell HTTP/1.1 from HTTP/2,
//! so a client that connects and sends nothing would never be timed out.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Bytes, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::table::{Entry, Phase, Slot};
use crate::upstream::{Body, BoxError};

/// The connection-level clocks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clocks {
    pub(crate) header_read: Duration,
    pub(crate) idle: Duration,
    pub(crate) tls_handshake: Duration,
    pub(crate) send: Duration,
}

/// Why the proxy closed a connection; each has a stable code (log field and metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// `tls_handshake_ms` ran out.
    TlsHandshake,
    /// `header_read_ms` ran out before a request head was complete.
    HeaderRead,
    /// `idle_ms` ran out between requests.
    Idle,
    /// The listener was full and this connection had waited longest for a request head.
    Shed,
    /// `send_ms` ran out with a write to the client blocked: it does not read.
    Send,
}

impl Closed {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Closed::TlsHandshake => "tls-handshake-timeout",
            Closed::HeaderRead => "header-read-timeout",
            Closed::Idle => "idle-timeout",
            Closed::Shed => "connection-limit",
            Closed::Send => "send-timeout",
        }
    }
}

/// Completes when the connection must close: a clock ran out, or the table shed it.
///
/// Changes of state do not wake it (three wake-ups and two timer resets per keep-alive
/// request did, a measurable share of the proxy's per-request cost). Every deadline starts at
/// a change of state and runs for at least `soonest`, the shortest connection clock, so a
/// deadline set after the watchdog last looked is never earlier than its next look, at most
/// `soonest` later: each clock still fires on time.
pub(crate) async fn watchdog(entry: &Entry, clocks: Clocks) -> Closed {
    let soonest = clocks.header_read.min(clocks.idle).min(clocks.send);
    loop {
        let shed = entry.shed.notified();
        tokio::pin!(shed);
        shed.as_mut().enable();
        let now = Instant::now();
        let due = {
            let s = entry.state();
            if s.shed {
                return Closed::Shed;
            }
            let phase = match s.phase {
                Phase::Handshake(t) => Some((t + clocks.tls_handshake, Closed::TlsHandshake)),
                Phase::Fresh(t) | Phase::Head(t) => {
                    Some((t + clocks.header_read, Closed::HeaderRead))
                }
                Phase::Idle(t) => Some((t + clocks.idle, Closed::Idle)),
                Phase::Busy(_) | Phase::Tunnel => None,
            };
            // The send clock runs in every phase: a client that asks and never reads would
            // hold a busy connection for ever (decision 0811).
            let send = s.send_blocked.map(|t| (t + clocks.send, Closed::Send));
            phase.into_iter().chain(send).min_by_key(|(at, _)| *at)
        };
        let look = now + soonest;
        let wake = match due {
            Some((at, why)) if at <= now => return why,
            Some((at, _)) => at.min(look),
            None => look,
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = &mut shed => {}
        }
    }
}

/// A request in flight on its connection, until dropped (with its response body).
pub(crate) struct InFlight(Arc<Entry>);

impl InFlight {
    pub(crate) fn start(entry: &Arc<Entry>, http2: bool) -> InFlight {
        entry.request_started(http2);
        InFlight(Arc::clone(entry))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its request counted in flight until it has been sent.
pub(crate) struct Sending {
    inner: Body,
    _in_flight: InFlight,
}

impl Sending {
    pub(crate) fn new(inner: Body, in_flight: InFlight) -> Sending {
        Sending { inner, _in_flight: in_flight }
    }
}

impl hyper::body::Body for Sending {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client's socket, holding the connection's table slot for as long as it is open and
/// telling the entry when bytes arrive.
pub(crate) struct Tracked<T> {
    inner: T,
    slot: Slot,
    /// The last write returned `Pending`: the entry's send clock runs. Kept here so that
    /// only changes reach the entry's lock, not every write.
    blocked: bool,
}

impl<T> Tracked<T> {
    pub(crate) fn new(inner: T, slot: Slot) -> Tracked<T> {
        Tracked { inner, slot, blocked: false }
    }

    /// Tells the entry when writing to the client stops or starts making progress.
    fn sent<R>(&mut self, polled: Poll<R>) -> Poll<R> {
        let blocked = polled.is_pending();
        if blocked != self.blocked {
            self.blocked = blocked;
            if blocked {
                self.slot.entry.send_blocked();
            } else {
                self.slot.entry.send_progressed();
            }
        }
        polled
    }

    pub(crate) fn entry(&self) -> &Arc<Entry> {
        &self.slot.entry
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.slot.entry.bytes_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.sent(polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.sent(polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.sent(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.sent(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
