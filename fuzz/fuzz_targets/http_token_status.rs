#![no_main]
//! `L402-Token-Status` reading: never panics; whatever it reads prints back to a value that
//! reads to the same status.

use l402_http::TokenStatus;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(status) = TokenStatus::parse(text) else { return };
    if let Some(printed) = status.to_header_value() {
        let again = TokenStatus::parse(printed.to_str().expect("printed ASCII"));
        assert_eq!(again, Some(status));
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
