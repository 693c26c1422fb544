//! Secrets at rest and in logs.
//!
//! [`SecretKey`] seals SFTP passwords (and any other secret) with ChaCha20-Poly1305 (ring,
//! already in the tree through rustls). Each sealed value is bound to where it belongs by
//! the associated data (for example `game_servers/<guild>/<server>/sftp_password`), so a
//! ciphertext copied onto another guild's server does not open.
//!
//! [`Redacted`] wraps configuration secrets so `Debug` and logs never show them.
//!
//! Sealing needs no database: the check that a deployment starts with the key its secrets
//! were sealed with is [`crate::key_check`]'s.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// A value that must not be printed. `Debug` and `Display` show `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Format version of a sealed value: `[VERSION, nonce(12), ciphertext+tag(16)]`.
const SEALED_V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret key must be 32 bytes, base64-encoded ({0})")]
    BadKey(String),
    #[error("cannot read the secret key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("a sealed secret could not be opened: wrong key, or it belongs elsewhere")]
    Open,
    #[error("a sealed secret is malformed")]
    Malformed,
    #[error("the system random generator failed")]
    Random,
}

/// The key that seals secrets at rest.
pub struct SecretKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .map_err(|_| SecretError::BadKey(format!("got {} bytes", bytes.len())))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|e| SecretError::BadKey(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::KeyFile {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_base64(&text)
    }

    /// A new random key, base64-encoded: what `towerctl`/the sandbox write for a new deployment.
    pub fn generate_base64() -> Result<String, SecretError> {
        let mut bytes = [0u8; Self::LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SecretError::Random)?;
        Ok(BASE64.encode(bytes))
    }

    /// Seals `plaintext`, bound to `context` (where the secret is stored).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, SecretError> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SecretError::Random)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SecretError::Random)?;
        let mut out = Vec::with_capacity(1 + nonce.len() + buf.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens a value sealed with [`Self::seal`] for the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Redacted<Vec<u8>>, SecretError> {
        let (&version, rest) = sealed.split_first().ok_or(SecretError::Malformed)?;
        if version != SEALED_V1 || rest.len() < aead::NONCE_LEN + aead::MAX_TAG_LEN {
            return Err(SecretError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(aead::NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Malformed)?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| SecretError::Open)?;
        Ok(Redacted(plain.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        let text = SecretKey::generate_base64().unwrap_or_else(|e| panic!("{e}"));
        SecretKey::from_base64(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn sealed_secrets_open_only_in_their_place_and_with_their_key() {
        let k = key();
        let sealed = k
            .seal(b"hunter2", "game_servers/1/7020/sftp_password")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        let opened = k.open(&sealed, "game_servers/1/7020/sftp_password");
        assert_eq!(
            opened.ok().map(|r| r.expose().clone()),
            Some(b"hunter2".to_vec())
        );
        assert!(matches!(
            k.open(&sealed, "game_servers/2/7020/sftp_password"),
            Err(SecretError::Open)
        ));
        assert!(matches!(
            key().open(&sealed, "game_servers/1/7020/sftp_password"),
            Err(SecretError::Open)
        ));
        assert!(matches!(
            k.open(&sealed[..10], "x"),
            Err(SecretError::Malformed)
        ));
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let k = key();
        let a = k.seal(b"pw", "c").unwrap_or_default();
        let b = k.seal(b"pw", "c").unwrap_or_default();
        assert_ne!(a, b);
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        assert!(matches!(
            SecretKey::from_base64("AAAA"),
            Err(SecretError::BadKey(_))
        ));
        assert!(matches!(
            SecretKey::from_base64("not base64!"),
            Err(SecretError::BadKey(_))
        ));
    }

    #[test]
    fn redacted_values_never_print() {
        let r = Redacted::new("hunter2".to_owned());
        assert_eq!(format!("{r:?} {r}"), "[redacted] [redacted]");
    }
}
