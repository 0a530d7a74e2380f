#![no_main]
//! The admin API's `Authorization: Bearer` reader: never panics, what it finds is non-empty,
//! has no outer whitespace, and reads back the same when written in the canonical form.

use l402_proxy::bearer::credentials;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    if let Some(c) = credentials(data) {
        assert!(!c.is_empty());
        assert!(c.first() != Some(&b' ') && !matches!(c.last(), Some(b' ' | b'\t')));
        let scheme = data.get(..6).expect("a scheme before the credentials");
        assert!(scheme.eq_ignore_ascii_case(b"bearer"), "{data:?}");
        let mut canonical = b"Bearer ".to_vec();
        canonical.extend_from_slice(c);
        assert_eq!(credentials(&canonical), Some(c), "{data:?}");
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
