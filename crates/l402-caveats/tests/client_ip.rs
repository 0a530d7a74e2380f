//! The `client_ip` caveat with IPv4-mapped IPv6 addresses (decision 0305): an IPv4 address
//! and its `::ffff:a.b.c.d` form are one address, whichever side writes which.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use l402_caveats::{Attenuate, Caveat, Context, Error, IpNet, Verifier};
use l402_token::{Identifier, Macaroon, PaymentHash, TokenId};
use proptest::prelude::*;

/// The outcome code for `caveats` judged for `client` (`"valid"` when accepted).
fn code(caveats: &[&str], client: &str) -> &'static str {
    let ctx = Context::new().with_client(client.parse().unwrap());
    outcome(caveats.iter().map(|c| c.as_bytes().to_vec()), &ctx)
}

fn outcome(caveats: impl IntoIterator<Item = Vec<u8>>, ctx: &Context) -> &'static str {
    let caveats: Vec<Vec<u8>> = caveats.into_iter().collect();
    match Verifier::new().verify_caveats(caveats.iter().map(Vec::as_slice), ctx) {
        Ok(_) => "valid",
        Err(e) => e.code(),
    }
}

#[test]
fn mapped_and_plain_ipv4_match_each_other_both_ways() {
    let cases: &[(&str, &str, &str)] = &[
        // Caveat written mapped, client plain or mapped.
        ("client_ip=::ffff:10.0.0.0/104", "10.0.0.1", "valid"),
        ("client_ip=::ffff:10.0.0.0/104", "::ffff:10.0.0.1", "valid"),
        ("client_ip=::ffff:10.0.0.1", "10.0.0.1", "valid"),
        ("client_ip=::ffff:10.0.0.1", "::ffff:10.0.0.1", "valid"),
        ("client_ip=::ffff:10.1.0.0/112", "10.1.255.255", "valid"),
        // Caveat written plain, client plain or mapped.
        ("client_ip=10.0.0.0/8", "::ffff:10.0.0.1", "valid"),
        ("client_ip=10.0.0.1", "::ffff:10.0.0.1", "valid"),
        ("client_ip=10.0.0.0/8", "10.0.0.1", "valid"),
        // The whole mapped range is the whole of IPv4.
        ("client_ip=::ffff:0.0.0.0/96", "203.0.113.7", "valid"),
        ("client_ip=0.0.0.0/0", "::ffff:203.0.113.7", "valid"),
        // Mixed lists: any listed network may match.
        ("client_ip=2001:db8::/32,::ffff:198.51.100.0/120", "198.51.100.7", "valid"),
    ];
    for (caveat, client, expected) in cases {
        assert_eq!(code(&[caveat], client), *expected, "{caveat} for {client}");
    }
}

#[test]
fn mapped_prefix_lengths_convert_exactly() {
    // Mapped /n is IPv4 /(n - 96): /104 is /8, /112 is /16, /128 is one address.
    let cases: &[(&str, &str, &str)] = &[
        ("client_ip=::ffff:10.0.0.0/104", "10.1.0.1", "valid"),
        ("client_ip=::ffff:10.0.0.0/104", "10.255.255.255", "valid"),
        ("client_ip=::ffff:10.0.0.0/104", "11.0.0.1", "wrong-client"),
        ("client_ip=::ffff:10.0.0.0/104", "9.255.255.255", "wrong-client"),
        ("client_ip=::ffff:10.0.0.0/104", "::ffff:11.0.0.1", "wrong-client"),
        ("client_ip=::ffff:10.0.0.0/112", "10.1.0.1", "wrong-client"),
        ("client_ip=::ffff:10.0.0.0/112", "::ffff:10.1.0.1", "wrong-client"),
        ("client_ip=::ffff:10.0.0.0/112", "10.0.255.1", "valid"),
        ("client_ip=::ffff:10.0.0.1", "10.0.0.2", "wrong-client"),
        ("client_ip=10.0.0.0/16", "::ffff:10.1.0.1", "wrong-client"),
        ("client_ip=10.0.0.1", "::ffff:10.0.0.2", "wrong-client"),
    ];
    for (caveat, client, expected) in cases {
        assert_eq!(code(&[caveat], client), *expected, "{caveat} for {client}");
    }
}

#[test]
fn ipv6_networks_outside_the_mapped_range_hold_no_ipv4_client() {
    // As Go's `net.IPNet.Contains`: a caveat written for IPv6 does not admit IPv4, even one
    // whose network covers `::ffff:0:0/96`.
    let cases: &[(&str, &str, &str)] = &[
        ("client_ip=::/0", "10.0.0.1", "wrong-client"),
        ("client_ip=::/0", "::ffff:10.0.0.1", "wrong-client"),
        ("client_ip=::/0", "2001:db8::1", "valid"),
        ("client_ip=::/80", "10.0.0.1", "wrong-client"),
        ("client_ip=::fffe:0:0/95", "10.0.0.1", "wrong-client"),
        ("client_ip=::/96", "10.0.0.1", "wrong-client"),
        ("client_ip=2001:db8::/32", "10.0.0.1", "wrong-client"),
        ("client_ip=2001:db8::/32", "::ffff:10.0.0.1", "wrong-client"),
        ("client_ip=::/0,10.0.0.0/8", "10.0.0.1", "valid"),
    ];
    for (caveat, client, expected) in cases {
        assert_eq!(code(&[caveat], client), *expected, "{caveat} for {client}");
    }
}

#[test]
fn only_the_mapped_range_stands_for_ipv4() {
    // `::a00:1` is the deprecated IPv4-compatible form of 10.0.0.1 (RFC 4291 §2.5.5.1) and
    // `64:ff9b::a00:1` its NAT64 form: both are ordinary IPv6 addresses here.
    let cases: &[(&str, &str, &str)] = &[
        ("client_ip=::a00:1", "10.0.0.1", "wrong-client"),
        ("client_ip=::a00:1", "::ffff:10.0.0.1", "wrong-client"),
        ("client_ip=::a00:1", "::a00:1", "valid"),
        ("client_ip=10.0.0.1", "::a00:1", "wrong-client"),
        ("client_ip=10.0.0.0/8", "::a00:1", "wrong-client"),
        ("client_ip=::ffff:10.0.0.0/104", "::a00:1", "wrong-client"),
        ("client_ip=0.0.0.0/0", "::a00:1", "wrong-client"),
        ("client_ip=0.0.0.0/0", "::1", "wrong-client"),
        ("client_ip=0.0.0.0/0", "2001:db8::1", "wrong-client"),
        ("client_ip=::ffff:0.0.0.0/96", "2001:db8::1", "wrong-client"),
        ("client_ip=64:ff9b::/96", "10.0.0.1", "wrong-client"),
        ("client_ip=10.0.0.1", "64:ff9b::a00:1", "wrong-client"),
    ];
    for (caveat, client, expected) in cases {
        assert_eq!(code(&[caveat], client), *expected, "{caveat} for {client}");
    }
    // The dotted spelling of a compatible address is not RFC 5952, so it is not a caveat.
    assert_eq!(code(&["client_ip=::10.0.0.1"], "10.0.0.1"), "malformed-caveat");
}

#[test]
fn refusals_name_the_client_as_it_arrived() {
    let client: IpAddr = "::ffff:11.0.0.1".parse().unwrap();
    let ctx = Context::new().with_client(client);
    let e = Verifier::new().verify_caveats([b"client_ip=10.0.0.0/8".as_slice()], &ctx).unwrap_err();
    assert!(matches!(e, Error::WrongClient { client: c } if c == client), "{e:?}");
}

#[test]
fn narrowing_compares_addresses_not_spellings() {
    let cases: &[(&[&str], &str)] = &[
        (&["client_ip=10.0.0.0/8", "client_ip=::ffff:10.1.0.0/112"], "valid"),
        (&["client_ip=::ffff:10.0.0.0/104", "client_ip=10.1.0.0/16"], "valid"),
        (&["client_ip=::ffff:10.1.2.3", "client_ip=10.1.2.3"], "valid"),
        (&["client_ip=10.1.2.3", "client_ip=::ffff:10.1.2.3"], "valid"),
        (&["client_ip=::/0,0.0.0.0/0", "client_ip=10.0.0.0/8"], "valid"),
        (&["client_ip=::/0", "client_ip=10.0.0.0/8"], "caveat-escalation"),
        (&["client_ip=10.0.0.0/16", "client_ip=::ffff:10.0.0.0/104"], "caveat-escalation"),
        (&["client_ip=::ffff:10.0.0.0/112", "client_ip=10.0.0.0/8"], "caveat-escalation"),
        (&["client_ip=10.0.0.0/8", "client_ip=::/0"], "caveat-escalation"),
        (&["client_ip=10.0.0.0/8", "client_ip=::a00:0/104"], "caveat-escalation"),
        (&["client_ip=::/96", "client_ip=10.0.0.0/8"], "caveat-escalation"),
    ];
    for (caveats, expected) in cases {
        assert_eq!(code(caveats, "10.1.2.3"), *expected, "{caveats:?}");
    }
}

#[test]
fn mapped_caveats_keep_their_bytes() {
    let text = b"client_ip=::ffff:10.0.0.0/104,10.0.0.0/8,::ffff:10.0.0.1,::a00:1";
    let c = Caveat::parse(text).unwrap();
    assert_eq!(c.encode(), text.to_vec());
    assert_eq!(Caveat::parse(&c.encode()), Ok(c.clone()));

    let id = Identifier { payment_hash: PaymentHash([1; 32]), token_id: TokenId([2; 32]) };
    let m = Macaroon::new_l402(&[9; 32], &id).with_caveat("client_ip=10.0.0.0/8");
    let narrowed = m.limit_clients(&[IpNet::parse("::ffff:10.1.0.0/112").unwrap()]).unwrap();
    let last = narrowed.first_party_caveats().last().unwrap().to_vec();
    assert_eq!(last, b"client_ip=::ffff:10.1.0.0/112".to_vec());
    let ctx = Context::new().with_client("10.1.0.9".parse().unwrap());
    assert!(Verifier::new().verify(&narrowed, &ctx).is_ok());
    let widened = m.limit_clients(&[IpNet::parse("::ffff:0.0.0.0/96").unwrap()]);
    assert_eq!(widened.map_err(|e| e.code()).err(), Some("caveat-escalation"));
}

/// The caveats that describe the IPv4 network `a/p`, in both spellings (and, for a single
/// address, without a prefix too).
fn spellings(a: Ipv4Addr, p: u8) -> Vec<String> {
    let net = Ipv4Addr::from(u32::from(a) & u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0));
    let mut out = vec![
        format!("client_ip={net}/{p}"),
        format!("client_ip={}/{}", net.to_ipv6_mapped(), p + 96),
    ];
    if p == 32 {
        out.push(format!("client_ip={net}"));
        out.push(format!("client_ip={}", net.to_ipv6_mapped()));
    }
    out
}

/// A client that shares the top `shared` bits with `a` and is random below them, so that
/// both matches and misses are common.
fn near(a: Ipv4Addr, noise: u32, shared: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a) ^ noise.checked_shr(shared).unwrap_or(0))
}

fn client_verdict(caveat: &str, client: IpAddr) -> &'static str {
    outcome([caveat.as_bytes().to_vec()], &Context::new().with_client(client))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn ipv4_and_mapped_clients_get_the_same_verdict(
        a in any::<u32>(),
        p in 0u8..=32,
        noise in any::<u32>(),
        shared in 0u32..=32,
    ) {
        let a = Ipv4Addr::from(a);
        let client = near(a, noise, shared);
        let inside = u32::from(client).checked_shr(32 - u32::from(p)).unwrap_or(0)
            == u32::from(a).checked_shr(32 - u32::from(p)).unwrap_or(0);
        let expected = if inside { "valid" } else { "wrong-client" };
        for caveat in spellings(a, p) {
            prop_assert_eq!(client_verdict(&caveat, IpAddr::V4(client)), expected, "{}", caveat);
            prop_assert_eq!(
                client_verdict(&caveat, IpAddr::V6(client.to_ipv6_mapped())),
                expected,
                "{} for the mapped client",
                caveat
            );
            // The IPv4-compatible form is never the same client.
            let compatible = Ipv6Addr::from(u128::from(u32::from(client)));
            prop_assert_eq!(client_verdict(&caveat, IpAddr::V6(compatible)), "wrong-client");
        }
    }

    #[test]
    fn ipv6_networks_hold_ipv4_clients_only_inside_the_mapped_range(
        net in any::<u128>(),
        p in 0u8..=128,
        client in any::<u32>(),
        pick_mapped in any::<bool>(),
    ) {
        // Half the time, aim the network at the mapped range so that matches happen.
        let net = if pick_mapped { (0xffff_u128 << 32) | (net & 0xffff_ffff) } else { net };
        let net = net & u128::MAX.checked_shl(128 - u32::from(p)).unwrap_or(0);
        let caveat = format!("client_ip={}/{p}", Ipv6Addr::from(net));
        let client = Ipv4Addr::from(client);
        let mapped = u128::from(client.to_ipv6_mapped());
        let inside = mapped.checked_shr(128 - u32::from(p)).unwrap_or(0)
            == net.checked_shr(128 - u32::from(p)).unwrap_or(0);
        let expected = if inside && p >= 96 { "valid" } else { "wrong-client" };
        prop_assert_eq!(client_verdict(&caveat, IpAddr::V4(client)), expected, "{}", caveat);
        prop_assert_eq!(
            client_verdict(&caveat, IpAddr::V6(client.to_ipv6_mapped())),
            expected,
            "{}",
            caveat
        );
    }

    #[test]
    fn narrowing_ignores_the_ipv4_spelling(
        a in any::<u32>(),
        p in 0u8..=32,
        noise in any::<u32>(),
        shared in 0u32..=32,
        q in 0u8..=32,
    ) {
        let a = Ipv4Addr::from(a);
        let b = near(a, noise, shared);
        let outer = u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0);
        let inside = q >= p && u32::from(b) & outer == u32::from(a) & outer;
        let expected = if inside { "valid" } else { "caveat-escalation" };
        for prev in spellings(a, p) {
            for cur in spellings(b, q) {
                let got = outcome([prev.clone().into_bytes(), cur.clone().into_bytes()], &Context::new());
                prop_assert_eq!(got, expected, "{} then {}", prev, cur);
            }
        }
    }
}
