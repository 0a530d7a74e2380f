//! Whether a paid request's use is charged or given back, and why (decision 0813).
//!
//! Once the request may have reached whoever does the work, the client has no way to make
//! it free: hanging up, cancelling, a timeout, a cut body all leave it charged. It is given
//! back only when the work provably never started (the inner service says so with
//! [`Reason::NotSent`]), or the answer carries a status the route marks as "not delivered"
//! ([`NotDelivered`]).

use http::{HeaderMap, HeaderValue, StatusCode};

use crate::NotDelivered;

/// Why a use was charged or given back.
///
/// The layer judges most answers itself; an inner service that answered on the upstream's
/// behalf (a proxy whose upstream failed) says why by putting a `Reason` in its response's
/// extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The answer's status is not marked as "not delivered".
    Answered,
    /// The request was abandoned after it was let through: the client went away, or the
    /// server shut down.
    Abandoned,
    /// The upstream had the request, and its answer did not come in time.
    Timeout,
    /// The upstream had the request, and its answer was broken or never came; or the inner
    /// service failed.
    UpstreamError,
    /// A gRPC response went quiet before its status ([`IdleTimeout`]).
    UpstreamIdle,
    /// A gRPC response ended without a status.
    NoStatus,
    /// A gRPC call ended with a "not delivered" status after sending messages.
    MessagesDelivered,
    /// The request body was cut (too large, too slow) while the upstream was receiving it
    /// (decision 0811).
    BodyCut,
    /// Given back: the upstream never had the request (connect failure, no connection).
    NotSent,
    /// Given back: the status is one the route marks as "not delivered".
    NotDelivered,
}

impl Reason {
    /// The stable code (a metric label, `code` in logs).
    pub fn code(self) -> &'static str {
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
    pub fn charged(self) -> bool {
        !matches!(self, Reason::NotSent | Reason::NotDelivered)
    }

    /// The verdict for an answer whose outcome is known from its headers: an HTTP status,
    /// or a trailers-only gRPC status.
    pub(crate) fn at_headers(
        status: StatusCode,
        headers: &HeaderMap,
        rule: &NotDelivered,
    ) -> Reason {
        let given_back = match l402_http::grpc::status(headers) {
            Some(code) => rule.grpc(code),
            None => rule.http(status),
        };
        if given_back {
            Reason::NotDelivered
        } else {
            Reason::Answered
        }
    }

    /// The verdict for a gRPC call that ended with `code`.
    pub(crate) fn at_status(code: u32, delivered: bool, rule: &NotDelivered) -> Reason {
        match (rule.grpc(code), delivered) {
            (false, _) => Reason::Answered,
            (true, true) => Reason::MessagesDelivered,
            (true, false) => Reason::NotDelivered,
        }
    }
}

/// The error a response body ends with when its producer went quiet mid-body (a proxy's idle
/// timeout, decision 0808). On a paid gRPC call the layer then ends the call with
/// [`IdleTimeout::trailers`] and charges the use: the upstream had the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleTimeout;

impl IdleTimeout {
    /// DEADLINE_EXCEEDED, "upstream idle timeout": the status a gRPC call that went quiet
    /// ends with.
    pub fn trailers() -> HeaderMap {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from(super::grpc_code::DEADLINE_EXCEEDED));
        t.insert("grpc-message", HeaderValue::from_static("upstream idle timeout"));
        t
    }
}

impl core::fmt::Display for IdleTimeout {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("upstream idle timeout")
    }
}

impl std::error::Error for IdleTimeout {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_marked_status_without_messages_gives_back() {
        let rule = NotDelivered::default();
        let mut h = HeaderMap::new();
        assert_eq!(Reason::at_headers(StatusCode::OK, &h, &rule), Reason::Answered);
        assert_eq!(Reason::at_headers(StatusCode::NOT_FOUND, &h, &rule), Reason::Answered);
        assert_eq!(Reason::at_headers(StatusCode::BAD_GATEWAY, &h, &rule), Reason::NotDelivered);
        h.insert("grpc-status", HeaderValue::from_static("14"));
        assert_eq!(Reason::at_headers(StatusCode::OK, &h, &rule), Reason::NotDelivered);
        h.insert("grpc-status", HeaderValue::from_static("3"));
        assert_eq!(Reason::at_headers(StatusCode::OK, &h, &rule), Reason::Answered);
        assert_eq!(Reason::at_status(13, false, &rule), Reason::NotDelivered);
        assert_eq!(Reason::at_status(13, true, &rule), Reason::MessagesDelivered);
        assert_eq!(Reason::at_status(0, false, &rule), Reason::Answered);
        assert!(Reason::MessagesDelivered.charged());
        let none = NotDelivered::none();
        let h = HeaderMap::new();
        assert_eq!(
            Reason::at_headers(StatusCode::SERVICE_UNAVAILABLE, &h, &none),
            Reason::Answered
        );
    }
}
