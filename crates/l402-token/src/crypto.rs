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
