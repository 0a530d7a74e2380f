//! The shared caveat vectors, run through the public interface.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use l402_caveats::{grammar, Caveat, Context, Verifier};
use l402_token::{Macaroon, Preimage};
use l402_vectors::caveats::ContextCase;

fn context(c: &ContextCase) -> Context {
    let mut ctx = Context::new();
    ctx.service = c.service.clone();
    ctx.capability = c.capability.clone();
    ctx.now = c.now;
    ctx.method = c.method.clone();
    ctx.path = c.path.clone();
    ctx.client = c.client_ip.as_deref().map(|s| s.parse().expect("vector client address"));
    ctx.prior_uses = c.prior_uses;
    ctx
}

fn outcome<T>(r: Result<T, impl Into<String>>) -> String {
    match r {
        Ok(_) => "valid".into(),
        Err(code) => code.into(),
    }
}

#[test]
fn parse_vectors() {
    let v = l402_vectors::caveats();
    assert!(!v.parse.is_empty());
    for case in &v.parse {
        let bytes = hex::decode(&case.caveat).unwrap();
        let split = grammar::split(&bytes);
        assert_eq!(split.map(|(c, _)| hex::encode(c)), case.condition, "{}", case.name);
        assert_eq!(split.map(|(_, v)| hex::encode(v)), case.value, "{}", case.name);
        match Caveat::parse(&bytes) {
            Ok(c) => {
                assert_eq!(case.outcome, "ok", "{}", case.name);
                assert_eq!(c.encode(), bytes, "{}", case.name);
                let kind = match c.builtin() {
                    Some(b) => format!("{b:?}"),
                    None if split.is_none() => "opaque".into(),
                    None => "other".into(),
                };
                let want = case.kind.as_deref().unwrap().replace('_', "");
                assert!(kind.eq_ignore_ascii_case(&want), "{}: {kind} vs {want}", case.name);
            }
            Err(e) => assert_eq!(e.code(), case.outcome, "{}", case.name),
        }
    }
}

#[test]
fn evaluation_vectors() {
    let v = l402_vectors::caveats();
    let mut codes = std::collections::BTreeSet::new();
    for case in &v.evaluations {
        let verifier = match case.builtins.as_str() {
            "all" => Verifier::new(),
            "aperture" => Verifier::aperture(),
            other => panic!("{}: unknown builtins {other}", case.name),
        }
        .strict(case.strict);
        let caveats: Vec<Vec<u8>> = case.caveats.iter().map(|h| hex::decode(h).unwrap()).collect();
        let r = verifier.verify_caveats(caveats.iter().map(Vec::as_slice), &context(&case.context));
        if let Ok(verdict) = &r {
            assert_eq!(verdict.max_uses, case.max_uses, "{}", case.name);
            assert_eq!(verdict.deadline, case.deadline, "{}", case.name);
            assert_eq!(verdict.skipped, case.skipped, "{}", case.name);
        }
        let got = outcome(r.map_err(|e| e.code()));
        assert_eq!(got, case.outcome, "{}", case.name);
        codes.insert(got);
    }
    // Every code has a negative vector.
    for code in l402_caveats::Error::CODES {
        assert!(codes.contains(*code), "no evaluation vector for {code}");
    }
}

#[test]
fn token_vectors_signature_first_then_caveats() {
    let v = l402_vectors::caveats();
    assert!(v.tokens.iter().any(|t| t.source.contains("aperture-vectors.md C")));
    for case in &v.tokens {
        let got = (|| {
            let m = Macaroon::from_base64(&case.token).map_err(|e| e.code())?;
            let root = hex::decode(&case.root_key).unwrap();
            let p = Preimage::from_hex(&case.preimage).map_err(|e| e.code())?;
            m.verify(&root, Some(&p)).map_err(|e| e.code())?;
            Verifier::new().verify(&m, &context(&case.context)).map_err(|e| e.code())
        })();
        assert_eq!(outcome(got), case.outcome, "{}", case.name);
    }
}
