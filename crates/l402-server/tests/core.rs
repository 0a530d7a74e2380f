//! The sans-IO pieces: the verifier core and its order, the key ring, the wire mapping, and
//! the two parsers (`L402-Token-Status`, forwarding headers) with property tests.
#![allow(clippy::indexing_slicing, reason = "tests: a wrong index fails the test, as it should")]

use std::net::IpAddr;

use http::HeaderMap;
use l402_caveats::{Context, Verifier};
use l402_http::Credential;
use l402_server::client::{forwarded_hops, parse_forwarded, parse_node, x_forwarded_for_hops};
use l402_server::tower::{Disposition, Problem};
use l402_server::verify::{identify, verify};
use l402_server::{macaroon, Error, KeyRing, Price, RootKey, Route, TrustedProxies};
use l402_token::{Identifier, Macaroon, Preimage};
use proptest::prelude::*;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const NOW: i64 = 1_700_000_000;

fn minted(route: &Route) -> Result<(Credential, RootKey)> {
    let preimage = Preimage::from_bytes([0x11; 32]);
    let id = Identifier::random(preimage.payment_hash())?;
    let key = RootKey([7; 32]);
    let mac = macaroon(&key, &id, &route.caveats_at(NOW)?);
    Ok((Credential::new(mac, preimage), key))
}

fn ctx() -> Context {
    Context::new().with_service("weather").with_now(NOW).with_method("GET").with_path("/x")
}

fn route() -> Route {
    Route::new("weather", Price::msat(1_000))
        .valid_for(std::time::Duration::from_secs(60))
        .max_uses(3)
}

#[test]
fn core_accepts_a_good_token_and_reports_allowance_and_deadline() -> Result {
    let (c, key) = minted(&route())?;
    let accepted = verify(&c, &key, &ctx(), &Verifier::new())?;
    assert_eq!(accepted.verdict.max_uses, Some(3));
    assert_eq!(accepted.verdict.deadline, Some(NOW + 60));
    assert_eq!(identify(&c)?, accepted.identifier);
    Ok(())
}

#[test]
fn core_reports_failures_in_the_documented_order() -> Result {
    let (c, key) = minted(&route())?;
    let v = Verifier::new();
    let code = |c: &Credential, k: &RootKey, cx: &Context| {
        verify(c, k, cx, &v).err().map(|e| e.code()).unwrap_or("accepted")
    };
    // Preimage before signature: a wrong key and a wrong preimage report the preimage.
    let wrong_pre = Credential::new(c.macaroon.clone(), Preimage::from_bytes([2; 32]));
    assert_eq!(code(&wrong_pre, &RootKey([0; 32]), &ctx()), "wrong-preimage");
    // Signature before caveats: an expired token under the wrong key is a bad signature.
    let later = ctx().with_now(NOW + 61);
    assert_eq!(code(&c, &RootKey([0; 32]), &later), "invalid-signature");
    assert_eq!(code(&c, &key, &later), "expired");
    // Identifier before everything.
    let odd = Macaroon::new(&key.0, b"\0\0short", None);
    let odd = Credential::new(odd, c.preimage.clone());
    assert_eq!(code(&odd, &key, &ctx()), "malformed-identifier");
    assert_eq!(identify(&odd).err().map(|e| e.code()), Some("malformed-identifier"));
    assert_eq!(code(&c, &key, &ctx().with_service("other")), "wrong-service");
    Ok(())
}

#[test]
fn key_ring_derives_stable_keys_and_honours_the_overlap() -> Result {
    let mut ring = KeyRing::new(7, [1; 32]).with_overlap(std::time::Duration::from_secs(100));
    let tid = ring.token_id()?;
    assert_eq!(KeyRing::key_id_of(&tid), 7);
    let id = Identifier { payment_hash: l402_token::PaymentHash([3; 32]), token_id: tid };
    let k1 = ring.root_key(&id, NOW).ok_or("current key")?;
    assert_eq!(ring.root_key(&id, NOW + 1_000_000), Some(k1.clone()), "current keys never lapse");
    let other = Identifier { payment_hash: l402_token::PaymentHash([4; 32]), token_id: tid };
    assert_eq!(ring.root_key(&other, NOW), Some(k1.clone()), "a function of the token id only");

    ring.rotate(8, [2; 32], NOW)?;
    assert!(ring.rotate(7, [3; 32], NOW).is_err(), "a key id is never reused");
    assert_eq!(KeyRing::key_id_of(&ring.token_id()?), 8);
    assert_eq!(ring.root_key(&id, NOW + 99), Some(k1));
    assert_eq!(ring.root_key(&id, NOW + 100), None);
    let unknown =
        Identifier { payment_hash: id.payment_hash, token_id: l402_token::TokenId([0; 32]) };
    assert_eq!(ring.root_key(&unknown, NOW), None);
    Ok(())
}

/// The derivation pinned to bytes computed outside this code base (Python's `hmac` module):
/// `HMAC-SHA256(master, "l402-server root key v2" || token_id)`, decision 0601.
#[test]
fn derived_root_keys_match_an_independent_hmac() -> Result {
    let ring = KeyRing::new(7, [1; 32]);
    let mut tid = [0x5a; 32];
    tid[..4].copy_from_slice(&7u32.to_be_bytes());
    let id = Identifier {
        payment_hash: l402_token::PaymentHash([3; 32]),
        token_id: l402_token::TokenId(tid),
    };
    let key = ring.root_key(&id, NOW).ok_or("current key")?;
    assert_eq!(hex(&key.0), "a752ce8cf79192e7e78f7ea07b9533e09ab03f260e00a04e8a950af6cf370ad4");
    Ok(())
}

/// Two identifiers sharing a token id share a derived key, so the payment hash must be bound
/// by the signature: a token whose identifier is swapped for another payment hash fails.
#[test]
fn a_swapped_payment_hash_breaks_the_signature_of_a_derived_token() -> Result {
    let ring = KeyRing::new(1, [9; 32]);
    let paid = Preimage::from_bytes([0x11; 32]);
    let id = Identifier { payment_hash: paid.payment_hash(), token_id: ring.token_id()? };
    let key = ring.root_key(&id, NOW).ok_or("current key")?;
    let good = macaroon(&key, &id, &route().caveats_at(NOW)?);
    let cred = Credential::new(good.clone(), paid);
    assert!(verify(&cred, &key, &ctx(), &Verifier::new()).is_ok());

    // The attacker pays a cheaper invoice with its own preimage and grafts that hash in.
    let own = Preimage::from_bytes([0x22; 32]);
    let forged_id = Identifier { payment_hash: own.payment_hash(), token_id: id.token_id };
    let mut bytes = good.encode();
    let old = id.encode();
    let at = bytes.windows(old.len()).position(|w| w == old).ok_or("identifier in the bytes")?;
    bytes[at..at + old.len()].copy_from_slice(&forged_id.encode());
    let forged = Macaroon::decode(&bytes)?;
    let cred = Credential::new(forged, own);
    let key = ring.root_key(&identify(&cred)?, NOW).ok_or("same key")?;
    let err = verify(&cred, &key, &ctx(), &Verifier::new()).err().map(|e| e.code());
    assert_eq!(err, Some("invalid-signature"));
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_client_error_is_401_or_402_never_5xx() {
    let client_errors = [
        Error::Http(l402_http::Error::MissingCredential),
        Error::Http(l402_http::Error::MalformedCredential("x")),
        Error::Http(l402_http::Error::ConflictingCredentials),
        Error::Token(l402_token::Error::InvalidSignature),
        Error::Token(l402_token::Error::WrongPreimage),
        Error::Token(l402_token::Error::MalformedPreimage),
        Error::Caveat(l402_caveats::Error::Expired { condition: "x".into(), deadline: 1 }),
        Error::Caveat(l402_caveats::Error::UsesExhausted { allowance: 1, used: 1 }),
        Error::Caveat(l402_caveats::Error::Escalation { index: 1, condition: "x".into() }),
        Error::UnknownToken,
        Error::Revoked,
    ];
    for e in &client_errors {
        let r: http::Response<String> = Problem::from(e).response(None);
        assert!(r.status().is_client_error(), "{}", e.code());
        let body: serde_json::Value = serde_json::from_str(r.body()).unwrap_or_default();
        assert_eq!(body["code"], e.code());
        assert!(body["detail"].is_string());
    }
    let pay_again = ["missing-credential", "expired", "uses-exhausted", "unknown-token", "revoked"];
    for e in &client_errors {
        let expected = if pay_again.contains(&e.code()) {
            Disposition::PaymentRequired
        } else {
            Disposition::Unauthorized
        };
        assert_eq!(Disposition::from(e), expected, "{}", e.code());
    }
    let server: http::Response<String> =
        Problem::from(&Error::Store("disk on fire at /var/x".into())).response(None);
    assert_eq!(server.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(!server.body().contains("/var/x"), "internals never leave the process");
}

#[test]
fn forwarding_headers_name_the_client_only_behind_trusted_proxies() -> Result {
    let peer: IpAddr = "10.0.0.5".parse()?;
    let mut h = HeaderMap::new();
    h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.7".parse()?);
    assert_eq!(TrustedProxies::none().client_addr(Some(peer), &h), Some(peer), "nobody trusted");
    let t = TrustedProxies::parse("10.0.0.0/8").ok_or("list")?;
    assert_eq!(t.client_addr(Some(peer), &h), Some("203.0.113.9".parse()?));
    assert_eq!(t.client_addr(Some("198.51.100.1".parse()?), &h), Some("198.51.100.1".parse()?));
    assert_eq!(t.client_addr(None, &h), None);

    // Forwarded wins over X-Forwarded-For; quoted IPv6 with a port.
    h.insert("forwarded", r#"for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711""#.parse()?);
    assert_eq!(t.client_addr(Some(peer), &h), Some("2001:db8:cafe::17".parse()?));
    // A hop that does not parse stops at the nearest trusted proxy.
    let mut g = HeaderMap::new();
    g.insert("x-forwarded-for", "203.0.113.9, garbage, 10.0.0.7".parse()?);
    assert_eq!(t.client_addr(Some(peer), &g), Some("10.0.0.7".parse()?));
    assert_eq!(parse_forwarded("for=unknown, by=x"), vec![None, None]);
    assert_eq!(parse_node("192.0.2.1:80"), Some("192.0.2.1".parse()?));
    assert_eq!(parse_node("[::ffff:192.0.2.1]"), Some("192.0.2.1".parse()?));
    for bad in ["", "1.2.3", "[::1", "[::1]x", "1.2.3.4:", "1.2.3.4:123456", "_hidden"] {
        assert_eq!(parse_node(bad), None, "{bad}");
    }
    Ok(())
}

proptest! {
    #[test]
    fn forwarding_parsers_never_panic(s in "\\PC{0,128}") {
        let _ = parse_forwarded(&s);
        let _ = parse_node(&s);
        if let Ok(v) = s.parse::<http::HeaderValue>() {
            let mut h = HeaderMap::new();
            h.insert("forwarded", v.clone());
            h.insert("x-forwarded-for", v);
            let _ = forwarded_hops(&h);
            let _ = x_forwarded_for_hops(&h);
            let t = TrustedProxies::parse("0.0.0.0/0,::/0").unwrap_or_default();
            prop_assert!(t.client_addr(Some(IpAddr::from([127, 0, 0, 1])), &h).is_some());
        }
    }

    #[test]
    fn nodes_round_trip(ip in any::<IpAddr>(), port in proptest::option::of(any::<u16>())) {
        let text = match (ip, port) {
            (IpAddr::V4(v4), Some(p)) => format!("{v4}:{p}"),
            (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
            (ip, None) => ip.to_string(),
        };
        prop_assert_eq!(parse_node(&text), Some(ip.to_canonical()));
        let forwarded = format!("for=\"{text}\";proto=https");
        prop_assert_eq!(parse_forwarded(&forwarded), vec![Some(ip.to_canonical())]);
    }
}
