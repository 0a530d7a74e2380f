#![no_main]
//! BOLT 11 parsing and the JSON view: never panics on any string.

use l402_lightning::Invoice;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(inv) = Invoice::parse(s) {
        // A parsed invoice always has a view, and parsing is a function of the text.
        let _ = inv.view();
        assert!(Invoice::parse(s).is_ok());
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
