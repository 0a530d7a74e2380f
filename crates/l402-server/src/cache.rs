//! A bounded per-instance cache: confirmed root keys, and credentials already proven.
//!
//! Two generations instead of one map that is cleared when full: when the young generation
//! fills up it becomes the old one and the previous old one is dropped. A full cache then
//! forgets the half least recently inserted, not everything at once, so a busy instance never
//! sends every client's next request to the store together.

use core::hash::Hash;
use std::collections::HashMap;

/// Two generations of at most half the capacity each. The maps use std's randomly keyed
/// SipHash, so a client cannot aim its keys at one bucket.
#[derive(Debug)]
pub(crate) struct Generations<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    /// Entries per generation: half the configured capacity, at least one.
    half: usize,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    pub(crate) fn new(capacity: usize) -> Generations<K, V> {
        Generations { young: HashMap::new(), old: HashMap::new(), half: (capacity / 2).max(1) }
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: core::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.young.get(key).or_else(|| self.old.get(key))
    }

    /// Inserts into the young generation, rotating first when it is full. A key read from
    /// the old generation is inserted again by the caller's next miss, not moved on read:
    /// reads share a lock and must not write.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.young.len() >= self.half && !self.young.contains_key(&key) {
            self.old = core::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }

    pub(crate) fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::RootKey;
    use l402_token::{Identifier, PaymentHash, TokenId};

    type KeyCache = Generations<Identifier, RootKey>;

    fn id(n: u16) -> Identifier {
        let mut t = [0; 32];
        t[..2].copy_from_slice(&n.to_be_bytes());
        Identifier { payment_hash: PaymentHash([0; 32]), token_id: TokenId(t) }
    }

    #[test]
    fn a_full_cache_forgets_the_older_half_only() {
        let mut c = KeyCache::new(4);
        for n in 0..4 {
            c.insert(id(n), RootKey([n as u8; 32]));
        }
        assert_eq!(c.len(), 4);
        assert!((0..4).all(|n| c.get(&id(n)) == Some(&RootKey([n as u8; 32]))));
        c.insert(id(4), RootKey([4; 32]));
        // 0 and 1 were the old generation; 2 and 3 became it.
        assert_eq!((c.get(&id(0)), c.get(&id(1))), (None, None));
        assert!([2, 3, 4].iter().all(|n| c.get(&id(*n)).is_some()));
        assert!(c.len() <= 4);
    }

    #[test]
    fn never_holds_more_than_the_capacity() {
        for capacity in [0, 1, 2, 3, 10] {
            let mut c = KeyCache::new(capacity);
            for n in 0..100 {
                c.insert(id(n), RootKey([0; 32]));
                assert!(c.len() <= capacity.max(2), "capacity {capacity}: {}", c.len());
                assert!(c.get(&id(n)).is_some(), "the newest key is always there");
            }
        }
    }

    #[test]
    fn reinserting_a_present_key_does_not_rotate() {
        let mut c = KeyCache::new(2);
        c.insert(id(1), RootKey([1; 32]));
        c.insert(id(1), RootKey([1; 32]));
        c.insert(id(1), RootKey([1; 32]));
        assert_eq!(c.len(), 1);
        c.clear();
        assert_eq!(c.get(&id(1)), None);
    }
}
