//! Credentials already proven: a warm paid request skips decoding and the HMAC chain
//! (decision 0616).
//!
//! Keyed by the request's one `Authorization` value, byte for byte, which decides the
//! credential alone (decision 0402), so the same bytes always parse to the same credential. An
//! entry remembers the root key its signature was proven under: a hit counts only when the key
//! ring still gives that identifier the same key (a rotated or forgotten key is not reused).
//! Caveats, revocation and the allowance are judged on every request as before: only work
//! that depends on nothing but the bytes and the key is skipped.

use std::sync::{Arc, RwLock};

use http::header::{HeaderMap, AUTHORIZATION};
use l402_http::Credential;
use l402_token::Identifier;
use subtle::ConstantTimeEq as _;

use crate::cache::Generations;
use crate::keys::RootKey;

/// An `Authorization` value as a cache key; compared in constant time, since a stored key is
/// a paid credential (the randomly keyed hash already makes a probe land on it only by chance).
struct Bytes(Box<[u8]>);

impl core::hash::Hash for Bytes {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        // Equal bytes hash equally, as `Eq` requires; the comparison itself is the constant-
        // time part.
        self.0.hash(state);
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for Bytes {}

/// A credential whose signature and preimage were verified under `key`.
pub(crate) struct Proof {
    pub(crate) credential: Credential,
    pub(crate) identifier: Identifier,
    pub(crate) key: RootKey,
}

pub(crate) struct Proven {
    seen: RwLock<Generations<Bytes, Arc<Proof>>>,
}

/// The one `Authorization` value of a request, if it has exactly one: the credential's whole
/// source then (several values must be compared, which the full parse does).
fn single(headers: &HeaderMap) -> Option<&[u8]> {
    let mut all = headers.get_all(AUTHORIZATION).iter();
    let (Some(only), None) = (all.next(), all.next()) else { return None };
    Some(only.as_bytes())
}

impl Proven {
    pub(crate) fn new(capacity: usize) -> Proven {
        Proven { seen: RwLock::new(Generations::new(capacity)) }
    }

    /// The proof of this request's credential, if one is remembered.
    pub(crate) fn get(&self, headers: &HeaderMap) -> Option<Arc<Proof>> {
        let key = Bytes(single(headers)?.into());
        self.seen.read().unwrap_or_else(|e| e.into_inner()).get(&key).cloned()
    }

    /// Remembers a proof for this request's credential.
    pub(crate) fn insert(&self, headers: &HeaderMap, proof: Proof) {
        if let Some(value) = single(headers) {
            let mut seen = self.seen.write().unwrap_or_else(|e| e.into_inner());
            seen.insert(Bytes(value.into()), Arc::new(proof));
        }
    }

    /// Forgets every proof (after a revocation, with the key cache).
    pub(crate) fn clear(&self) {
        self.seen.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use l402_token::{Macaroon, Preimage, TokenId};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn proof() -> Proof {
        let p = Preimage::from_bytes([1; 32]);
        let identifier = Identifier { payment_hash: p.payment_hash(), token_id: TokenId([2; 32]) };
        let credential = Credential::new(Macaroon::new_l402(&[3; 32], &identifier), p);
        Proof { credential, identifier, key: RootKey([3; 32]) }
    }

    #[test]
    fn only_the_same_single_value_finds_a_proof() {
        let proven = Proven::new(8);
        let value = "L402 abc:00";
        proven.insert(&headers(&[value]), proof());
        assert!(proven.get(&headers(&[value])).is_some());
        // Other bytes (another spelling, another preimage) are verified in full.
        assert!(proven.get(&headers(&["L402 abc:01"])).is_none());
        assert!(proven.get(&headers(&["l402 abc:00"])).is_none());
        // Several values must be compared with each other: never from the cache.
        assert!(proven.get(&headers(&[value, value])).is_none());
        proven.insert(&headers(&[value, "L402 x:00"]), proof());
        assert!(proven.get(&headers(&[value, "L402 x:00"])).is_none());
        assert!(proven.get(&HeaderMap::new()).is_none());
        proven.clear();
        assert!(proven.get(&headers(&[value])).is_none());
    }
}
