//! The macaroon HMAC-SHA256 chain (libmacaroons, gopkg.in/macaroon.v2).

use bitcoin_hashes::{hmac, sha256 as h256, Hash as _, HashEngine as _};

/// The fixed key libmacaroons uses to derive the chain key from a root key. Peers that skip
/// this step (as the 2026 L402 macaroon-spec text does) interoperate with nobody.
const KEY_GENERATOR: &[u8] = b"macaroons-key-generator";

/// `HMAC-SHA256(key, msg)`.
pub fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut engine = hmac::HmacEngine::<h256::HashEngine>::new(key);
    engine.input(msg);
    engine.finalize().to_byte_array()
}

/// An HMAC-SHA256 key whose padded-key states are computed once, for a key that signs many
/// messages (a server's master secret): [`HmacKey::sign`] then skips the two SHA-256 blocks
/// of the padded key that [`hmac()`] hashes on every call.
/// `HmacKey::new(k).sign(m) == hmac(k, m)`.
#[derive(Clone)]
pub struct HmacKey(hmac::HmacEngine<h256::HashEngine>);

impl HmacKey {
    /// Prepares `key`.
    pub fn new(key: &[u8]) -> HmacKey {
        HmacKey(hmac::HmacEngine::new(key))
    }

    /// `HMAC-SHA256(key, msg)`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 32] {
        let mut engine = self.0.clone();
        engine.input(msg);
        engine.finalize().to_byte_array()
    }
}

impl core::fmt::Debug for HmacKey {
    // The states are as good as the key.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

/// `SHA-256(data)`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    h256::Hash::hash(data).to_byte_array()
}

/// The chain key for a root key: `HMAC("macaroons-key-generator", root_key)`.
pub fn derive_key(root_key: &[u8]) -> [u8; 32] {
    hmac(KEY_GENERATOR, root_key)
}

/// One step of the chain for a first-party caveat.
pub fn chain_first_party(sig: &[u8; 32], caveat_id: &[u8]) -> [u8; 32] {
    hmac(sig, caveat_id)
}

/// One step of the chain for a third-party caveat:
/// `HMAC(sig, HMAC(sig, vid) || HMAC(sig, cid))`.
pub fn chain_third_party(sig: &[u8; 32], vid: &[u8], cid: &[u8]) -> [u8; 32] {
    let mut both = [0u8; 64];
    let (v, c) = both.split_at_mut(32);
    v.copy_from_slice(&hmac(sig, vid));
    c.copy_from_slice(&hmac(sig, cid));
    hmac(sig, &both)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_prepared_key_signs_like_hmac(
            key in prop::collection::vec(any::<u8>(), 0..100),
            msg in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            prop_assert_eq!(HmacKey::new(&key).sign(&msg), hmac(&key, &msg));
        }
    }
}
