//! `L402-Token-Status`: what our server writes reads back, what other RFC 8941 writers may
//! send is read, and what cannot be read counts as never sent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use l402_http::{TokenStatus, TOKEN_STATUS};
use proptest::prelude::*;

fn unix(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[test]
fn written_as_a_dictionary_of_integers() {
    let s = TokenStatus { expires: Some(1_700_000_000), remaining: Some(4) };
    let v = s.to_header_value();
    assert_eq!(v.as_ref().and_then(|v| v.to_str().ok()), Some("expires=1700000000, remaining=4"));
    assert_eq!(s.expires_at(), unix(1_700_000_000));
    // Nothing to say is no header; out-of-range values are clamped to what RFC 8941 allows.
    assert_eq!(TokenStatus::default().to_header_value(), None);
    let wide = TokenStatus { expires: Some(-5), remaining: Some(u64::MAX) };
    let v = wide.to_header_value();
    assert_eq!(
        v.as_ref().and_then(|v| v.to_str().ok()),
        Some("expires=0, remaining=999999999999999")
    );
}

#[test]
fn reads_what_other_writers_may_send_and_refuses_what_it_cannot_read() {
    let read = |v: &str| TokenStatus::parse(v).map(|s| (s.expires, s.remaining));
    assert_eq!(read("expires=10, remaining=3"), Some((Some(10), Some(3))));
    assert_eq!(read("remaining=0"), Some((None, Some(0))));
    // Unknown members, booleans and parameters are skipped; the last repeated member wins.
    assert_eq!(read("v=2, remaining=5;x=1, fresh, remaining=4\t"), Some((None, Some(4))));
    assert_eq!(read("a=\"b\", expires=7"), Some((Some(7), None)));
    assert_eq!(read("remaining=2, future=7"), Some((None, Some(2))));
    for junk in [
        "",
        "remaining=-1",
        "remaining=1.5",
        "remaining=\"3\"",
        "expires=1234567890123456",
        "Remaining=3",
        "remaining=3,",
        "=3",
        "remaining=",
        "expires=",
        "9lives=1",
    ] {
        assert_eq!(read(junk), None, "{junk:?}");
    }
}

#[test]
fn several_lines_are_one_dictionary_and_one_bad_line_spoils_it() {
    let mut h = HeaderMap::new();
    assert_eq!(TokenStatus::from_headers(&h), None);
    h.append(TOKEN_STATUS, HeaderValue::from_static("expires=9"));
    h.append(TOKEN_STATUS, HeaderValue::from_static("remaining=2, expires=8"));
    assert_eq!(
        TokenStatus::from_headers(&h),
        Some(TokenStatus { expires: Some(8), remaining: Some(2) })
    );
    h.append(TOKEN_STATUS, HeaderValue::from_static("remaining=x"));
    assert_eq!(TokenStatus::from_headers(&h), None);
    // Nothing said is nothing read.
    let mut h = HeaderMap::new();
    h.insert(TOKEN_STATUS, HeaderValue::from_static("v=1"));
    assert_eq!(TokenStatus::from_headers(&h), None);
    // Not text.
    let mut h = HeaderMap::new();
    h.insert(
        TOKEN_STATUS,
        HeaderValue::from_bytes(b"remaining=\xff").unwrap_or(HeaderValue::from_static("")),
    );
    assert_eq!(TokenStatus::from_headers(&h), None);
}

proptest! {
    #[test]
    fn parse_inverts_print(
        expires in proptest::option::of(0i64..=999_999_999_999_999),
        remaining in proptest::option::of(0u64..=999_999_999_999_999),
    ) {
        let s = TokenStatus { expires, remaining };
        let mut h = HeaderMap::new();
        match s.to_header_value() {
            Some(v) => {
                prop_assert_eq!(TokenStatus::parse(v.to_str().unwrap_or_default()), Some(s));
                h.insert(TOKEN_STATUS, v);
                prop_assert_eq!(TokenStatus::from_headers(&h), Some(s));
            }
            None => prop_assert!(s.is_empty()),
        }
    }

    #[test]
    fn parse_never_panics_and_reads_only_what_it_prints(v in "\\PC{0,64}") {
        // Whatever it accepts prints back to a value that parses to the same status.
        if let Some(s) = TokenStatus::parse(&v) {
            if let Some(printed) = s.to_header_value() {
                prop_assert_eq!(TokenStatus::parse(printed.to_str().unwrap_or_default()), Some(s));
            }
        }
    }
}
