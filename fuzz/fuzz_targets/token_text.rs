#![no_main]
//! Text decoding (base64 and hex forms): never panics; what decodes re-encodes to an equal token.

use l402_token::Macaroon;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for m in [Macaroon::from_base64(s), Macaroon::from_hex(s)].into_iter().flatten() {
        assert_eq!(Macaroon::from_base64(&m.to_base64()).as_ref(), Ok(&m));
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
