//! Property tests: every emitted form parses back to what was emitted; the parsers never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

use http::header::{HeaderMap, AUTHORIZATION};
use l402_http::{
    challenge_values, challenges_from_headers, grpc, parse_challenges, select, write_challenges,
    ChallengeStyle, Credential, CredentialSource, MacaroonParam, ParsedChallenge, Scheme,
};
use l402_token::{Macaroon, Preimage};
use proptest::prelude::*;

fn macaroon() -> impl Strategy<Value = Macaroon> {
    (
        any::<[u8; 32]>(),
        proptest::collection::vec(any::<u8>(), 1..80),
        proptest::collection::vec("[ -~]{0,40}", 0..4),
    )
        .prop_map(|(root, id, caveats)| {
            caveats
                .into_iter()
                .fold(Macaroon::new(&root, &id, Some(b"lsat")), Macaroon::with_caveat)
        })
}

fn preimage() -> impl Strategy<Value = Preimage> {
    any::<[u8; 32]>().prop_map(Preimage::from_bytes)
}

/// Invoices are bech32 in practice; any printable ASCII (quotes and backslashes included)
/// must survive quoting.
fn invoice() -> impl Strategy<Value = String> {
    "[ -~]{1,120}"
}

fn style() -> impl Strategy<Value = ChallengeStyle> {
    prop_oneof![
        Just(ChallengeStyle::Aperture),
        Just(ChallengeStyle::L402),
        Just(ChallengeStyle::VersionToken)
    ]
}

fn quote(v: &str) -> String {
    let mut out = String::from('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

proptest! {
    #[test]
    fn every_emitted_challenge_parses_back(m in macaroon(), inv in invoice(), style in style()) {
        let lines = challenge_values(&m, &inv, style).unwrap();
        let want_lines = if style == ChallengeStyle::Aperture { 2 } else { 1 };
        prop_assert_eq!(lines.len(), want_lines);
        let mut all = Vec::new();
        for line in &lines {
            let parsed = parse_challenges(line.to_str().unwrap()).unwrap();
            prop_assert_eq!(parsed.len(), 1);
            let c = parsed[0].as_l402().expect("usable");
            prop_assert_eq!(&c.macaroon, &m);
            prop_assert_eq!(&c.invoice, &inv);
            prop_assert_eq!(c.version.as_str(), "0");
            let param = if style == ChallengeStyle::VersionToken {
                MacaroonParam::Token
            } else {
                MacaroonParam::Macaroon
            };
            prop_assert_eq!(c.macaroon_param, param);
            all.extend(parsed);
        }
        // Whatever the style, the client answers the L402 challenge.
        prop_assert_eq!(select(&all).unwrap().scheme, Scheme::L402);
        if style == ChallengeStyle::Aperture {
            prop_assert_eq!(all[0].as_l402().unwrap().scheme, Scheme::Lsat);
        }
    }

    #[test]
    fn challenges_round_trip_through_a_header_map(m in macaroon(), inv in invoice(), style in style()) {
        let mut h = HeaderMap::new();
        h.append(http::header::WWW_AUTHENTICATE, "Basic realm=\"x\"".parse().unwrap());
        write_challenges(&mut h, &m, &inv, style).unwrap();
        let offered = challenges_from_headers(&h).unwrap();
        prop_assert!(matches!(offered[0], ParsedChallenge::Other(_)));
        let chosen = select(&offered).unwrap();
        prop_assert_eq!((&chosen.macaroon, &chosen.invoice), (&m, &inv));
    }

    #[test]
    fn folding_the_lines_into_one_changes_nothing(m in macaroon(), inv in invoice(), style in style()) {
        let lines: Vec<String> = challenge_values(&m, &inv, style)
            .unwrap()
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let one = parse_challenges(&lines.join(", ")).unwrap();
        let each: Vec<ParsedChallenge> =
            lines.iter().flat_map(|l| parse_challenges(l).unwrap()).collect();
        prop_assert_eq!(one, each);
    }

    #[test]
    fn other_schemes_keep_their_parameters(
        challenges in proptest::collection::vec(
            ("[A-Za-z][A-Za-z0-9_-]{0,8}", proptest::collection::vec(("[a-z][a-z0-9]{0,6}", "[ -~]{0,20}"), 1..4)),
            1..4,
        )
    ) {
        // Scheme names that are ours are not opaque.
        prop_assume!(challenges.iter().all(|(s, _)| Scheme::from_name(s).is_none()));
        let line = challenges
            .iter()
            .map(|(s, ps)| {
                let ps: Vec<String> = ps.iter().map(|(n, v)| format!("{n}={}", quote(v))).collect();
                format!("{s} {}", ps.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let parsed = parse_challenges(&line).unwrap();
        prop_assert_eq!(parsed.len(), challenges.len());
        for (p, (s, ps)) in parsed.iter().zip(&challenges) {
            let ParsedChallenge::Other(o) = p else { panic!("{p:?}") };
            prop_assert_eq!(&o.scheme, s);
            let got: Vec<(String, String)> =
                o.params.iter().map(|p| (p.name.clone(), p.value.clone())).collect();
            prop_assert_eq!(&got, ps);
        }
    }

    /// A list of one token's attenuations round-trips through `Authorization`.
    #[test]
    fn a_list_of_attenuations_parses_back(
        m in macaroon(),
        p in preimage(),
        extra in proptest::collection::vec("[a-z]{1,8}=[a-z0-9]{0,8}", 1..4),
    ) {
        let mut cred = Credential::new(m.clone(), p.clone());
        cred.others = extra.iter().map(|c| m.clone().with_caveat(c.as_str())).collect();
        let value = cred.to_authorization_value();
        let back = Credential::parse_authorization(value.to_str().unwrap()).unwrap();
        prop_assert_eq!((&back.macaroon, &back.others, &back.preimage), (&m, &cred.others, &p));
    }

    #[test]
    fn every_emitted_credential_parses_back(m in macaroon(), p in preimage()) {
        let cred = Credential::new(m.clone(), p.clone());
        let value = cred.to_authorization_value();
        let back = Credential::parse_authorization(value.to_str().unwrap()).unwrap();
        prop_assert_eq!((&back.macaroon, &back.preimage, back.scheme), (&m, &p, Scheme::L402));
        let lsat = cred.clone().with_scheme(Scheme::Lsat).to_authorization_value();
        let back = Credential::parse_authorization(lsat.to_str().unwrap()).unwrap();
        prop_assert_eq!((&back.macaroon, &back.preimage, back.scheme), (&m, &p, Scheme::Lsat));
        // Both lines joined into one value, as an intermediary may: the same credential.
        let both = format!("{}, {}", lsat.to_str().unwrap(), value.to_str().unwrap());
        let mut j = HeaderMap::new();
        j.insert(http::header::AUTHORIZATION, http::HeaderValue::from_str(&both).unwrap());
        let joined = Credential::from_headers(&j).unwrap();
        prop_assert_eq!((&joined.macaroon, &joined.preimage), (&m, &p));

        let mut h = HeaderMap::new();
        cred.write_authorization(&mut h);
        prop_assert_eq!(Credential::from_headers(&h).unwrap().macaroon, m.clone());

        let mut g = HeaderMap::new();
        cred.write_grpc_metadata(&mut g);
        let hex = Credential::from_headers(&g).unwrap();
        prop_assert_eq!(hex.source, CredentialSource::Macaroon);
        prop_assert_eq!(&hex.preimage, &p);
        // The hex form carries the preimage as the macaroon's last caveat, exactly once.
        prop_assert_eq!(hex.macaroon.caveats().len(), m.caveats().len() + 1);
        prop_assert_eq!(hex.to_hex_value(), cred.to_hex_value());
    }

    #[test]
    fn lenient_spellings_parse_to_the_same_credential(
        m in macaroon(),
        p in preimage(),
        lsat in any::<bool>(),
        case_mask in any::<[bool; 4]>(),
        spaces in 1usize..6,
        upper in any::<bool>(),
    ) {
        let scheme: String = (if lsat { "LSAT" } else { "L402" })
            .chars()
            .zip(case_mask)
            .map(|(c, lower)| if lower { c.to_ascii_lowercase() } else { c })
            .collect();
        let hex = if upper { p.to_hex().to_uppercase() } else { p.to_hex() };
        let value = format!("{scheme}{}{}:{hex}", " ".repeat(spaces), m.to_base64());
        let c = Credential::parse_authorization(&value).unwrap();
        prop_assert_eq!((&c.macaroon, &c.preimage), (&m, &p));
        prop_assert_eq!(c.scheme, if lsat { Scheme::Lsat } else { Scheme::L402 });
    }

    #[test]
    fn several_agreeing_values_give_one_credential(m in macaroon(), p in preimage(), n in 1usize..5) {
        let mut h = HeaderMap::new();
        for i in 0..n {
            let scheme = if i % 2 == 0 { "LSAT" } else { "l402" };
            let v = format!("{scheme} {}:{}", m.to_base64(), p.to_hex());
            h.append(AUTHORIZATION, v.parse().unwrap());
        }
        prop_assert_eq!(Credential::from_headers(&h).unwrap().macaroon, m);
    }

    #[test]
    fn grpc_challenges_round_trip(m in macaroon(), inv in "[a-z0-9]{1,200}", style in style()) {
        let r = grpc::challenge_response(&m, &inv, style).unwrap();
        prop_assert_eq!(r.status(), http::StatusCode::OK);
        let offered = grpc::read_challenges(r.headers()).unwrap().expect("payment required");
        let c = select(&offered).unwrap();
        prop_assert_eq!((&c.macaroon, &c.invoice), (&m, &inv));

        let mut legacy = HeaderMap::new();
        grpc::write_legacy_challenge(&mut legacy, &m, &inv).unwrap();
        let offered = grpc::read_challenges(&legacy).unwrap().expect("payment required");
        let c = select(&offered).unwrap();
        prop_assert_eq!((&c.macaroon, &c.invoice), (&m, &inv));
    }

    /// Whatever a server writes as its token, an opaque challenge is offered exactly when the
    /// token is not a macaroon and can be sent back as written, and it is the text the server
    /// sent.
    #[test]
    fn an_opaque_token_is_offered_as_written_or_not_at_all(tok in "[ -~]{1,60}", inv in invoice()) {
        let line = format!("L402 macaroon={}, invoice={}", quote(&tok), quote(&inv));
        let offered = parse_challenges(&line).unwrap();
        let sendable = !tok.trim_end_matches('=').is_empty()
            && tok.trim_end_matches('=').chars().all(|c| c.is_ascii_alphanumeric() || "-._~+/".contains(c));
        match l402_http::select_opaque(&offered) {
            Some(c) => {
                prop_assert!(select(&offered).is_err());
                prop_assert!(sendable);
                prop_assert_eq!((c.token, c.invoice), (tok, inv));
            }
            None => prop_assert!(select(&offered).is_ok() || !sendable),
        }
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,200}", t in "[ -~]{0,200}") {
        for input in [&s, &t] {
            let _ = parse_challenges(input);
            let _ = Credential::parse_authorization(input);
            let _ = Credential::parse_hex(input, CredentialSource::Macaroon);
            let _ = grpc::legacy_challenge(input);
        }
    }

    #[test]
    fn challenge_parser_never_panics_on_near_misses(
        m in macaroon(),
        inv in invoice(),
        cut in any::<proptest::sample::Index>(),
        junk in "[ -~]{0,3}",
    ) {
        let line = challenge_values(&m, &inv, ChallengeStyle::L402).unwrap()[0]
            .to_str()
            .unwrap()
            .to_owned();
        let at = cut.index(line.len() + 1);
        let mutated = format!("{}{junk}{}", &line[..at], &line[at..]);
        if let Ok(items) = parse_challenges(&mutated) {
            for i in &items {
                if let Some(e) = i.error() {
                    prop_assert!(!e.code().is_empty());
                }
            }
        }
    }
}
