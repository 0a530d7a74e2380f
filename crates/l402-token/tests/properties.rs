//! Property tests: round trips, no panics on any input, attenuation cannot be undone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a failing test"
)]

use l402_token::{text, Identifier, Limits, Macaroon, PaymentHash, Preimage, TokenId};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

prop_compose! {
    fn macaroon()(
        root in bytes(40),
        id in bytes(80),
        loc in proptest::option::of(bytes(20)),
        caveats in proptest::collection::vec(bytes(60), 0..12),
    ) -> (Vec<u8>, Macaroon) {
        let mut m = Macaroon::new(&root, &id, loc.as_deref());
        for c in caveats {
            m.add_first_party_caveat(c);
        }
        (root, m)
    }
}

proptest! {
    #[test]
    fn encode_decode_round_trips((root, m) in macaroon()) {
        let bytes = m.encode();
        let back = Macaroon::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(Macaroon::from_base64(&m.to_base64()).unwrap(), m.clone());
        prop_assert!(m.verify_signature(&root).is_ok());
    }

    #[test]
    fn every_accepted_base64_form_decodes_to_the_same_bytes(data in bytes(300)) {
        use base64::Engine as _;
        use base64::engine::general_purpose as gp;
        prop_assume!(!data.is_empty());
        for form in [gp::STANDARD.encode(&data), gp::STANDARD_NO_PAD.encode(&data), gp::URL_SAFE.encode(&data), gp::URL_SAFE_NO_PAD.encode(&data)] {
            prop_assert_eq!(text::decode_base64(&form, 1 << 20).map(|(b, _)| b), Ok(data.clone()));
        }
    }

    #[test]
    fn decode_never_panics_and_accepted_v2_round_trips(data in bytes(400)) {
        if let Ok(m) = Macaroon::decode(&data) {
            if data.first() == Some(&2) {
                prop_assert_eq!(m.encode(), data);
            }
        }
    }

    #[test]
    fn mutated_tokens_never_panic_and_never_verify_changed((root, m) in macaroon(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = m.encode();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(changed) = Macaroon::decode(&bytes) {
            // The location is a hint outside the HMAC, as in libmacaroons: changing it alone
            // must not matter; changing anything else must break the signature.
            let signed = |x: &Macaroon| (x.identifier().to_vec(), x.caveats().to_vec(), *x.signature());
            prop_assert_eq!(changed.verify_signature(&root).is_ok(), signed(&changed) == signed(&m));
        }
    }

    #[test]
    fn text_decode_never_panics(s in ".{0,200}") {
        let _ = Macaroon::from_base64(&s);
        let _ = Macaroon::from_hex(&s);
        let _ = Preimage::from_hex(&s);
    }

    #[test]
    fn identifier_round_trips(hash in any::<[u8; 32]>(), token in any::<[u8; 32]>()) {
        let id = Identifier { payment_hash: PaymentHash(hash), token_id: TokenId(token) };
        prop_assert_eq!(Identifier::decode(&id.encode()), Ok(id));
        let hex_text = hex::encode(id.encode());
        prop_assert_eq!(Identifier::decode_lenient(hex_text.as_bytes()).map(|(i, _)| i), Ok(id));
    }

    #[test]
    fn removing_a_caveat_breaks_the_signature((root, m) in macaroon(), extra in bytes(30)) {
        let narrowed = m.clone().with_caveat(extra);
        // Put the narrowed signature on the un-narrowed body: what a holder would need to forge.
        let mut bytes = m.encode();
        let n = bytes.len();
        bytes[n - 32..].copy_from_slice(narrowed.signature());
        let forged = Macaroon::decode(&bytes).unwrap();
        prop_assert!(forged.verify_signature(&root).is_err());
    }

    #[test]
    fn limits_are_enforced(n in 0usize..20, max in 0usize..20) {
        let mut m = Macaroon::new(b"k", b"id", None);
        for i in 0..n {
            m.add_first_party_caveat(format!("c={i}"));
        }
        let limits = Limits { max_caveats: max, ..Limits::DEFAULT };
        prop_assert_eq!(Macaroon::decode_with(&m.encode(), &limits).is_ok(), n <= max);
    }
}
