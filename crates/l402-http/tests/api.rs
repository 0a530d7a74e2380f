//! Behaviour of the public API beyond the vectors: what real clients need from our output,
//! the selection rule, limits, and the gRPC forms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

use base64::Engine as _;
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use l402_http::{
    challenge_values, challenges_from_headers, challenges_from_headers_with, grpc,
    parse_challenges, parse_challenges_with, select, write_challenges, ChallengeStyle, Credential,
    CredentialSource, Error, Limits, ParsedChallenge, Scheme,
};
use l402_token::{Identifier, Macaroon, Preimage};

const INVOICE: &str = "lntb5u1p0pskpmpp5jzw9xvdast2g5lm5tswq6n64t2epe3f4xav43dyd239qr8h3yll";

fn token() -> (Macaroon, Preimage) {
    let p = Preimage::from_bytes([0x42; 32]);
    let id = Identifier { payment_hash: p.payment_hash(), token_id: l402_token::TokenId([9; 32]) };
    (Macaroon::new_l402(&[1; 32], &id).with_caveat("services=weather:0"), p)
}

fn lines(style: ChallengeStyle) -> Vec<String> {
    let (m, _) = token();
    challenge_values(&m, INVOICE, style)
        .unwrap()
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Aperture's client: `(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"`, unanchored, case
/// sensitive, first matching value wins. Written out by hand: lazy groups end at the first
/// `", invoice="` and the first `"` after it.
fn aperture_regex(value: &str) -> Option<(String, String)> {
    let start = ["LSAT macaroon=\"", "L402 macaroon=\""]
        .iter()
        .filter_map(|p| value.find(p).map(|i| i + p.len()))
        .min()?;
    let rest = &value[start..];
    let (mac, rest) = rest.split_once("\", invoice=\"")?;
    let (inv, _) = rest.split_once('"')?;
    Some((mac.to_owned(), inv.to_owned()))
}

#[test]
fn default_style_is_aperture_lsat_then_l402_and_matches_its_client() {
    let (m, _) = token();
    let got = lines(ChallengeStyle::default());
    let classic = format!("macaroon=\"{}\", invoice=\"{INVOICE}\"", m.to_base64());
    assert_eq!(got, vec![format!("LSAT {classic}"), format!("L402 {classic}")]);
    for line in &got {
        assert_eq!(aperture_regex(line), Some((m.to_base64(), INVOICE.to_owned())));
    }
}

#[test]
fn one_line_forms_are_exact() {
    let (m, _) = token();
    let mac = m.to_base64();
    assert_eq!(
        lines(ChallengeStyle::L402),
        vec![format!("L402 macaroon=\"{mac}\", invoice=\"{INVOICE}\"")]
    );
    assert!(aperture_regex(&lines(ChallengeStyle::L402)[0]).is_some());
    assert_eq!(
        lines(ChallengeStyle::VersionToken),
        vec![format!("L402 version=\"0\", token=\"{mac}\", invoice=\"{INVOICE}\"")]
    );
    // The reason it is not the default: Aperture's client cannot read it.
    assert_eq!(aperture_regex(&lines(ChallengeStyle::VersionToken)[0]), None);
}

#[test]
fn an_invoice_no_field_can_carry_is_refused() {
    let (m, _) = token();
    for bad in ["ln\nbc", "ln\u{7f}bc", "lnbc\u{e9}"] {
        let e = challenge_values(&m, bad, ChallengeStyle::L402).unwrap_err();
        assert_eq!(e.code(), "unencodable-value", "{bad:?}");
    }
}

#[test]
fn select_prefers_l402_over_an_earlier_lsat() {
    let (m, _) = token();
    let other = Macaroon::new(&[2; 32], b"other", None);
    let line = format!(
        "LSAT macaroon=\"{}\", invoice=\"a\", L402 macaroon=\"{}\", invoice=\"b\"",
        other.to_base64(),
        m.to_base64()
    );
    let offered = parse_challenges(&line).unwrap();
    let c = select(&offered).unwrap();
    assert_eq!((c.scheme, c.invoice.as_str(), &c.macaroon), (Scheme::L402, "b", &m));
}

#[test]
fn select_reports_why_nothing_is_usable() {
    let only_bad =
        parse_challenges("L402 macaroon=\"AAAA\", invoice=\"x\", Basic realm=\"r\"").unwrap();
    assert_eq!(select(&only_bad).unwrap_err().code(), "malformed-macaroon");
    let none = parse_challenges("Basic realm=\"r\"").unwrap();
    assert_eq!(select(&none).unwrap_err(), Error::MissingChallenge);
    assert_eq!(select(&[]).unwrap_err(), Error::MissingChallenge);
}

#[test]
fn header_map_keeps_other_challenges_and_reports_bad_lines_in_place() {
    let (m, _) = token();
    let mut h = HeaderMap::new();
    h.append(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"x\""));
    h.append(WWW_AUTHENTICATE, HeaderValue::from_static("L402 macaroon=\"unterminated"));
    write_challenges(&mut h, &m, INVOICE, ChallengeStyle::L402).unwrap();
    let offered = challenges_from_headers(&h).unwrap();
    assert!(matches!(&offered[0], ParsedChallenge::Other(o) if o.scheme == "Bearer"));
    assert!(
        matches!(&offered[1], ParsedChallenge::Malformed { line: 1, error } if error.code() == "malformed-challenge")
    );
    assert_eq!(select(&offered).unwrap().macaroon, m);
}

#[test]
fn limits_are_configurable_and_checked_before_parsing() {
    let (m, _) = token();
    let mut h = HeaderMap::new();
    write_challenges(&mut h, &m, INVOICE, ChallengeStyle::Aperture).unwrap();
    let tight = Limits::new(64, 1);
    assert_eq!(challenges_from_headers_with(&h, &tight).unwrap_err().code(), "too-many-headers");
    let short = Limits::new(64, 4);
    let offered = challenges_from_headers_with(&h, &short).unwrap();
    assert!(offered.iter().all(|o| o.error().map(Error::code) == Some("header-too-large")));
    assert_eq!(
        parse_challenges_with(&"x".repeat(65), &short).unwrap_err().code(),
        "header-too-large"
    );

    let mut r = HeaderMap::new();
    Credential::new(m, Preimage::from_bytes([1; 32])).write_authorization(&mut r);
    assert_eq!(Credential::from_headers_with(&r, &short).unwrap_err().code(), "header-too-large");
}

#[test]
fn emitted_credential_is_l402_std_base64_and_lower_hex() {
    let (m, p) = token();
    let cred = Credential::new(m.clone(), p.clone());
    let v = cred.to_authorization_value();
    assert_eq!(v.to_str().unwrap(), format!("L402 {}:{}", m.to_base64(), "42".repeat(32)));
    // An LSAT credential keeps its scheme, and any credential can be put under either.
    let sent = format!("LSAT {}:{}", m.to_base64(), p.to_hex());
    let lsat = Credential::parse_authorization(&sent).unwrap();
    assert_eq!(lsat.scheme, Scheme::Lsat);
    assert_eq!(lsat.to_authorization_value().to_str().unwrap(), sent);
    assert_eq!(lsat.clone().with_scheme(Scheme::L402).to_authorization_value(), v);
    let as_lsat = cred.with_scheme(Scheme::Lsat).to_authorization_value();
    assert_eq!(as_lsat.to_str().unwrap(), sent);
}

#[test]
fn the_hex_form_does_not_add_a_second_identical_preimage_caveat() {
    let (m, p) = token();
    let cred = Credential::new(m, p.clone());
    let once = cred.to_hex_value();
    let read = Credential::parse_hex(once.to_str().unwrap(), CredentialSource::Macaroon).unwrap();
    assert_eq!(read.to_hex_value(), once);
    assert_eq!(read.preimage, p);
}

#[test]
fn the_token_key_counts_only_on_grpc_requests() {
    let (m, p) = token();
    let hex = Credential::new(m, p).to_hex_value();
    let mut h = HeaderMap::new();
    h.insert("token", hex);
    assert_eq!(Credential::from_headers(&h).unwrap_err(), Error::MissingCredential);
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    assert_eq!(Credential::from_headers(&h).unwrap().source, CredentialSource::Token);
}

#[test]
fn a_malformed_value_is_not_hidden_by_a_good_one() {
    let (m, p) = token();
    let mut h = HeaderMap::new();
    h.append(AUTHORIZATION, HeaderValue::from_static("L402 AAAA:00"));
    h.append(AUTHORIZATION, Credential::new(m, p).to_authorization_value());
    assert_eq!(Credential::from_headers(&h).unwrap_err().code(), "malformed-preimage");
}

#[test]
fn grpc_challenge_is_a_trailers_only_200_like_apertures() {
    let (m, _) = token();
    let r = grpc::challenge_response(&m, INVOICE, ChallengeStyle::default()).unwrap();
    assert_eq!(r.status(), http::StatusCode::OK);
    let h = r.headers();
    assert_eq!(h["content-type"], "application/grpc");
    assert_eq!(h["grpc-status"], "13");
    assert_eq!(h["grpc-message"], "payment required");
    let www: Vec<&str> = h.get_all(WWW_AUTHENTICATE).iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(www, lines(ChallengeStyle::default()));
    assert!(grpc::is_payment_required(h));
}

#[test]
fn legacy_status_details_have_the_documented_layout() {
    // The old spec's example starts `CJIDEgxtaXNzaW5nIExTQVQaeQ`: code 402, a 12-byte message,
    // then the details field. Ours differs only in the message text.
    let doc = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode("CJIDEgxtaXNzaW5nIExTQVQaeQ")
        .unwrap();
    let (m, _) = token();
    let ours = grpc::status_details(&m, INVOICE);
    assert_eq!(&ours[..5], &doc[..5]);
    assert_eq!(&ours[5..17], b"missing L402");
    assert_eq!(ours[17], doc[17]);
}

#[test]
fn legacy_violations_are_read_from_subject_as_well() {
    fn field(n: u8, b: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3) | 2];
        let mut len = b.len();
        while len >= 0x80 {
            v.push(u8::try_from(len & 0x7f).unwrap() | 0x80);
            len >>= 7;
        }
        v.push(u8::try_from(len).unwrap());
        v.extend_from_slice(b);
        v
    }
    let (m, _) = token();
    let mac = format!("macaroon:{}", m.to_base64());
    let failure =
        [field(1, &field(1, mac.as_bytes())), field(1, &field(1, b"invoice:lnbc1"))].concat();
    let any =
        [field(1, b"type.googleapis.com/google.rpc.QuotaFailure"), field(2, &failure)].concat();
    let status = [vec![0x08, 0x92, 0x03], field(2, b"missing LSAT"), field(3, &any)].concat();
    let value = base64::engine::general_purpose::STANDARD.encode(status);
    let c = grpc::legacy_challenge(&value).unwrap();
    let c = c.as_l402().unwrap();
    assert_eq!((&c.macaroon, c.invoice.as_str()), (&m, "lnbc1"));
}

#[test]
fn errors_have_stable_codes_and_lower_case_messages() {
    let all = [
        (Error::MalformedChallenge { offset: 3 }, "malformed-challenge"),
        (Error::DuplicateParameter("invoice".into()), "duplicate-parameter"),
        (Error::MissingParameter("invoice"), "missing-parameter"),
        (Error::UnsupportedVersion("1".into()), "unsupported-version"),
        (Error::UnencodableValue, "unencodable-value"),
        (Error::MalformedCredential("x"), "malformed-credential"),
        (Error::MultipleMacaroons(2), "multiple-macaroons"),
        (Error::ConflictingCredentials, "conflicting-credentials"),
        (Error::MissingCredential, "missing-credential"),
        (Error::MissingPreimage, "missing-preimage"),
        (Error::MissingChallenge, "missing-challenge"),
        (Error::HeaderTooLarge { len: 9 }, "header-too-large"),
        (Error::TooManyHeaders { count: 9 }, "too-many-headers"),
        (Error::MalformedStatusDetails("x"), "malformed-status-details"),
        (Error::Token(l402_token::Error::WrongPreimage), "wrong-preimage"),
    ];
    for (e, code) in all {
        assert_eq!(e.code(), code);
        let shown = e.to_string();
        assert!(shown.chars().next().is_some_and(|c| !c.is_uppercase()), "{shown}");
    }
}

#[test]
fn one_rule_tells_grpc_from_grpc_web_and_from_the_rest() {
    use l402_http::grpc::{flavor, status, Flavor};
    let with = |t: &'static str| {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(t));
        h
    };
    for t in ["application/grpc", "Application/GRPC+proto", "application/grpc;charset=x"] {
        assert_eq!(flavor(&with(t)), Some(Flavor::Grpc), "{t}");
    }
    for t in ["application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text"] {
        assert_eq!(flavor(&with(t)), Some(Flavor::Web), "{t}");
    }
    for t in ["application/grp", "application/grpcx", "application/grpc-webx", "text/plain"] {
        assert_eq!(flavor(&with(t)), None, "{t}");
    }
    assert_eq!(flavor(&HeaderMap::new()), None);
    let mut h = HeaderMap::new();
    assert_eq!(status(&h), None);
    h.insert("grpc-status", HeaderValue::from_static("14"));
    assert_eq!(status(&h), Some(14));
    h.insert("grpc-status", HeaderValue::from_static("x"));
    assert_eq!(status(&h), Some(2), "unreadable is UNKNOWN");
}

/// An intermediary that joins Aperture's client's two lines into one value
/// (`LSAT m:p, L402 m:p`) still gets the credential verified; the joined parts must agree.
#[test]
fn credentials_joined_into_one_value_are_read_and_must_agree() {
    let (m, p) = token();
    let (mac, pre) = (m.to_base64(), p.to_hex());
    let read = |value: &str| {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        Credential::from_headers(&h)
    };
    for value in [
        format!("LSAT {mac}:{pre}, L402 {mac}:{pre}"),
        format!("LSAT {mac}:{pre},L402 {mac}:{pre}"),
        format!("Bearer abc, L402 {mac}:{pre}"),
        format!("L402 {mac}:{pre}, Basic dXNlcjpwYXNz"),
    ] {
        let c = read(&value).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!((&c.macaroon, &c.preimage), (&m, &p), "{value}");
    }
    let other = Preimage::from_bytes([9; 32]).to_hex();
    let e = read(&format!("LSAT {mac}:{pre}, L402 {mac}:{other}")).unwrap_err();
    assert_eq!(e.code(), "conflicting-credentials");
    // A comma between macaroons is not two credentials: it is one token's list.
    let c = read(&format!("L402 {mac},{mac}:{pre}")).unwrap();
    assert_eq!((&c.macaroon, &c.others, &c.preimage), (&m, &vec![m.clone()], &p));
}

/// `L402 m1,m2:p`, the LSAT spec's list: attenuations of one token are read (up to
/// `MAX_MACAROONS`) and written back the same way; macaroons of different tokens are not.
#[test]
fn a_list_of_one_tokens_macaroons_is_read_and_written_back() {
    let (m, p) = token();
    let narrower = m.clone().with_caveat("max_uses=1");
    let value = format!("LSAT {},{}:{}", m.to_base64(), narrower.to_base64(), p.to_hex());
    let c = Credential::parse_authorization(&value).unwrap();
    assert_eq!((&c.macaroon, &c.others[..]), (&m, &[narrower.clone()][..]));
    assert_eq!(c.to_authorization_value().to_str().unwrap(), value);

    let list = vec![m.to_base64(); l402_http::MAX_MACAROONS].join(",");
    let c = Credential::parse_authorization(&format!("L402 {list}:{}", p.to_hex())).unwrap();
    assert_eq!(c.others.len(), l402_http::MAX_MACAROONS - 1);
    let too_many = format!("L402 {list},{}:{}", m.to_base64(), p.to_hex());
    let e = Credential::parse_authorization(&too_many).unwrap_err();
    assert_eq!(e.code(), "multiple-macaroons");

    let id = Identifier { payment_hash: p.payment_hash(), token_id: l402_token::TokenId([8; 32]) };
    let stranger = Macaroon::new_l402(&[1; 32], &id);
    let mixed = format!("L402 {},{}:{}", m.to_base64(), stranger.to_base64(), p.to_hex());
    let e = Credential::parse_authorization(&mixed).unwrap_err();
    assert_eq!(e.code(), "multiple-macaroons");
    // Two values must agree on the whole list.
    let mut h = HeaderMap::new();
    h.append(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
    h.append(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("L402 {}:{}", m.to_base64(), p.to_hex())).unwrap(),
    );
    assert_eq!(Credential::from_headers(&h).unwrap_err().code(), "conflicting-credentials");
}

/// lightning-toll's challenge: its token is base64url JSON, not a macaroon. `select` refuses it;
/// `select_opaque` hands it back exactly as written, preferring `L402`, and only when it can be
/// sent back in a credential.
#[test]
fn a_token_that_is_not_a_macaroon_is_offered_as_opaque_only() {
    use l402_http::select_opaque;
    let toll = "eyJpZCI6ImFiIiwiY2F2ZWF0cyI6W10sInNpZ25hdHVyZSI6ImNkIn0";
    let value = format!(
        r#"LSAT macaroon="{toll}x", invoice="{INVOICE}", L402 invoice="{INVOICE}", macaroon="{toll}""#
    );
    let offered = parse_challenges(&value).unwrap();
    assert_eq!(select(&offered).map_err(|e| e.code()).err(), Some("malformed-macaroon"));
    let chosen = select_opaque(&offered).unwrap();
    assert_eq!(
        (chosen.scheme, chosen.token.as_str(), chosen.invoice.as_str()),
        (Scheme::L402, toll, INVOICE)
    );
    assert!(!format!("{chosen:?}").contains(toll), "the token is a secret: {chosen:?}");

    let lsat_only =
        parse_challenges(&format!(r#"LSAT macaroon="{toll}", invoice="{INVOICE}""#)).unwrap();
    assert_eq!(select_opaque(&lsat_only).map(|c| c.scheme), Some(Scheme::Lsat));
    // Not offered: a real macaroon (answer it normally), no invoice, a token that cannot be
    // sent back (`:` splits the credential), or another failure than the token's decoding.
    let (m, _) = token();
    for value in [
        format!(r#"L402 macaroon="{}", invoice="{INVOICE}""#, m.to_base64()),
        format!(r#"L402 macaroon="{toll}""#),
        format!(r#"L402 macaroon="{toll}", invoice="""#),
        format!(r#"L402 macaroon="a:b", invoice="{INVOICE}""#),
        format!(r#"L402 macaroon="a b", invoice="{INVOICE}""#),
        format!(r#"L402 macaroon="{toll}", invoice="{INVOICE}", version="1""#),
        format!(r#"L402 macaroon="{toll}", macaroon="{toll}", invoice="{INVOICE}""#),
    ] {
        let offered = parse_challenges(&value).unwrap();
        assert_eq!(select_opaque(&offered), None, "{value}");
    }
}

/// A server that offers a macaroon too is answered with the macaroon, never the opaque token.
#[test]
fn a_macaroon_beside_an_opaque_token_wins() {
    let (m, _) = token();
    let value = format!(
        r#"L402 macaroon="eyJhIjoxfQ", invoice="{INVOICE}", LSAT macaroon="{}", invoice="{INVOICE}""#,
        m.to_base64()
    );
    let offered = parse_challenges(&value).unwrap();
    assert_eq!(select(&offered).unwrap().scheme, Scheme::Lsat);
    assert_eq!(l402_http::select_opaque(&offered), None);
}
