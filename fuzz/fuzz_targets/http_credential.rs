#![no_main]
//! `Authorization` and hex-macaroon credential parsing: never panics; a parsed credential
//! re-emits in both forms and parses back to the same macaroon(s) and preimage.

use l402_http::{Credential, CredentialSource};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let parsed = [
        Credential::parse_authorization(s),
        Credential::parse_hex(s, CredentialSource::Macaroon),
    ];
    for c in parsed.into_iter().flatten() {
        let auth = c.to_authorization_value();
        let back = Credential::parse_authorization(auth.to_str().expect("ascii")).expect("parses");
        assert_eq!((&back.macaroon, &back.others, &back.preimage), (&c.macaroon, &c.others, &c.preimage));
        let hex = c.to_hex_value();
        let back = Credential::parse_hex(hex.to_str().expect("ascii"), CredentialSource::Macaroon)
            .expect("parses");
        assert_eq!(back.preimage, c.preimage);
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
