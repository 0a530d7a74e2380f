//! The body of every answer the layer gives: the inner service's (as is, or settling a gRPC
//! call at its trailers), or the layer's own refusal.

use core::pin::Pin;
use core::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::settle::{BoxError, Settled, Use};

pin_project_lite::pin_project! {
    /// The response body of [`L402Service`](super::L402Service).
    pub struct L402Body<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Settling { #[pin] body: Settled<B> },
        Own { body: Option<Bytes> },
    }
}

impl<B> L402Body<B> {
    pub(crate) fn inner(body: B) -> L402Body<B> {
        L402Body { kind: Kind::Inner { body } }
    }

    pub(crate) fn settling(body: B, paid: Use) -> L402Body<B> {
        L402Body { kind: Kind::Settling { body: Settled::new(body, paid) } }
    }
}

impl<B> From<String> for L402Body<B> {
    fn from(text: String) -> L402Body<B> {
        let body = (!text.is_empty()).then(|| Bytes::from(text));
        L402Body { kind: Kind::Own { body } }
    }
}

impl<B> core::fmt::Debug for L402Body<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self.kind {
            Kind::Inner { .. } => "L402Body::Inner",
            Kind::Settling { .. } => "L402Body::Settling",
            Kind::Own { .. } => "L402Body::Own",
        })
    }
}

impl<B> Body for L402Body<B>
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
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Settling { body } => body.poll_frame(cx),
            KindProj::Own { body } => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Settling { body } => body.is_end_stream(),
            Kind::Own { body } => body.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Settling { body } => body.size_hint(),
            Kind::Own { body } => SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
