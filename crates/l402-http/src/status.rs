//! `L402-Token-Status: expires=<unix seconds>, remaining=<uses>`: what a token still buys
//! after the request a response answers (decision 0604). The server writes it, the client
//! reads it; both sides live here so they cannot drift apart.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The response header name, lower case as HTTP/2 sends it.
pub const TOKEN_STATUS: HeaderName = HeaderName::from_static("l402-token-status");

/// RFC 8941 integers have at most 15 digits.
const MAX_DIGITS: usize = 15;
const MAX_INTEGER: u64 = 999_999_999_999_999;

/// What a token still buys after the request it answers.
///
/// Written as an RFC 8941 dictionary of integers, `expires=<unix seconds>, remaining=<uses>`;
/// a member is left out when the token has no such limit, so a header with neither member is
/// never sent. Readers skip members, booleans and parameters they do not know, and the last
/// of a repeated member wins (RFC 8941). Other servers do not send it: a client reports it
/// and must not depend on it.
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

    /// [`TokenStatus::expires`] as a time.
    pub fn expires_at(&self) -> Option<SystemTime> {
        let secs = u64::try_from(self.expires?).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_secs(secs))
    }

    /// The header value, or `None` when [`TokenStatus::is_empty`]. Values beyond RFC 8941's
    /// 15 digits are clamped, negative expiries to 0.
    pub fn to_header_value(&self) -> Option<HeaderValue> {
        let mut parts = Vec::new();
        if let Some(e) = self.expires {
            let e = u64::try_from(e).unwrap_or(0).min(MAX_INTEGER);
            parts.push(format!("expires={e}"));
        }
        if let Some(r) = self.remaining {
            parts.push(format!("remaining={}", r.min(MAX_INTEGER)));
        }
        if parts.is_empty() {
            return None;
        }
        HeaderValue::try_from(parts.join(", ")).ok()
    }

    /// Parses one header value; `None` when it is not an RFC 8941 dictionary whose known
    /// members are non-negative integers.
    pub fn parse(value: &str) -> Option<TokenStatus> {
        let mut status = TokenStatus::default();
        status.read(value)?;
        Some(status)
    }

    /// Reads the header from a response's headers. `None` when it is absent, says nothing
    /// (neither member), or any line cannot be read: a header we cannot read is treated as
    /// one never sent. Several lines are one dictionary (RFC 8941 joins them with commas).
    pub fn from_headers(headers: &HeaderMap) -> Option<TokenStatus> {
        let mut status = TokenStatus::default();
        let mut seen = false;
        for value in headers.get_all(TOKEN_STATUS) {
            status.read(value.to_str().ok()?)?;
            seen = true;
        }
        (seen && !status.is_empty()).then_some(status)
    }

    fn read(&mut self, value: &str) -> Option<()> {
        for member in value.split(',') {
            let member = member.trim_matches([' ', '\t']);
            // A bare key is a boolean member (RFC 8941): unknown to us, so skipped.
            let (key, v) = member.split_once('=').unwrap_or((member, "?1"));
            if !is_key(key) {
                return None;
            }
            // Parameters (`;name=value`) may follow any value; none are defined for ours.
            let v = v.split_once(';').map_or(v, |(v, _)| v);
            match key {
                "expires" => self.expires = Some(i64::try_from(integer(v)?).ok()?),
                "remaining" => self.remaining = Some(integer(v)?),
                _ => {}
            }
        }
        Some(())
    }
}

/// An RFC 8941 key: a lower-case letter or `*`, then lower-case letters, digits, `_-.*`.
fn is_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')
        })
}

/// A non-negative RFC 8941 integer; a sign, fraction, string or 16th digit is refused.
fn integer(v: &str) -> Option<u64> {
    if v.is_empty() || v.len() > MAX_DIGITS || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}
