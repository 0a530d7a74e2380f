//! Which answers give a reserved use back (decision 0813).
//!
//! Once a request has reached the handler or the upstream, the client must have no way to
//! choose between "charged" and "free": hanging up, cancelling, or waiting out a timeout all
//! leave the use counted. A use is given back only when the request provably never reached
//! whoever does the work (a failed connect, which only the proxy can see), or when the answer
//! carries a status the operator marks as "not delivered", listed here.

use http::StatusCode;

/// The statuses that mean "the work was not done": an answer with one of them gives the use
/// back. The default lists every HTTP 5xx and the gRPC codes the usual gRPC to HTTP mapping
/// sends to 5xx (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
/// DATA_LOSS); [`NotDelivered::none`] charges every answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotDelivered {
    /// Sorted, without duplicates.
    http: Vec<u16>,
    /// Sorted, without duplicates.
    grpc: Vec<u32>,
}

impl Default for NotDelivered {
    fn default() -> Self {
        NotDelivered::new(NotDelivered::DEFAULT_HTTP, NotDelivered::DEFAULT_GRPC)
    }
}

fn sorted<T: Ord>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = items.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl NotDelivered {
    /// The HTTP statuses given back by default: every server error.
    pub const DEFAULT_HTTP: core::ops::RangeInclusive<u16> = 500..=599;
    /// The gRPC codes given back by default.
    pub const DEFAULT_GRPC: [u32; 6] = [2, 4, 12, 13, 14, 15];

    /// These HTTP statuses and gRPC codes give the use back.
    pub fn new(
        http: impl IntoIterator<Item = u16>,
        grpc: impl IntoIterator<Item = u32>,
    ) -> NotDelivered {
        NotDelivered { http: sorted(http), grpc: sorted(grpc) }
    }

    /// Nothing is given back: every answer is charged.
    pub fn none() -> NotDelivered {
        NotDelivered { http: Vec::new(), grpc: Vec::new() }
    }

    /// Whether an answer with this HTTP status gives the use back.
    pub fn http(&self, status: StatusCode) -> bool {
        self.http.binary_search(&status.as_u16()).is_ok()
    }

    /// Whether a gRPC call ending with this status, having sent no message, gives the use
    /// back. A call that delivered a message is charged whatever its status.
    pub fn grpc(&self, code: u32) -> bool {
        self.grpc.binary_search(&code).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_gives_back_server_errors_only() {
        let d = NotDelivered::default();
        for s in [500, 502, 503, 504, 599] {
            assert!(d.http(StatusCode::from_u16(s).unwrap_or_default()), "{s}");
        }
        for s in [200, 201, 204, 301, 400, 402, 404, 408, 429, 499] {
            assert!(!d.http(StatusCode::from_u16(s).unwrap_or_default()), "{s}");
        }
        let grpc: Vec<u32> = (0..=20).filter(|c| d.grpc(*c)).collect();
        assert_eq!(grpc, vec![2, 4, 12, 13, 14, 15]);
    }

    #[test]
    fn an_explicit_list_replaces_the_default() {
        let d = NotDelivered::new([503, 409, 503], [14]);
        assert!(d.http(StatusCode::CONFLICT));
        assert!(d.http(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!d.http(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(d.grpc(14));
        assert!(!d.grpc(13));
        let none = NotDelivered::none();
        assert!(!none.http(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!none.grpc(14));
    }
}
