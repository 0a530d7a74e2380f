#![no_main]
//! Identifier decoding: never panics; a decoded identifier re-encodes to the same 66 bytes.

use l402_token::Identifier;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    if let Ok(id) = Identifier::decode(data) {
        assert_eq!(id.encode().as_slice(), data);
    }
    let _ = Identifier::decode_lenient(data);
}

fuzz_target!(|data: &[u8]| do_test(data));
