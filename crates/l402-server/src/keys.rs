//! Where root keys come from: one random key per token in the store, or derived from a master
//! secret (decision 0601).

use core::fmt;
use core::time::Duration;
use std::collections::BTreeMap;

use l402_token::chain::{sha256, HmacKey};
use l402_token::{Identifier, TokenId};

use crate::Error;

/// Domain separation for derived root keys, so a master secret used elsewhere by mistake
/// cannot produce our keys. With the 32-byte token id the message is 55 bytes, the most that
/// SHA-256 pads into one block: a derivation costs two blocks with a prepared key (0601).
const DERIVE_LABEL: &[u8] = b"l402-server root key v2";

/// How many leading bytes of a derived-mode token id carry the key id.
pub const KEY_ID_LEN: usize = 4;

/// A root key: the secret a macaroon's HMAC chain starts from. `Debug` never shows it, and
/// equality is decided in constant time.
#[derive(Clone)]
pub struct RootKey(pub [u8; 32]);

impl PartialEq for RootKey {
    fn eq(&self, other: &RootKey) -> bool {
        subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..]).into()
    }
}

impl Eq for RootKey {}

impl RootKey {
    /// A fresh key from the operating system's random number generator.
    pub fn random() -> Result<RootKey, Error> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
        Ok(RootKey(b))
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(..)")
    }
}

/// The store key of a token's root key: `sha256(identifier)`, as Aperture keys its secrets.
pub fn key_hash(identifier: &Identifier) -> [u8; 32] {
    sha256(&identifier.encode())
}

/// The two ways of keeping root keys.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyMode {
    /// One random 32-byte key per token, written to the store when the challenge is minted
    /// (as a pending key that expires unless the token is used) and looked up on every
    /// verification (through a cache). Revoking a token deletes its key, as in Aperture.
    PerToken,
    /// Keys derived from a master secret and the identifier; nothing is written at mint time
    /// and nothing is read to verify. Revocation goes through the store's revocation list.
    Derived(KeyRing),
}

struct MasterKey {
    /// The secret, prepared once: every verification derives a key with it.
    secret: HmacKey,
    /// When this key stopped being the current one (Unix seconds).
    retired_at: Option<i64>,
}

/// Master secrets for [`KeyMode::Derived`], each under a 32-bit key id.
///
/// The key id travels in the first [`KEY_ID_LEN`] bytes of the token id (big-endian), the
/// other 28 bytes are random (decision 0601). New tokens use the current key; after
/// [`KeyRing::rotate`], tokens of the previous keys keep verifying for the configured
/// overlap, then become `unknown-token` (a 402: buy a new one).
pub struct KeyRing {
    keys: BTreeMap<u32, MasterKey>,
    current: u32,
    overlap: Duration,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .field("overlap", &self.overlap)
            .finish()
    }
}

impl KeyRing {
    /// A ring with one master secret, current from now on. The default overlap is one day.
    pub fn new(key_id: u32, secret: [u8; 32]) -> KeyRing {
        let mut keys = BTreeMap::new();
        keys.insert(key_id, MasterKey { secret: HmacKey::new(&secret), retired_at: None });
        KeyRing { keys, current: key_id, overlap: Duration::from_secs(24 * 3600) }
    }

    /// How long a retired key keeps verifying the tokens it signed.
    pub fn with_overlap(mut self, overlap: Duration) -> KeyRing {
        self.overlap = overlap;
        self
    }

    /// Adds a retired key, for example after a restart that must keep verifying tokens of
    /// the previous key; it verifies until `retired_at` plus the overlap.
    pub fn with_retired(mut self, key_id: u32, secret: [u8; 32], retired_at: i64) -> KeyRing {
        if key_id != self.current {
            self.keys.insert(
                key_id,
                MasterKey { secret: HmacKey::new(&secret), retired_at: Some(retired_at) },
            );
        }
        self
    }

    /// The key id new tokens are minted under.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// Makes `secret` the current key under a new `key_id`; the old current key is retired
    /// at `now` and verifies for the overlap. Keys retired longer than the overlap are dropped.
    /// Reusing a key id is a [`Error::Config`]: it would change the key of live tokens.
    pub fn rotate(&mut self, key_id: u32, secret: [u8; 32], now: i64) -> Result<(), Error> {
        if self.keys.contains_key(&key_id) {
            return Err(Error::Config(format!("key id {key_id} is already in use")));
        }
        if let Some(old) = self.keys.get_mut(&self.current) {
            old.retired_at = Some(now);
        }
        let overlap = self.overlap_secs();
        self.keys.retain(|_, k| k.retired_at.is_none_or(|r| now < r.saturating_add(overlap)));
        self.keys.insert(key_id, MasterKey { secret: HmacKey::new(&secret), retired_at: None });
        self.current = key_id;
        Ok(())
    }

    /// A fresh token id under the current key id.
    pub fn token_id(&self) -> Result<TokenId, Error> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
        let (head, _) = b.split_at_mut(KEY_ID_LEN);
        head.copy_from_slice(&self.current.to_be_bytes());
        Ok(TokenId(b))
    }

    /// The key id a token id carries.
    pub fn key_id_of(token_id: &TokenId) -> u32 {
        let b = token_id.as_bytes();
        let mut head = [0u8; KEY_ID_LEN];
        head.copy_from_slice(b.split_at(KEY_ID_LEN).0);
        u32::from_be_bytes(head)
    }

    /// The root key of `identifier`, or `None` when its key id is unknown or was retired
    /// longer ago than the overlap. Costs one HMAC over the token id (two SHA-256 blocks); no
    /// IO. The payment hash is not an input: the token's signature already binds it.
    pub fn root_key(&self, identifier: &Identifier, now: i64) -> Option<RootKey> {
        let key = self.keys.get(&KeyRing::key_id_of(&identifier.token_id))?;
        if key.retired_at.is_some_and(|r| now >= r.saturating_add(self.overlap_secs())) {
            return None;
        }
        let mut msg = [0u8; DERIVE_LABEL.len() + 32];
        let (label, id) = msg.split_at_mut(DERIVE_LABEL.len());
        label.copy_from_slice(DERIVE_LABEL);
        id.copy_from_slice(identifier.token_id.as_bytes());
        Some(RootKey(key.secret.sign(&msg)))
    }

    fn overlap_secs(&self) -> i64 {
        i64::try_from(self.overlap.as_secs()).unwrap_or(i64::MAX)
    }
}
