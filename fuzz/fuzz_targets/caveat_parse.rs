#![no_main]
//! Caveat parsing: never panics; what parses prints back to the same bytes; the engine gives
//! a verdict or a stable code for any caveat list.

use l402_caveats::{Caveat, Context, Verifier};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    if let Ok(c) = Caveat::parse(data) {
        assert_eq!(c.encode(), data);
        assert_eq!(Caveat::parse(&c.encode()).as_ref(), Ok(&c));
    }
    // The same bytes as a caveat list, split at newlines, judged in both modes.
    let ctx = Context::new()
        .with_service("svc")
        .with_capability("read")
        .with_now(1_700_000_000)
        .with_method("GET")
        .with_path("/api/")
        .with_client(std::net::IpAddr::from([203, 0, 113, 7]))
        .with_prior_uses(1);
    for strict in [false, true] {
        let r = Verifier::new().strict(strict).verify_caveats(data.split(|b| *b == b'\n'), &ctx);
        if let Err(e) = r {
            assert!(l402_caveats::Error::CODES.contains(&e.code()));
        }
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
