#![no_main]
//! `grpc-status-details-bin` decoding (hand-written protobuf): never panics; a usable challenge
//! re-encodes in the legacy form and decodes back to the same macaroon and invoice.

use base64::Engine as _;
use l402_http::grpc;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    // Raw protobuf bytes are the interesting input; the base64 layer is the base64 crate's.
    let value = base64::engine::general_purpose::STANDARD.encode(data);
    let Ok(parsed) = grpc::legacy_challenge(&value) else { return };
    if let Some(c) = parsed.as_l402() {
        let again = base64::engine::general_purpose::STANDARD
            .encode(grpc::status_details(&c.macaroon, &c.invoice));
        let back = grpc::legacy_challenge(&again).expect("re-encoded details decode");
        let back = back.as_l402().expect("usable");
        assert_eq!((&back.macaroon, &back.invoice), (&c.macaroon, &c.invoice));
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
