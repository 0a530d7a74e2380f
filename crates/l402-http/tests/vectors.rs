//! Every case of `spec-vectors/http.json` through the public API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

use http::header::{HeaderMap, HeaderName, HeaderValue};
use l402_http::{
    challenge_values, grpc, parse_challenge_lines, select, ChallengeStyle, Credential,
    CredentialSource, Limits, MacaroonParam, ParsedChallenge, TokenStatus, TOKEN_STATUS,
};
use l402_token::{Macaroon, Preimage};
use l402_vectors::http::{ParsedCase, SelectedCase, TokenStatusValue};

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    h
}

fn params(ps: &[l402_http::Param]) -> Vec<(String, String)> {
    ps.iter().map(|p| (p.name.clone(), p.value.clone())).collect()
}

/// Compares one parsed element with its vector, field by field.
fn matches(p: &ParsedChallenge, want: &ParsedCase) -> bool {
    match p {
        ParsedChallenge::L402(c) => {
            let param = match c.macaroon_param {
                MacaroonParam::Macaroon => "macaroon",
                MacaroonParam::Token => "token",
                MacaroonParam::Both => "both",
            };
            want.kind == "l402"
                && want.scheme.as_deref() == Some(c.scheme.as_str())
                && want.macaroon.as_deref() == Some(c.macaroon_text.as_str())
                && want.invoice.as_deref() == Some(c.invoice.as_str())
                && want.version.as_deref() == Some(c.version.as_str())
                && want.macaroon_param.as_deref() == Some(param)
                // The decoded macaroon is the text's macaroon.
                && Macaroon::from_base64(&c.macaroon_text).as_ref() == Ok(&c.macaroon)
        }
        ParsedChallenge::Rejected(r) => {
            want.kind == "rejected"
                && want.scheme.as_deref() == Some(r.scheme.as_str())
                && want.code.as_deref() == Some(r.error.code())
                && want.params == params(&r.params)
        }
        ParsedChallenge::Other(o) => {
            want.kind == "other"
                && want.scheme.as_deref() == Some(o.scheme.as_str())
                && want.token68 == o.token68
                && want.params == params(&o.params)
        }
        ParsedChallenge::Malformed { line, error } => {
            want.kind == "malformed"
                && want.line == Some(*line)
                && want.code.as_deref() == Some(error.code())
        }
        _ => false,
    }
}

fn selected(offered: &[ParsedChallenge]) -> (Option<SelectedCase>, Option<String>) {
    match select(offered) {
        Ok(c) => (
            Some(SelectedCase {
                scheme: c.scheme.as_str().into(),
                macaroon: c.macaroon_text.clone(),
                invoice: c.invoice.clone(),
            }),
            None,
        ),
        Err(e) => (None, Some(e.code().into())),
    }
}

#[test]
fn challenge_vectors() {
    let v = l402_vectors::http();
    assert!(v.challenges.len() > 40);
    for case in &v.challenges {
        let lines = case.lines.iter().map(String::as_str);
        match parse_challenge_lines(lines, &Limits::DEFAULT) {
            Ok(items) => {
                assert_eq!(items.len(), case.parsed.len(), "{}", case.name);
                for (got, want) in items.iter().zip(&case.parsed) {
                    assert!(matches(got, want), "{}: {got:?} vs {want:?}", case.name);
                }
                assert_eq!(selected(&items), (case.selected.clone(), case.select_code.clone()));
            }
            Err(e) => {
                assert!(case.parsed.is_empty(), "{}", case.name);
                assert_eq!(Some(e.code()), case.select_code.as_deref(), "{}", case.name);
            }
        }
    }
}

#[test]
fn challenge_vectors_read_the_same_from_a_header_map() {
    for case in l402_vectors::http().challenges {
        // An empty value is a valid header line; a non-ASCII one cannot be a HeaderValue.
        let Ok(values) =
            case.lines.iter().map(|l| HeaderValue::from_str(l)).collect::<Result<Vec<_>, _>>()
        else {
            l402_vectors::skip("http-headermap", &case.name, "line is not a valid HeaderValue");
            continue;
        };
        let mut map = HeaderMap::new();
        for v in values {
            map.append(http::header::WWW_AUTHENTICATE, v);
        }
        let got = l402_http::challenges_from_headers(&map).and_then(|items| {
            select(&items).map(|c| (c.scheme.as_str().to_owned(), c.macaroon_text.clone()))
        });
        let want = match (&case.selected, &case.select_code) {
            (Some(s), _) => Ok((s.scheme.clone(), s.macaroon.clone())),
            (None, Some(code)) => Err(code.clone()),
            (None, None) => panic!("{}: no outcome", case.name),
        };
        assert_eq!(got.map_err(|e| e.code().to_owned()), want, "{}", case.name);
    }
}

#[test]
fn emitted_challenge_vectors() {
    for case in l402_vectors::http().emitted_challenges {
        let style = match case.style.as_str() {
            "aperture" => ChallengeStyle::Aperture,
            "l402" => ChallengeStyle::L402,
            "version-token" => ChallengeStyle::VersionToken,
            other => panic!("unknown style {other}"),
        };
        let mac = Macaroon::from_base64(&case.macaroon).unwrap();
        let got: Vec<String> = challenge_values(&mac, &case.invoice, style)
            .unwrap()
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, case.lines, "{}", case.name);
    }
}

fn source_name(s: CredentialSource) -> &'static str {
    match s {
        CredentialSource::Authorization => "authorization",
        CredentialSource::GrpcMetadataMacaroon => "grpc-metadata-macaroon",
        CredentialSource::Macaroon => "macaroon",
        CredentialSource::Token => "token",
        _ => "unknown",
    }
}

#[test]
fn credential_vectors() {
    let v = l402_vectors::http();
    assert!(v.credentials.len() > 40);
    for case in &v.credentials {
        match Credential::from_headers(&header_map(&case.headers)) {
            Ok(c) => {
                assert_eq!(case.code, None, "{}", case.name);
                assert_eq!(Some(c.scheme.as_str()), case.scheme.as_deref(), "{}", case.name);
                assert_eq!(Some(c.macaroon.to_base64()), case.macaroon, "{}", case.name);
                assert_eq!(Some(c.preimage.to_hex()), case.preimage, "{}", case.name);
                assert_eq!(
                    Some(source_name(c.source)),
                    case.credential_source.as_deref(),
                    "{}",
                    case.name
                );
            }
            Err(e) => assert_eq!(Some(e.code()), case.code.as_deref(), "{}", case.name),
        }
    }
}

#[test]
fn emitted_credential_vectors() {
    for case in l402_vectors::http().emitted_credentials {
        let cred = Credential::new(
            Macaroon::from_base64(&case.macaroon).unwrap(),
            Preimage::from_hex(&case.preimage).unwrap(),
        );
        assert_eq!(cred.to_authorization_value().to_str().unwrap(), case.authorization);
        assert_eq!(cred.to_hex_value().to_str().unwrap(), case.grpc_metadata);
        // And what we emit reads back as the same credential, by both routes.
        let back = Credential::parse_authorization(&case.authorization).unwrap();
        assert_eq!((back.macaroon, back.preimage), (cred.macaroon.clone(), cred.preimage.clone()));
        let hex = Credential::parse_hex(&case.grpc_metadata, CredentialSource::Macaroon).unwrap();
        assert_eq!(hex.preimage, cred.preimage, "{}", case.name);
    }
}

#[test]
fn grpc_vectors() {
    for case in l402_vectors::http().grpc {
        let map = header_map(&case.headers);
        assert_eq!(grpc::is_payment_required(&map), case.payment_required, "{}", case.name);
        let got = match grpc::read_challenges(&map) {
            Ok(Some(items)) => selected(&items),
            Ok(None) => (None, None),
            Err(e) => (None, Some(e.code().to_owned())),
        };
        assert_eq!(got, (case.selected.clone(), case.code.clone()), "{}", case.name);
    }
}

#[test]
fn token_status_vectors() {
    let cases = l402_vectors::http().token_status;
    assert!(cases.iter().any(|c| c.read.is_none()), "negative vectors present");
    for case in cases {
        let mut map = HeaderMap::new();
        for line in &case.lines {
            map.append(TOKEN_STATUS, HeaderValue::from_str(line).unwrap());
        }
        let read = TokenStatus::from_headers(&map)
            .map(|s| TokenStatusValue { expires: s.expires, remaining: s.remaining });
        assert_eq!(read, case.read, "{}", case.name);
        if case.emitted {
            let r = case.read.unwrap();
            let written = TokenStatus { expires: r.expires, remaining: r.remaining };
            let written = written.to_header_value().unwrap();
            assert_eq!(written.to_str().unwrap(), case.lines[0], "{}", case.name);
        }
    }
}
