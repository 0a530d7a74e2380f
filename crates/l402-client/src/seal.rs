//! Tokens at rest: optional XChaCha20-Poly1305 sealing of macaroons and preimages
//! (decision 0703, threat model in docs/client.md).

use core::fmt;
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::Aead as _;
use chacha20poly1305::aead::Payload;
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};

use crate::Error;

/// Prefix of a sealed value; the number is the format version.
const SEALED: &str = "xc20p1:";
/// Prefix of a value stored in the clear.
const PLAIN: &str = "plain:";

/// A 32-byte key that encrypts tokens at rest. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// The environment variable [`TokenKey::from_env`] reads: 64 hex digits.
    pub const ENV: &'static str = "L402_TOKEN_KEY";

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> TokenKey {
        TokenKey(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Result<TokenKey, Error> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| Error::TokenKey(format!("no randomness: {e}")))?;
        Ok(TokenKey(k))
    }

    /// A key from 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<TokenKey, Error> {
        let bytes =
            hex::decode(text.trim()).map_err(|_| Error::TokenKey("key is not hex".into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::TokenKey("key must be 32 bytes (64 hex digits)".into()))?;
        Ok(TokenKey(key))
    }

    /// The key in `$L402_TOKEN_KEY`, if that variable is set and not empty.
    pub fn from_env() -> Result<Option<TokenKey>, Error> {
        match std::env::var(TokenKey::ENV) {
            Ok(v) if !v.trim().is_empty() => TokenKey::from_hex(&v).map(Some),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::TokenKey(format!("{} is not UTF-8", TokenKey::ENV)))
            }
        }
    }

    /// The key in a file holding 64 hex digits. On Unix the file must not be readable by
    /// group or others: a key anyone can read protects nothing.
    pub fn from_file(path: &Path) -> Result<TokenKey, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::TokenKey(format!("cannot read key file {}: {e}", path.display()))
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(Error::from)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(Error::TokenKey(format!(
                    "key file {} is accessible by group or others (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                )));
            }
        }
        TokenKey::from_hex(&text)
    }

    /// Writes the key as hex to a new file readable by its owner only. Refuses to overwrite.
    pub fn write_file(&self, path: &Path) -> Result<(), Error> {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(path)?;
        f.write_all(hex::encode(self.0).as_bytes())?;
        f.sync_all()?;
        Ok(())
    }
}

/// Seals and opens stored secrets. Without a key it stores them in the clear, marked so; with
/// one it seals new values and still opens clear ones (written before a key was configured).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sealer {
    key: Option<TokenKey>,
}

impl Sealer {
    pub(crate) fn new(key: Option<TokenKey>) -> Sealer {
        Sealer { key }
    }

    /// Seals `secret`, bound to `context` (the row's scope and payment hash) so that a sealed
    /// value copied into another row does not open.
    pub(crate) fn seal(&self, secret: &str, context: &str) -> Result<String, Error> {
        let Some(key) = &self.key else {
            return Ok(format!("{PLAIN}{secret}"));
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&key.0)
            .map_err(|_| Error::TokenKey("bad key length".into()))?;
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| Error::TokenKey(format!("no randomness: {e}")))?;
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload { msg: secret.as_bytes(), aad: aad(context).as_bytes() },
            )
            .map_err(|_| Error::TokenKey("encryption failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", base64::engine::general_purpose::STANDARD.encode(blob)))
    }

    /// Opens a stored value.
    pub(crate) fn open(&self, stored: &str, context: &str) -> Result<String, Error> {
        if let Some(plain) = stored.strip_prefix(PLAIN) {
            return Ok(plain.to_owned());
        }
        let Some(b64) = stored.strip_prefix(SEALED) else {
            return Err(Error::Store("stored secret in an unknown format".into()));
        };
        let Some(key) = &self.key else {
            return Err(Error::TokenKey(format!(
                "tokens in this store are encrypted: set {} or configure a key file",
                TokenKey::ENV
            )));
        };
        let blob = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| Error::Store("sealed secret is not base64".into()))?;
        let (nonce, sealed) = match (blob.get(..24), blob.get(24..)) {
            (Some(n), Some(s)) => (n, s),
            _ => return Err(Error::Store("sealed secret too short".into())),
        };
        let nonce: [u8; 24] =
            nonce.try_into().map_err(|_| Error::Store("sealed secret too short".into()))?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key.0)
            .map_err(|_| Error::TokenKey("bad key length".into()))?;
        let plain = cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: aad(context).as_bytes() })
            .map_err(|_| {
                Error::TokenKey(
                    "cannot decrypt a stored token: wrong key, or the store was tampered with"
                        .into(),
                )
            })?;
        String::from_utf8(plain).map_err(|_| Error::Store("sealed secret is not UTF-8".into()))
    }
}

fn aad(context: &str) -> String {
    format!("l402-client secret v1|{context}")
}
