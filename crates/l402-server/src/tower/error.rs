//! The one place where errors reach the wire (decision 0602).

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::mint::MintedChallenge;
use crate::Error;

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
            Disposition::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The response for `error`: status from its [`Disposition`], a small RFC 9457 problem body
/// `{"type":"about:blank","title":…,"status":…,"code":…}` with the stable code (and a
/// `detail` only for client errors: server internals never leave the process), the
/// challenge lines when one was minted, `Retry-After` when rate limited.
pub fn problem_response<B: From<String>>(
    error: &Error,
    challenge: Option<&MintedChallenge>,
) -> Response<B> {
    let disposition = Disposition::from(error);
    let status = disposition.status();
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "code": error.code(),
    });
    if let (true, Some(fields)) = (error.is_client_error(), body.as_object_mut()) {
        fields.insert("detail".into(), serde_json::Value::String(error.to_string()));
    }
    let mut response = Response::new(B::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = challenge.filter(|_| disposition == Disposition::PaymentRequired) {
        for v in &c.headers {
            headers.append(WWW_AUTHENTICATE, v.clone());
        }
    }
    if let Error::RateLimited { retry_after } = error {
        headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    response
}
