//! `L402-Token-Status`: what a token still buys, sent on every authenticated response
//! (decision 0604).

use http::{HeaderName, HeaderValue};

/// The response header name, lower case as HTTP/2 sends it.
pub const TOKEN_STATUS: HeaderName = HeaderName::from_static("l402-token-status");

/// RFC 8941 integers have at most 15 digits.
const MAX_DIGITS: usize = 15;

/// What a token still buys after the request it answers.
///
/// Written as an RFC 8941 dictionary of integers, `expires=<unix seconds>, remaining=<uses>`;
/// a member is left out when the token has no such limit, so a header with neither member is
/// never sent. Readers ignore members they do not know, and the last of a repeated member
/// wins (RFC 8941).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenStatus {
    /// The first second at which the token stops being accepted (Unix seconds).
    pub expires: Option<i64>,
    /// Requests the token may still make; 0 means the next request needs a new token.
    pub remaining: Option<u64>,
}

impl TokenStatus {
    /// True when there is nothing to say (no expiry, no allowance).
    pub fn is_empty(&self) -> bool {
        self.expires.is_none() && self.remaining.is_none()
    }

    /// The header value, or `None` when [`TokenStatus::is_empty`].
    pub fn to_header_value(&self) -> Option<HeaderValue> {
        let mut parts = Vec::new();
        if let Some(e) = self.expires {
            parts.push(format!("expires={}", e.clamp(0, 999_999_999_999_999)));
        }
        if let Some(r) = self.remaining {
            parts.push(format!("remaining={}", r.min(999_999_999_999_999)));
        }
        if parts.is_empty() {
            return None;
        }
        HeaderValue::try_from(parts.join(", ")).ok()
    }

    /// Parses a header value; `None` when it is not a dictionary whose known members are
    /// non-negative integers.
    pub fn parse(value: &str) -> Option<TokenStatus> {
        let mut status = TokenStatus::default();
        for member in value.split(',') {
            let member = member.trim_matches([' ', '\t']);
            let (key, v) = member.split_once('=')?;
            if key.is_empty()
                || !key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return None;
            }
            match key {
                "expires" => status.expires = Some(i64::try_from(integer(v)?).ok()?),
                "remaining" => status.remaining = Some(integer(v)?),
                _ => {}
            }
        }
        Some(status)
    }
}

fn integer(v: &str) -> Option<u64> {
    if v.is_empty() || v.len() > MAX_DIGITS || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}
