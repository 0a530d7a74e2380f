//! The attenuation helpers: one call narrows, widening is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use l402_caveats::{Attenuate, Caveat, Context, IpNet, Verifier};
use l402_token::{Identifier, Macaroon, PaymentHash, TokenId};

const ROOT: [u8; 32] = [9; 32];

fn minted() -> Macaroon {
    let id = Identifier { payment_hash: PaymentHash([1; 32]), token_id: TokenId([2; 32]) };
    Macaroon::new_l402(&ROOT, &id)
        .with_caveat("services=weather:1,maps:0")
        .with_caveat("weather_capabilities=")
        .with_caveat("weather_valid_until=2000")
}

fn last_caveat(m: &Macaroon) -> String {
    String::from_utf8(m.first_party_caveats().last().unwrap().to_vec()).unwrap()
}

#[test]
fn each_helper_appends_its_caveat_and_keeps_the_signature_valid() {
    let m = minted();
    let cases: Vec<(Macaroon, &str)> = vec![
        (m.restrict_to_service("weather").unwrap(), "services=weather:1"),
        (
            m.restrict_capabilities("weather", &["forecast", "history"]).unwrap(),
            "weather_capabilities=forecast,history",
        ),
        (m.valid_until("weather", 1500).unwrap(), "weather_valid_until=1500"),
        (m.expire_at(1_700_000_000).unwrap(), "expires_at=2023-11-14T22:13:20Z"),
        (m.limit_paths("/v1/").unwrap(), "path_prefix=/v1/"),
        (m.limit_methods(&["GET", "HEAD"]).unwrap(), "methods=GET,HEAD"),
        (
            m.limit_clients(&[IpNet::parse("203.0.113.0/24").unwrap()]).unwrap(),
            "client_ip=203.0.113.0/24",
        ),
        (m.limit_uses(10).unwrap(), "max_uses=10"),
    ];
    for (t, want) in cases {
        assert_eq!(last_caveat(&t), want);
        assert_eq!(t.verify_signature(&ROOT), Ok(()), "{want}");
        assert_eq!(t.first_party_caveats().count(), 4);
    }
}

#[test]
fn widening_is_refused_with_caveat_escalation() {
    let m = minted();
    let code = |r: Result<Macaroon, l402_caveats::Error>| r.map(|_| ()).map_err(|e| e.code());
    assert_eq!(code(m.restrict_to_service("news")), Err("caveat-escalation"));
    assert_eq!(code(m.valid_until("weather", 2001)), Err("caveat-escalation"));
    let narrowed = m.restrict_capabilities("weather", &["forecast"]).unwrap();
    assert_eq!(
        code(narrowed.restrict_capabilities("weather", &["forecast", "x"])),
        Err("caveat-escalation")
    );
    assert_eq!(code(narrowed.restrict_capabilities("weather", &[])), Err("malformed-caveat"));
    let paths = m.limit_paths("/v1/").unwrap();
    assert_eq!(code(paths.limit_paths("/")), Err("caveat-escalation"));
    assert!(paths.limit_paths("/v1/forecast").is_ok());
    let methods = m.limit_methods(&["GET", "HEAD"]).unwrap();
    assert_eq!(code(methods.limit_methods(&["POST"])), Err("caveat-escalation"));
    let uses = m.limit_uses(5).unwrap();
    assert_eq!(code(uses.limit_uses(6)), Err("caveat-escalation"));
    assert!(uses.limit_uses(5).is_ok());
    let exp = m.expire_at(1000).unwrap();
    assert_eq!(code(exp.expire_at(1001)), Err("caveat-escalation"));
    let ip = m.limit_clients(&[IpNet::parse("10.0.0.0/8").unwrap()]).unwrap();
    assert_eq!(
        code(ip.limit_clients(&[IpNet::parse("11.0.0.1").unwrap()])),
        Err("caveat-escalation")
    );
}

#[test]
fn unencodable_values_are_refused() {
    let m = minted();
    let code = |r: Result<Macaroon, l402_caveats::Error>| r.map(|_| ()).map_err(|e| e.code());
    assert_eq!(code(m.restrict_to_service("a,b")), Err("caveat-escalation"));
    assert_eq!(code(m.limit_methods(&["GET POST"])), Err("malformed-caveat"));
    assert_eq!(code(m.limit_methods(&[])), Err("malformed-caveat"));
    assert_eq!(code(m.limit_paths("relative")), Err("malformed-caveat"));
    assert_eq!(code(m.expire_at(i64::MAX)), Err("malformed-caveat"));
    assert_eq!(code(m.restrict_capabilities("weather", &["a,b"])), Err("malformed-caveat"));
    assert_eq!(code(m.limit_clients(&[])), Err("malformed-caveat"));
}

#[test]
fn a_malformed_earlier_caveat_blocks_attenuation_of_its_condition() {
    let m = minted().with_caveat("max_uses=ten");
    let e = m.limit_uses(1).unwrap_err();
    assert_eq!(e.code(), "malformed-caveat");
    // Other conditions are still fine.
    assert!(m.limit_methods(&["GET"]).is_ok());
}

#[test]
fn a_delegated_token_is_judged_narrower() {
    let m = minted();
    let d = m
        .restrict_to_service("weather")
        .and_then(|t| t.limit_paths("/v1/"))
        .and_then(|t| t.limit_uses(2))
        .unwrap();
    let ctx = Context::new().with_service("weather").with_now(100).with_path("/v1/today");
    let v = Verifier::new().verify(&d, &ctx).unwrap();
    assert_eq!(v.max_uses, Some(2));
    assert_eq!(v.deadline, Some(2000));
    let maps = ctx.clone().with_service("maps");
    assert!(Verifier::new().verify(&m, &maps).is_ok());
    assert_eq!(Verifier::new().verify(&d, &maps).unwrap_err().code(), "wrong-service");
    // And the attenuate entry point takes any typed caveat.
    let t = d.attenuate(&Caveat::parse(b"note=hello").unwrap()).unwrap();
    assert_eq!(last_caveat(&t), "note=hello");
}
