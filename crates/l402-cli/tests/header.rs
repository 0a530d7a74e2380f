//! `l402 header …` driven as a user would: the real binary, the shared vectors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use support::{l402, stderr_code, stdout_json};

#[test]
fn parse_challenge_follows_every_challenge_vector() {
    for case in l402_vectors::http().challenges {
        if case.lines.is_empty() {
            l402_vectors::skip("cli", &case.name, "the command needs at least one field line");
            continue;
        }
        let mut args = vec!["header", "parse-challenge"];
        args.extend(case.lines.iter().map(String::as_str));
        let o = l402(&args);
        match (&case.selected, &case.select_code) {
            (Some(sel), _) => {
                assert_eq!(o.status.code(), Some(0), "{}", case.name);
                let v = stdout_json(&o);
                let items = v.as_array().expect("array");
                assert_eq!(items.len(), case.parsed.len(), "{}", case.name);
                let chosen: Vec<_> = items.iter().filter(|i| i["selected"] == true).collect();
                assert_eq!(chosen.len(), 1, "{}", case.name);
                assert_eq!(chosen[0]["scheme"], sel.scheme.as_str(), "{}", case.name);
                assert_eq!(chosen[0]["macaroon"], sel.macaroon.as_str(), "{}", case.name);
                assert_eq!(chosen[0]["invoice"], sel.invoice.as_str(), "{}", case.name);
                for (item, want) in items.iter().zip(&case.parsed) {
                    assert_eq!(
                        item["error"]["code"].as_str(),
                        want.code.as_deref(),
                        "{}",
                        case.name
                    );
                    assert_eq!(item["version"].as_str(), want.version.as_deref(), "{}", case.name);
                }
            }
            (None, Some(code)) => {
                assert_eq!(o.status.code(), Some(1), "{}", case.name);
                assert_eq!(&stderr_code(&o), code, "{}", case.name);
            }
            (None, None) => panic!("{}: vector without an outcome", case.name),
        }
    }
}

#[test]
fn parse_challenge_keeps_other_schemes_raw() {
    let o = l402(&["header", "parse-challenge", "Basic realm=\"a, b\", Negotiate abc==", "L402"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr_code(&o), "missing-parameter");
    let v = stdout_json(&o);
    assert_eq!(v[0]["scheme"], "Basic");
    assert_eq!(v[0]["params"][0]["name"], "realm");
    assert_eq!(v[0]["params"][0]["value"], "a, b");
    assert_eq!(v[1]["token68"], "abc==");
    assert_eq!(v[2]["error"]["code"], "missing-parameter");
}

#[test]
fn parse_authorization_follows_the_authorization_vectors() {
    let mut ran = 0;
    for case in l402_vectors::http().credentials {
        let only_authorization =
            !case.headers.is_empty() && case.headers.iter().all(|(n, _)| n == "authorization");
        if !only_authorization {
            l402_vectors::skip("cli", &case.name, "the command reads Authorization lines only");
            continue;
        }
        ran += 1;
        let mut args = vec!["header", "parse-authorization"];
        args.extend(case.headers.iter().map(|(_, v)| v.as_str()));
        let o = l402(&args);
        match &case.code {
            None => {
                assert_eq!(o.status.code(), Some(0), "{}", case.name);
                let v = stdout_json(&o);
                assert_eq!(v["scheme"].as_str(), case.scheme.as_deref(), "{}", case.name);
                assert_eq!(v["preimage"].as_str(), case.preimage.as_deref(), "{}", case.name);
                let macs = v["macaroons"].as_array().expect("array");
                // One, or a list of one token's macaroons (decision 0402).
                let two = case.name == "two-attenuations-of-one-token";
                assert_eq!(macs.len(), if two { 2 } else { 1 }, "{}", case.name);
                // Printed as written; it names the same macaroon as the vector.
                let text = macs[0].as_str().unwrap();
                assert_eq!(
                    l402_token::Macaroon::from_base64(text).unwrap().to_base64(),
                    case.macaroon.clone().unwrap(),
                    "{}",
                    case.name
                );
            }
            Some(code) => {
                assert_eq!(o.status.code(), Some(1), "{}", case.name);
                assert_eq!(&stderr_code(&o), code, "{}", case.name);
            }
        }
    }
    assert!(ran > 20);
}

#[test]
fn parse_authorization_refuses_a_value_with_control_characters() {
    let o = l402(&["header", "parse-authorization", "L402 a\u{1}b:00"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr_code(&o), "malformed-credential");
}

#[test]
fn no_arguments_is_a_usage_error() {
    let o = l402(&["header", "parse-challenge"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr_code(&o), "usage");
}
