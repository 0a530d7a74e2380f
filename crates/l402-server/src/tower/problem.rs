//! The one place where refusals reach the wire (decision 0602), for HTTP and gRPC alike.
//!
//! A [`Problem`] is what a refusal says: a status, a stable code, a gRPC status for gRPC
//! clients, and for client errors a detail. Every refusal the pipeline makes (the paywall's,
//! the route selector's, and the proxy's own failures) is rendered here: RFC 9457
//! problem+json for HTTP, a Trailers-Only answer for gRPC (decision 0807's form for the
//! challenge).

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use l402_http::grpc::Flavor;
use l402_http::ChallengeStyle;

use crate::mint::MintedChallenge;
use crate::Error;

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// How a refusal is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Disposition {
    /// 402 with a fresh challenge: paying again is the remedy (no credential, unknown,
    /// revoked or expired token, allowance used up, token not valid for this request).
    PaymentRequired,
    /// 401 without a challenge: the credential is broken, and paying again would not fix
    /// the client (malformed credential or token, wrong preimage, bad signature, malformed
    /// or escalated caveats).
    Unauthorized,
    /// 429: too many challenges asked for from this client address.
    TooManyRequests,
    /// 405: the route sells no token for this method.
    MethodNotAllowed,
    /// 503: the server or its Lightning node failed; nothing the client sent is at fault.
    Unavailable,
}

impl From<&Error> for Disposition {
    fn from(e: &Error) -> Disposition {
        use l402_caveats::Error as C;
        match e {
            Error::Http(l402_http::Error::MissingCredential) => Disposition::PaymentRequired,
            Error::Http(_) | Error::Token(_) => Disposition::Unauthorized,
            Error::Caveat(C::Escalation { .. } | C::Malformed { .. } | C::Unknown { .. }) => {
                Disposition::Unauthorized
            }
            Error::Caveat(_) | Error::UnknownToken | Error::Revoked => Disposition::PaymentRequired,
            // Paying again would buy a token this server cannot judge either.
            Error::Unverifiable { .. } => Disposition::Unauthorized,
            Error::RateLimited { .. } => Disposition::TooManyRequests,
            Error::MethodNotSold { .. } => Disposition::MethodNotAllowed,
            Error::Lightning(_)
            | Error::Pricing(_)
            | Error::Store(_)
            | Error::Config(_)
            | Error::NoClientAddress => Disposition::Unavailable,
        }
    }
}

impl Disposition {
    /// The status code.
    pub fn status(self) -> StatusCode {
        match self {
            Disposition::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            Disposition::Unauthorized => StatusCode::UNAUTHORIZED,
            Disposition::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Disposition::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Disposition::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// gRPC status codes (the gRPC over HTTP/2 spec's table).
pub mod grpc_code {
    /// The argument (here: the request's host or path) is invalid.
    pub const INVALID_ARGUMENT: u32 = 3;
    /// The deadline passed (here: the upstream did not answer in time).
    pub const DEADLINE_EXCEEDED: u32 = 4;
    /// Nothing is served here.
    pub const NOT_FOUND: u32 = 5;
    /// A quota ran out (rate limits, size limits).
    pub const RESOURCE_EXHAUSTED: u32 = 8;
    /// The method is not offered (here: the route sells no token for it).
    pub const UNIMPLEMENTED: u32 = 12;
    /// An internal error.
    pub const INTERNAL: u32 = 13;
    /// The service cannot be reached now.
    pub const UNAVAILABLE: u32 = 14;
    /// The credential is invalid.
    pub const UNAUTHENTICATED: u32 = 16;
    /// Anything else.
    pub const UNKNOWN: u32 = 2;
}

/// A refusal as it goes on the wire: built from an [`Error`] (`Problem::from(&e)`) or by
/// whoever refuses a request before or instead of the paywall (`Problem::new(404,
/// "no-service")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    grpc: u32,
    message: &'static str,
    detail: Option<String>,
    retry_after: Option<u64>,
    disposition: Option<Disposition>,
}

/// The gRPC status for an HTTP status, as the usual gRPC to HTTP mapping reads it backwards.
fn grpc_for(status: StatusCode) -> u32 {
    use grpc_code::*;
    match status.as_u16() {
        400 => INVALID_ARGUMENT,
        401 => UNAUTHENTICATED,
        404 => NOT_FOUND,
        408 | 413 | 429 => RESOURCE_EXHAUSTED,
        502 | 503 => UNAVAILABLE,
        504 => DEADLINE_EXCEEDED,
        500 => INTERNAL,
        _ => UNKNOWN,
    }
}

impl Problem {
    /// A refusal with `status` and the stable `code`; gRPC clients get the matching gRPC
    /// status with the code as its message.
    pub fn new(status: StatusCode, code: &'static str) -> Problem {
        Problem {
            status,
            code,
            grpc: grpc_for(status),
            message: code,
            detail: None,
            retry_after: None,
            disposition: None,
        }
    }

    /// The gRPC status and message gRPC clients get instead of the defaults.
    pub fn grpc(mut self, code: u32, message: &'static str) -> Problem {
        self.grpc = code;
        self.message = message;
        self
    }

    /// A `detail` member for the problem body (only for what the client did wrong: server
    /// internals never leave the process).
    pub fn detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    /// A `Retry-After` header, in seconds.
    pub fn retry_after(mut self, secs: u64) -> Problem {
        self.retry_after = Some(secs);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Whether paying again is the remedy (the answer then carries a fresh challenge).
    pub fn wants_payment(&self) -> bool {
        self.disposition == Some(Disposition::PaymentRequired)
    }

    /// The answer, in the gRPC form when `grpc` is set.
    pub fn response<B: From<String>>(&self, grpc: Option<Flavor>) -> Response<B> {
        match grpc {
            Some(flavor) => self.grpc_response(flavor),
            None => self.http_response(None),
        }
    }

    /// The 402 answer carrying `challenge`, in the gRPC form when `grpc` is set: Aperture's
    /// status-13 form with the `www-authenticate` lines (decision 0807), or HTTP 402 with
    /// the lines and a problem body that repeats the challenge for clients that read only
    /// the body (`invoice`, `macaroon`, `payment_hash`, `amount_msat`).
    pub fn challenge_response<B: From<String>>(
        &self,
        challenge: &MintedChallenge,
        grpc: Option<Flavor>,
        style: ChallengeStyle,
    ) -> Response<B> {
        let Some(flavor) = grpc else {
            return self.http_response(Some(challenge));
        };
        let mut r = Response::new(B::from(String::new()));
        let h = r.headers_mut();
        if l402_http::grpc::write_challenge(
            h,
            &challenge.macaroon,
            &challenge.invoice.bolt11,
            style,
        )
        .is_err()
        {
            return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "challenge-unencodable")
                .grpc_response(flavor);
        }
        h.insert(CONTENT_TYPE, flavor.content_type());
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    fn http_response<B: From<String>>(&self, challenge: Option<&MintedChallenge>) -> Response<B> {
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("error"),
            "status": self.status.as_u16(),
            "code": self.code,
        });
        if let Some(fields) = body.as_object_mut() {
            if let Some(detail) = &self.detail {
                fields.insert("detail".into(), detail.as_str().into());
            }
            if let Some(c) = challenge {
                fields.insert("invoice".into(), c.invoice.bolt11.as_str().into());
                fields.insert("macaroon".into(), c.macaroon.to_base64().into());
                fields.insert("payment_hash".into(), c.identifier.payment_hash.to_string().into());
                fields.insert("amount_msat".into(), c.amount_msat.into());
            }
        }
        let mut response = Response::new(B::from(body.to_string()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(c) = challenge {
            for v in &c.headers {
                headers.append(WWW_AUTHENTICATE, v.clone());
            }
        }
        self.retry(headers);
        response
    }

    fn grpc_response<B: From<String>>(&self, flavor: Flavor) -> Response<B> {
        let mut r = Response::new(B::from(String::new()));
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, flavor.content_type());
        h.insert(GRPC_STATUS, HeaderValue::from(self.grpc));
        h.insert(GRPC_MESSAGE, HeaderValue::from_static(self.message));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.retry(h);
        r
    }

    fn retry(&self, headers: &mut HeaderMap) {
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
    }
}

impl From<&Error> for Problem {
    fn from(e: &Error) -> Problem {
        use grpc_code::*;
        let disposition = Disposition::from(e);
        let (grpc, message) = match disposition {
            Disposition::PaymentRequired | Disposition::Unauthorized => {
                (UNAUTHENTICATED, "invalid l402 credential")
            }
            Disposition::TooManyRequests => (RESOURCE_EXHAUSTED, "too many challenges"),
            Disposition::MethodNotAllowed => (UNIMPLEMENTED, "method not sold"),
            Disposition::Unavailable => (UNAVAILABLE, "payment backend unavailable"),
        };
        let mut p = Problem::new(disposition.status(), e.code()).grpc(grpc, message);
        p.disposition = Some(disposition);
        if e.is_client_error() {
            p.detail = Some(e.to_string());
        }
        if let Error::RateLimited { retry_after } = e {
            p.retry_after = Some(*retry_after);
        }
        p
    }
}
