//! The Rust `macaroon` crate as an independent oracle: what it mints verifies here, and the
//! reverse. It needs `MacaroonKey::generate(root)` to match Go's key derivation (decision 0001).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use l402_token::Macaroon;
use macaroon::{ByteString, Format, MacaroonKey, Verifier};

fn root_and_caveats(t: &l402_vectors::token::TokenCase) -> (Vec<u8>, Vec<Vec<u8>>) {
    let root = hex::decode(t.root_key.as_ref().unwrap()).unwrap();
    (root, t.caveats.iter().map(|c| hex::decode(&c.id).unwrap()).collect())
}

fn valid_vectors() -> Vec<l402_vectors::token::TokenCase> {
    l402_vectors::token()
        .tokens
        .into_iter()
        .filter(|t| t.signature_check.as_deref() == Some("valid"))
        .collect()
}

#[test]
fn our_tokens_verify_in_the_macaroon_crate() {
    macaroon::initialize().unwrap();
    let vectors = valid_vectors();
    assert!(vectors.len() > 10);
    for t in vectors {
        let (root, _) = root_and_caveats(&t);
        let ours = Macaroon::from_base64(&t.canonical).unwrap();
        let theirs = macaroon::Macaroon::deserialize_binary(&ours.encode())
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        let mut v = Verifier::default();
        v.satisfy_general(|_| true);
        v.verify(&theirs, &MacaroonKey::generate(&root), vec![])
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        // And it refuses the same token under another key: the oracle can fail.
        assert!(v.verify(&theirs, &MacaroonKey::generate(b"another key"), vec![]).is_err());
    }
}

#[test]
fn tokens_the_macaroon_crate_mints_verify_here_with_the_same_signature() {
    macaroon::initialize().unwrap();
    for t in valid_vectors() {
        let (root, caveats) = root_and_caveats(&t);
        let identifier: ByteString = hex::decode(&t.identifier).unwrap().into();
        let mut theirs = macaroon::Macaroon::create(
            t.location.clone(),
            &MacaroonKey::generate(&root),
            identifier,
        )
        .unwrap();
        for c in caveats {
            theirs.add_first_party_caveat(c.into());
        }
        // The crate only writes URL-safe base64: one of the forms we accept (decision 0002).
        let text = theirs.serialize(Format::V2).unwrap();
        let back = Macaroon::from_base64(&text).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        back.verify_signature(&root).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert_eq!(hex::encode(back.signature()), t.signature, "{}", t.name);
        assert_eq!(back.to_base64(), t.canonical, "{}: same bytes as ours", t.name);
    }
}
