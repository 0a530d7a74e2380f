//! Credentials already proven: a warm paid request skips decoding and the HMAC chain
//! (decision 0616).
//!
//! Keyed by the request's one `Authorization` value, byte for byte, which decides the
//! credential alone (decision 0402), so the same bytes always parse to the same credential. An
//! entry remembers the root key its signature was proven under: a hit counts only when the key
//! ring still gives that identifier the same key (a rotated or forgotten key is not reused).
//! Caveats, revocation and the allowance are judged on every request as before: only work
//! that depends on nothing but the bytes and the key is skipped.

use std::hash::{BuildHasher as _, RandomState};
use std::sync::{Arc, RwLock};

use http::header::{HeaderMap, AUTHORIZATION};
use l402_http::Credential;
use l402_token::Identifier;

use crate::cache::Generations;
use crate::keys::RootKey;

/// A credential whose signature and preimage were verified under `key`.
pub(crate) struct Proof {
    pub(crate) credential: Credential,
    pub(crate) identifier: Identifier,
    pub(crate) key: RootKey,
}

/// A proof and the `Authorization` bytes it was proven for.
struct Entry {
    bytes: Box<[u8]>,
    proof: Arc<Proof>,
}

/// Keyed by a randomly keyed SipHash of the bytes, so a lookup hashes once and allocates
/// nothing, and a client cannot aim at one slot. Two values with one hash share the slot: the
/// later wins, and the bytes are compared on every hit.
pub(crate) struct Proven {
    hasher: RandomState,
    seen: RwLock<Generations<u64, Entry>>,
}

/// The one `Authorization` value of a request, if it has exactly one: the credential's whole
/// source then (several values must be compared, which the full parse does).
fn single(headers: &HeaderMap) -> Option<&[u8]> {
    let mut all = headers.get_all(AUTHORIZATION).iter();
    let (Some(only), None) = (all.next(), all.next()) else { return None };
    Some(only.as_bytes())
}

/// Whether `a` and `b` are the same bytes, in time that depends on their length only: a
/// stored value is a paid credential. Word-wise, since a byte-wise `subtle` comparison of a
/// whole header showed in the profile.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = wa.remainder().iter().zip(wb.remainder()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    let diff = wa.zip(wb).fold(u64::from(tail), |acc, (x, y)| acc | (word(x) ^ word(y)));
    // Keeps the compiler from turning the fold into an early exit.
    core::hint::black_box(diff) == 0
}

impl Proven {
    pub(crate) fn new(capacity: usize) -> Proven {
        Proven { hasher: RandomState::new(), seen: RwLock::new(Generations::new(capacity)) }
    }

    /// The proof of this request's credential, if one is remembered.
    pub(crate) fn get(&self, headers: &HeaderMap) -> Option<Arc<Proof>> {
        let bytes = single(headers)?;
        let seen = self.seen.read().unwrap_or_else(|e| e.into_inner());
        let entry = seen.get(&self.hasher.hash_one(bytes))?;
        same(&entry.bytes, bytes).then(|| Arc::clone(&entry.proof))
    }

    /// Remembers a proof for this request's credential.
    pub(crate) fn insert(&self, headers: &HeaderMap, proof: Proof) {
        if let Some(bytes) = single(headers) {
            let entry = Entry { bytes: bytes.into(), proof: Arc::new(proof) };
            let mut seen = self.seen.write().unwrap_or_else(|e| e.into_inner());
            seen.insert(self.hasher.hash_one(bytes), entry);
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

    #[test]
    fn same_compares_every_byte_and_the_length() {
        let a = b"L402 0123456789abcdef:0123";
        assert!(same(a, a));
        for i in 0..a.len() {
            let mut b = *a;
            b[i] ^= 1;
            assert!(!same(a, &b), "byte {i}");
        }
        assert!(!same(a, &a[..a.len() - 1]));
        assert!(same(b"", b""));
    }
}
