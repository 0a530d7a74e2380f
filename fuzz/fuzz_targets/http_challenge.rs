#![no_main]
//! `WWW-Authenticate` parsing: never panics; a usable challenge re-emits and parses back to the
//! same macaroon and invoice; an opaque token is offered only when no macaroon is, and as written.

use l402_http::{challenge_values, parse_challenges, select, select_opaque, ChallengeStyle};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(items) = parse_challenges(s) else { return };
    if let Some(o) = select_opaque(&items) {
        assert!(select(&items).is_err(), "opaque offered beside a usable macaroon");
        assert!(s.contains(&o.token) && !o.token.contains(':'), "token not as written");
    }
    for c in items.iter().filter_map(|i| i.as_l402()) {
        for style in [ChallengeStyle::Aperture, ChallengeStyle::L402, ChallengeStyle::VersionToken] {
            let lines = challenge_values(&c.macaroon, &c.invoice, style).expect("parsed values re-emit");
            for line in lines {
                let back = parse_challenges(line.to_str().expect("ascii")).expect("emitted parses");
                let back = back.first().and_then(|b| b.as_l402()).expect("usable");
                assert_eq!((&back.macaroon, &back.invoice), (&c.macaroon, &c.invoice));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
