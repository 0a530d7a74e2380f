#![no_main]
//! Binary macaroon decoding: never panics; V2 input that decodes re-encodes byte for byte.

use l402_token::Macaroon;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    if let Ok(m) = Macaroon::decode(data) {
        if data.first() == Some(&2) {
            assert_eq!(m.encode(), data);
        }
        let again = Macaroon::decode(&m.encode()).expect("our own encoding decodes");
        assert_eq!(again, m);
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
