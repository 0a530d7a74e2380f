#![no_main]
//! Path normalisation before route matching: never panics; what it returns is a fixed point
//! with no empty, `.` or `..` segment, no `;`, no `%25` before hex, escapes only for bytes
//! that need them (upper-case hex) and UTF-8 once decoded, so no second spelling can reach a
//! route (decisions 0801, 0809). Matching options only ever widen a match, and a paid prefix
//! covers whatever a free one does.
//!
//! Input: one flag byte (bit 0 `case_insensitive`, bit 1 `strip_trailing_dots`), then the
//! path, then optionally `\n` and a prefix.

use l402_http::path::normalize;
use l402_proxy::path::{covers, under, Lean, Matching};
use libfuzzer_sys::fuzz_target;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks the normal form's spelling; returns its decoded bytes.
fn decoded(n: &str) -> Vec<u8> {
    let b = n.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        assert!(c.is_ascii() && c > b' ' && c != 0x7F, "{n:?}");
        assert!(c != b';' && c != b'\\', "{n:?}");
        if c == b'%' {
            let v = match (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                (Some(hi), Some(lo)) => hi * 16 + lo,
                _ => panic!("escape not in upper-case hex: {n:?}"),
            };
            assert!(!v.is_ascii_alphanumeric() && !b"-._~!$&'()*+,=:@/;".contains(&v), "{n:?}");
            out.push(v);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn do_test(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(s) = std::str::from_utf8(rest) else { return };
    let (path, prefix) = s.split_once('\n').unwrap_or((s, "/"));
    let Ok(n) = normalize(path) else { return };
    assert!(n.starts_with('/'), "{n:?}");
    assert_eq!(normalize(&n).as_deref(), Ok(&*n), "not idempotent: {path:?}");
    let inner = n.strip_suffix('/').unwrap_or(&n);
    for seg in inner.split('/').skip(1) {
        assert!(!seg.is_empty() && seg != "." && seg != "..", "{path:?} -> {n:?}");
    }
    let bytes = decoded(&n);
    let text = String::from_utf8(bytes).expect("decodes to UTF-8");
    assert!(!text.as_bytes().windows(3).any(|w| w[0] == b'%'
        && w[1].is_ascii_hexdigit()
        && w[2].is_ascii_hexdigit()), "double encoding survived: {n:?}");
    let Ok(p) = normalize(prefix) else { return };
    let m = Matching::new(flags & 1 != 0, flags & 2 != 0);
    if under(&n, &p) {
        assert!(covers(&n, &p, m, Lean::Free), "{n:?} {p:?}");
    }
    if covers(&n, &p, m, Lean::Free) {
        assert!(covers(&n, &p, m, Lean::Paid), "{n:?} {p:?}");
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
