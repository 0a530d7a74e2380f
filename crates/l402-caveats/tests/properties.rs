//! Property tests: adding a caveat never widens what a token allows; parse and print are
//! inverses; the attenuation helpers agree with the engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::net::IpAddr;

use l402_caveats::{satisfier, Attenuate, Caveat, Context, Rejection, Verifier};
use l402_token::{Identifier, Macaroon, PaymentHash, TokenId};
use proptest::prelude::*;

/// Picks from `items` by the bits of `mask` (a small, overlapping universe makes narrowing
/// and widening both likely).
fn subset<'a>(items: &[&'a str], mask: u8) -> Vec<&'a str> {
    items.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| *s).collect()
}

fn caveat(kind: u8, x: u8, y: u8) -> Vec<u8> {
    let svc = ["a", "b"][usize::from(x % 2)];
    let s = match kind % 14 {
        0 => {
            let names = subset(&["a", "b", "c"], x % 8);
            let list: Vec<String> = names.iter().map(|n| format!("{n}:{}", y % 2)).collect();
            format!("services={}", list.join(","))
        }
        1 => format!("{svc}_capabilities={}", subset(&["r", "w", "x"], y % 8).join(",")),
        2 => format!("{svc}_valid_until={}", i64::from(y % 30) - 5),
        3 => match y % 3 {
            0 => format!("expires_at=1970-01-01T00:00:{:02}Z", x % 25),
            1 => format!("expires_at=1970-01-01T00:00:{:02}.5Z", x % 25),
            _ => format!("expires_at=1970-01-01T01:00:{:02}+01:00", x % 25),
        },
        4 => format!("methods={}", subset(&["GET", "POST", "PUT"], x % 8).join(",")),
        5 => format!("path_prefix={}", ["/", "/a", "/a/", "/a/b", "/b"][usize::from(x % 5)]),
        6 => format!(
            "client_ip={}",
            subset(
                &[
                    "10.0.0.0/8",
                    "10.1.0.0/16",
                    "10.1.2.3",
                    "::/0",
                    "2001:db8::/32",
                    "::ffff:10.1.0.0/112"
                ],
                x % 64
            )
            .join(",")
        ),
        7 => format!("max_uses={}", x % 6),
        8 => format!("budget={}", x % 10),
        9 => ["x=1", "preimage=zz", "noeq", "svc_capabilities=r"][usize::from(x % 4)].to_owned(),
        10 => return vec![0xff, b'=', x],
        11 => ["max_uses=01", "methods=,", "a_valid_until=x", "client_ip=10.0.0.1/8"]
            [usize::from(x % 4)]
        .to_owned(),
        12 => format!("a_valid_until={}", i64::from(y % 30) - 5),
        _ => format!("services=a:{}", y % 2),
    };
    s.into_bytes()
}

fn caveat_strategy() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(k, x, y)| caveat(k, x, y))
}

fn context_strategy() -> impl Strategy<Value = Context> {
    (
        proptest::option::of(0usize..3),
        proptest::option::of(0usize..2),
        proptest::option::of(-10i64..30),
        proptest::option::of(0usize..3),
        proptest::option::of(0usize..4),
        proptest::option::of(0usize..4),
        proptest::option::of(0u64..7),
    )
        .prop_map(|(s, c, now, m, p, ip, uses)| {
            let mut ctx = Context::new();
            ctx.service = s.map(|i| ["a", "b", "c"][i].to_owned());
            ctx.capability = c.map(|i| ["r", "w"][i].to_owned());
            ctx.now = now;
            ctx.method = m.map(|i| ["GET", "POST", "DELETE"][i].to_owned());
            ctx.path = p.map(|i| ["/", "/a", "/a/b/c", "/b"][i].to_owned());
            ctx.client = ip.map(|i| {
                ["10.1.2.3", "10.2.0.1", "2001:db8::1", "::ffff:10.1.2.3"][i]
                    .parse::<IpAddr>()
                    .unwrap()
            });
            ctx.prior_uses = uses;
            ctx
        })
}

fn verifiers() -> Vec<Verifier> {
    let budget = satisfier::from_fn("budget", |v, ctx: &Context| {
        let limit = ctx.prior_uses.unwrap_or(0) + 3;
        match v.parse::<u64>() {
            Ok(n) if n <= limit => Ok(()),
            _ => Err(Rejection::new("over-budget", "too much")),
        }
    })
    .with_narrowing(|p, c| c.parse::<u64>().ok() >= p.parse::<u64>().ok());
    vec![
        Verifier::new(),
        Verifier::new().strict(true),
        Verifier::aperture(),
        Verifier::new().with_satisfier(budget),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn adding_a_caveat_never_widens(
        base in proptest::collection::vec(caveat_strategy(), 0..6),
        added in caveat_strategy(),
        ctx in context_strategy(),
    ) {
        for v in verifiers() {
            let narrowed: Vec<&[u8]> =
                base.iter().map(Vec::as_slice).chain([added.as_slice()]).collect();
            if v.verify_caveats(narrowed, &ctx).is_ok() {
                let original = v.verify_caveats(base.iter().map(Vec::as_slice), &ctx);
                prop_assert!(original.is_ok(), "{v:?}: original refused with {original:?}");
            }
        }
    }

    #[test]
    fn typed_caveats_print_and_parse_back(k in any::<u8>(), x in any::<u8>(), y in any::<u8>()) {
        let bytes = caveat(k, x, y);
        if let Ok(c) = Caveat::parse(&bytes) {
            prop_assert_eq!(c.encode(), bytes.clone());
            prop_assert_eq!(Caveat::parse(&c.encode()), Ok(c.clone()));
            prop_assert_eq!(c.validate(), Ok(()));
        }
    }

    #[test]
    fn any_bytes_either_parse_losslessly_or_are_malformed(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        match Caveat::parse(&bytes) {
            Ok(c) => prop_assert_eq!(c.encode(), bytes),
            Err(e) => prop_assert_eq!(e.code(), "malformed-caveat"),
        }
    }

    #[test]
    fn known_conditions_with_arbitrary_values_round_trip(
        cond in 0usize..9,
        value in "[ -~]{0,24}",
    ) {
        let condition = ["services", "a_capabilities", "a_valid_until", "expires_at", "methods",
            "path_prefix", "client_ip", "max_uses", "preimage"][cond];
        let bytes = format!("{condition}={value}").into_bytes();
        match Caveat::parse(&bytes) {
            Ok(c) => prop_assert_eq!(c.encode(), bytes),
            Err(e) => prop_assert_eq!(e.code(), "malformed-caveat"),
        }
    }

    #[test]
    fn attenuation_helpers_agree_with_the_engine(
        base in proptest::collection::vec(caveat_strategy(), 0..5),
        added in caveat_strategy(),
    ) {
        let id = Identifier { payment_hash: PaymentHash([1; 32]), token_id: TokenId([2; 32]) };
        let token = base.iter().fold(Macaroon::new_l402(&[3; 32], &id), |m, c| m.with_caveat(c.clone()));
        let Ok(typed) = Caveat::parse(&added) else { return Ok(()) };
        let engine = Verifier::new().verify_caveats(
            base.iter().map(Vec::as_slice).chain([added.as_slice()]),
            &Context::new(),
        );
        let base_ok = Verifier::new().verify_caveats(base.iter().map(Vec::as_slice), &Context::new()).is_ok();
        match token.attenuate(&typed) {
            // The helper never produces a token the engine would call widened or malformed.
            Ok(t) => {
                if base_ok {
                    // The empty context knows no capability: a capability list then refuses
                    // the request (decision 0306), which is not a fault of the token.
                    let r = Verifier::new().verify(&t, &Context::new()).map_err(|e| e.code());
                    prop_assert!(matches!(r, Ok(_) | Err("missing-capability")), "{r:?}");
                }
            }
            // A refusal on a sound base token is something the engine refuses too.
            Err(e) => {
                if base_ok && typed.builtin().is_some() {
                    prop_assert_eq!(engine.map(|_| ()).map_err(|e| e.code()), Err(e.code()));
                }
            }
        }
    }
}
