//! The response timeout's clock. It runs only while the proxy waits on the upstream (to
//! connect and take the request, to take the next part of the body, to answer once the body
//! is sent) and stops while the proxy waits on the client's body, so a slow upload is not
//! blamed on the upstream (decision 0806).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Bytes, Frame, SizeHint};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::upstream::{Body, BoxError};

/// Whom the request is waiting on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// The upstream: the clock runs.
    Upstream,
    /// The client, for more of its body: the clock stops.
    Client,
}

/// A request body that reports, each time the upstream's connection asks it for more,
/// whether it had to wait for the client.
pub(crate) struct Watched {
    inner: Body,
    turn: watch::Sender<Turn>,
}

impl Watched {
    /// Wraps `inner`; the receiver follows the turns.
    pub(crate) fn new(inner: Body) -> (Watched, watch::Receiver<Turn>) {
        let (turn, rx) = watch::channel(Turn::Upstream);
        (Watched { inner, turn }, rx)
    }
}

impl hyper::body::Body for Watched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        // Every report, even of the same turn, restarts the clock: a frame taken is progress.
        self.turn.send_replace(if polled.is_pending() { Turn::Client } else { Turn::Upstream });
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Longer than any process lives, short enough that `Instant::now() + LONGEST` cannot
/// overflow (tokio's own "far future" is 30 years).
pub(crate) const LONGEST: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Completes once the upstream has had `limit` without progress on its turn.
pub(crate) async fn stalled(mut turn: watch::Receiver<Turn>, limit: Duration) {
    let limit = limit.min(LONGEST);
    let clock = tokio::time::sleep(limit);
    tokio::pin!(clock);
    let mut running = *turn.borrow_and_update() == Turn::Upstream;
    // The body is dropped once sent (or when the request fails): from then on only the
    // upstream can make progress.
    let mut open = true;
    loop {
        tokio::select! {
            () = &mut clock, if running => return,
            changed = turn.changed(), if open => match changed {
                Ok(()) => {
                    running = *turn.borrow_and_update() == Turn::Upstream;
                    clock.as_mut().reset(Instant::now() + limit);
                }
                Err(_) => {
                    open = false;
                    if !running {
                        running = true;
                        clock.as_mut().reset(Instant::now() + limit);
                    }
                }
            },
            // Unreachable (closing the body starts the clock); ends rather than panics.
            else => return,
        }
    }
}
