#![no_main]
//! Path normalisation before route matching: never panics, and what it returns is a fixed
//! point with no empty, `.` or `..` segment left, so no second spelling can reach a route.

use l402_proxy::path::normalize;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(n) = normalize(s) {
        assert!(n.starts_with('/'), "{n:?}");
        assert_eq!(normalize(&n).as_deref(), Ok(n.as_str()), "not idempotent: {s:?}");
        let inner = n.strip_suffix('/').unwrap_or(&n);
        for seg in inner.split('/').skip(1) {
            assert!(!seg.is_empty() && seg != "." && seg != "..", "{s:?} -> {n:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
