//! Whether a paid request's use is charged or given back, and why (decision 0813).
//!
//! Once the request may have reached the upstream, the client has no way to make it free:
//! hanging up, cancelling, a timeout, a cut body all leave it charged. It is given back only
//! when the upstream provably never received it (no connection was ever handed to the
//! request, or connecting failed), or answered with a status the service marks as "not
//! delivered" (`not_delivered_statuses`, `not_delivered_grpc_statuses`). Each verdict is
//! counted in `l402_proxy_uses_total{service,outcome,reason}`.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, StatusCode};
use l402_server::{Authorized, NotDelivered, Paywall, Settlement};

use crate::grpc_settle;
use crate::metrics::Metrics;

/// Why a use was charged or given back; the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The upstream answered with a status not marked as "not delivered".
    Answered,
    /// The request was abandoned after it was let through: the client went away, or the
    /// proxy shut down.
    Abandoned,
    /// The response timeout ran out once a connection had the request.
    Timeout,
    /// Connected, but the answer was broken or never came.
    UpstreamError,
    /// A gRPC response the upstream went quiet on before its status (`idle_ms`).
    UpstreamIdle,
    /// A gRPC response that ended without a status.
    NoStatus,
    /// A gRPC call ended with a "not delivered" status after sending messages.
    MessagesDelivered,
    /// The proxy cut the client's request body (too large, too slow) while the upstream
    /// was receiving it (decision 0811).
    BodyCut,
    /// Given back: the upstream never had the request (connect failure, no connection).
    NotSent,
    /// Given back: the upstream's status is one the service marks as "not delivered".
    NotDelivered,
}

impl Reason {
    /// The stable code (the `reason` label, and `code` in logs).
    pub(crate) fn code(self) -> &'static str {
        match self {
            Reason::Answered => "answered",
            Reason::Abandoned => "abandoned",
            Reason::Timeout => "upstream-timeout",
            Reason::UpstreamError => "upstream-error",
            Reason::UpstreamIdle => "upstream-idle",
            Reason::NoStatus => "no-status",
            Reason::MessagesDelivered => "messages-delivered",
            Reason::BodyCut => "body-cut",
            Reason::NotSent => "not-sent",
            Reason::NotDelivered => "not-delivered",
        }
    }

    /// Whether the use is charged.
    pub(crate) fn charged(self) -> bool {
        !matches!(self, Reason::NotSent | Reason::NotDelivered)
    }
}

/// The verdict for an answer whose outcome is known from its headers: an HTTP status, or a
/// trailers-only gRPC status.
pub(crate) fn at_headers(status: StatusCode, headers: &HeaderMap, rule: &NotDelivered) -> Reason {
    let given_back = match grpc_settle::status(headers) {
        Some(code) => rule.grpc(code),
        None => rule.http(status),
    };
    if given_back {
        Reason::NotDelivered
    } else {
        Reason::Answered
    }
}

/// The verdict for a gRPC call that ended with `code` from the upstream.
pub(crate) fn at_status(code: u32, delivered: bool, rule: &NotDelivered) -> Reason {
    match (rule.grpc(code), delivered) {
        (false, _) => Reason::Answered,
        (true, true) => Reason::MessagesDelivered,
        (true, false) => Reason::NotDelivered,
    }
}

/// A paid request's reserved use, settled once with a [`Reason`]. Dropped unsettled (the
/// request was abandoned), it is charged.
pub(crate) struct Use {
    held: Option<(Authorized, Arc<Paywall>)>,
    metrics: Arc<Metrics>,
    service: String,
}

impl Use {
    pub(crate) fn new(
        authorized: Authorized,
        paywall: Arc<Paywall>,
        metrics: Arc<Metrics>,
        service: &str,
    ) -> Use {
        Use { held: Some((authorized, paywall)), metrics, service: service.to_owned() }
    }

    /// Settles the use; returns the `L402-Token-Status` value to send, if any.
    pub(crate) async fn settle(mut self, reason: Reason) -> Option<HeaderValue> {
        let (authorized, paywall) = self.held.take()?;
        self.count(reason);
        let finished = paywall.finish(authorized, reason.charged()).await;
        self.note(finished.settlement);
        finished.status.to_header_value()
    }

    fn count(&self, reason: Reason) {
        let outcome = if reason.charged() { "charged" } else { "refunded" };
        self.metrics.inc(
            "l402_proxy_uses_total",
            &[("service", &self.service), ("outcome", outcome), ("reason", reason.code())],
        );
    }

    fn note(&self, settlement: Settlement) {
        if settlement == Settlement::GiveBackRetried {
            self.metrics.inc(
                "l402_proxy_use_retries_total",
                &[("service", self.service.as_str()), ("settlement", settlement.code())],
            );
        }
    }
}

impl Drop for Use {
    fn drop(&mut self) {
        let Some((authorized, paywall)) = self.held.take() else {
            return;
        };
        self.count(Reason::Abandoned);
        // Without a runtime, `Authorized`'s own drop charges it, or the lease does.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (metrics, service) = (Arc::clone(&self.metrics), self.service.clone());
            rt.spawn(async move {
                let finished = paywall.finish(authorized, true).await;
                Use { held: None, metrics, service }.note(finished.settlement);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_marked_status_without_messages_gives_back() {
        let rule = NotDelivered::default();
        let mut h = HeaderMap::new();
        assert_eq!(at_headers(StatusCode::OK, &h, &rule), Reason::Answered);
        assert_eq!(at_headers(StatusCode::NOT_FOUND, &h, &rule), Reason::Answered);
        assert_eq!(at_headers(StatusCode::BAD_GATEWAY, &h, &rule), Reason::NotDelivered);
        h.insert("grpc-status", HeaderValue::from_static("14"));
        assert_eq!(at_headers(StatusCode::OK, &h, &rule), Reason::NotDelivered, "trailers-only");
        h.insert("grpc-status", HeaderValue::from_static("3"));
        assert_eq!(at_headers(StatusCode::OK, &h, &rule), Reason::Answered);
        assert_eq!(at_status(13, false, &rule), Reason::NotDelivered);
        assert_eq!(at_status(13, true, &rule), Reason::MessagesDelivered);
        assert_eq!(at_status(0, false, &rule), Reason::Answered);
        assert!(Reason::MessagesDelivered.charged());
        let none = NotDelivered::none();
        assert_eq!(
            at_headers(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), &none),
            Reason::Answered
        );
    }
}
