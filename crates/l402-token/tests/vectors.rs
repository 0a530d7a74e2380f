//! Runs every token-layer spec vector through the public API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a failing test"
)]

use l402_token::{Error, Identifier, Macaroon, Preimage};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector hex")
}

/// The documented check order: text, binary, identifier, preimage format, hash, signature.
fn check(
    text: Option<&str>,
    binary: Option<&str>,
    root: Option<&str>,
    preimage: Option<&str>,
) -> Result<(), Error> {
    let mac = match (text, binary) {
        (Some(t), _) => Macaroon::from_base64(t)?,
        (None, Some(b)) => Macaroon::decode(&unhex(b))?,
        (None, None) => panic!("vector has no input"),
    };
    let id = mac.l402_identifier()?;
    if let Some(p) = preimage {
        Preimage::from_hex(p)?.check(&id.payment_hash)?;
    }
    if let Some(r) = root {
        mac.verify_signature(&unhex(r))?;
    }
    Ok(())
}

#[test]
fn tokens_decode_round_trip_and_verify() {
    let v = l402_vectors::token();
    assert!(v.tokens.len() >= 15);
    for t in &v.tokens {
        let m = Macaroon::from_base64(&t.text).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        let binary = unhex(&t.binary);
        assert_eq!(Macaroon::decode(&binary).as_ref(), Ok(&m), "{}", t.name);
        if binary.first() == Some(&2) {
            assert_eq!(m.encode(), binary, "{}: byte-exact round trip", t.name);
        }
        assert_eq!(m.to_base64(), t.canonical, "{}", t.name);
        assert_eq!(Macaroon::from_base64(&t.canonical).as_ref(), Ok(&m), "{}", t.name);
        assert_eq!(Macaroon::from_hex(&m.to_hex()).as_ref(), Ok(&m), "{}", t.name);
        assert_eq!(
            m.location().map(|l| String::from_utf8_lossy(l).into_owned()),
            t.location,
            "{}",
            t.name
        );
        assert_eq!(hex::encode(m.identifier()), t.identifier, "{}", t.name);
        assert_eq!(hex::encode(m.signature()), t.signature, "{}", t.name);
        let caveats: Vec<_> =
            m.caveats().iter().map(|c| (hex::encode(c.id()), c.vid().map(hex::encode))).collect();
        let expected: Vec<_> = t.caveats.iter().map(|c| (c.id.clone(), c.vid.clone())).collect();
        assert_eq!(caveats, expected, "{}", t.name);
        assert_eq!(
            Identifier::decode(m.identifier()).err().map(|e| e.code()),
            t.identifier_code.as_deref(),
            "{}",
            t.name
        );
        let lenient = Identifier::decode_lenient(m.identifier()).ok();
        assert_eq!(
            lenient.map(|(id, _)| id.payment_hash.to_string()),
            t.payment_hash,
            "{}",
            t.name
        );
        assert_eq!(lenient.map(|(id, _)| id.token_id.to_string()), t.token_id, "{}", t.name);
        if let (Some(root), Some(expected)) = (&t.root_key, &t.signature_check) {
            let got = match m.verify_signature(&unhex(root)) {
                Ok(()) => "valid",
                Err(e) => e.code(),
            };
            assert_eq!(got, expected, "{}", t.name);
        }
        if let (Some(p), Some(h)) = (&t.preimage, &t.payment_hash) {
            assert_eq!(
                Preimage::from_hex(p).map(|p| p.payment_hash().to_string()).as_ref(),
                Ok(h),
                "{}",
                t.name
            );
        }
    }
}

#[test]
fn failures_give_their_code() {
    let v = l402_vectors::token();
    assert!(v.failures.len() >= 40);
    for f in &v.failures {
        let got = check(
            f.text.as_deref(),
            f.binary.as_deref(),
            f.root_key.as_deref(),
            f.preimage.as_deref(),
        );
        assert_eq!(got.err().map(|e| e.code()), Some(f.code.as_str()), "{}", f.name);
    }
}

#[test]
fn identifiers_decode_or_fail_with_their_code() {
    for c in &l402_vectors::token().identifiers {
        let got = Identifier::decode(&unhex(&c.bytes));
        match &c.code {
            Some(code) => {
                assert_eq!(got.err().map(|e| e.code()), Some(code.as_str()), "{}", c.name)
            }
            None => {
                let id = got.unwrap_or_else(|e| panic!("{}: {e}", c.name));
                assert_eq!(Some(id.payment_hash.to_string()), c.payment_hash, "{}", c.name);
                assert_eq!(Some(id.token_id.to_string()), c.token_id, "{}", c.name);
                assert_eq!(hex::encode(id.encode()), c.bytes, "{}", c.name);
            }
        }
    }
}

/// An empty location writes no location field (`01 00`), as Go's and js-macaroon's encoders
/// do, so a token minted with one is byte for byte the peers' token.
#[test]
fn an_empty_location_writes_no_location_field() {
    let none = Macaroon::new(&[7; 32], b"id", None);
    let empty = Macaroon::new(&[7; 32], b"id", Some(b""));
    assert_eq!(empty.encode(), none.encode());
    assert_eq!(empty.location(), None);
    // Version byte, then the identifier field (type 2) straight away.
    assert_eq!(none.encode().get(..2), Some(&[0x02, 0x02][..]));
    let lsat = Macaroon::new(&[7; 32], b"id", Some(b"lsat"));
    assert_eq!(lsat.encode().get(..3), Some(&[0x02, 0x01, 0x04][..]));
}
