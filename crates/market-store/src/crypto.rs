//! Encryption of `@secret` fields at rest: AES-256-GCM with a fresh random
//! nonce per write and the object type, id and field name as associated
//! data, so a sealed value cannot be moved to another object or field.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Result, StoreError};

/// Stored form of a sealed value: this prefix, then base64 of nonce and ciphertext.
const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 12;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the secret key must be 32 bytes written as 64 hex digits or as base64; got {0}")]
    Malformed(String),
}

/// Seals and opens secret field values.
pub struct SecretCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher(..)")
    }
}

impl SecretCipher {
    pub fn new(key: &[u8; 32]) -> SecretCipher {
        SecretCipher {
            cipher: Aes256Gcm::new(&(*key).into()),
        }
    }

    /// A key written as 64 hex digits or as base64 of 32 bytes.
    pub fn from_text(text: &str) -> Result<SecretCipher, KeyError> {
        parse_key(text.trim()).map(|k| SecretCipher::new(&k))
    }

    /// A fresh random key, as the hex text [`SecretCipher::from_text`] reads.
    pub fn generate_key_text() -> Result<String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| StoreError::Backend(format!("no randomness for a key: {e}")))?;
        Ok(key.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Seal `plaintext` for the place `aad` names.
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Result<String> {
        let nonce = Nonce::generate();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Backend("encryption failed".into()))?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(nonce.as_slice());
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// Open a value sealed for the place `aad` names.
    pub fn open(&self, stored: &str, aad: &str) -> Result<Vec<u8>> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            table: aad.to_string(),
            reason: reason.to_string(),
        };
        let body = stored
            .strip_prefix(PREFIX)
            .ok_or_else(|| corrupt("secret field is not sealed"))?;
        let bytes = STANDARD
            .decode(body)
            .map_err(|_| corrupt("sealed value is not base64"))?;
        if bytes.len() < NONCE_LEN {
            return Err(corrupt("sealed value too short"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| corrupt("bad nonce"))?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                corrupt("cannot decrypt: wrong secret key, or the value was moved or changed")
            })
    }
}

/// Is this stored text a sealed value?
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(PREFIX)
}

fn parse_key(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| KeyError::Malformed("invalid hex".into()))?
    } else {
        STANDARD.decode(text).map_err(|_| {
            KeyError::Malformed(format!(
                "{} characters that are neither hex nor base64",
                text.len()
            ))
        })?
    };
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| KeyError::Malformed(format!("{} bytes", bytes.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_with_associated_data() {
        let key = SecretCipher::generate_key_text().unwrap();
        assert_eq!(key.len(), 64);
        let c = SecretCipher::from_text(&key).unwrap();
        let a = c.seal(b"hunter2", "user/1/password_hash").unwrap();
        let b = c.seal(b"hunter2", "user/1/password_hash").unwrap();
        assert_ne!(a, b, "a fresh nonce per write");
        assert!(is_sealed(&a) && !a.contains("hunter2"));
        assert_eq!(c.open(&a, "user/1/password_hash").unwrap(), b"hunter2");
        // moved to another object or field: refused
        assert!(c.open(&a, "user/2/password_hash").is_err());
        assert!(c.open(&a, "user/1/other").is_err());
        // another key: refused
        let other = SecretCipher::from_text(&SecretCipher::generate_key_text().unwrap()).unwrap();
        assert!(other.open(&a, "user/1/password_hash").is_err());
        // tampered
        let mut t = a.clone();
        t.pop();
        t.push(if a.ends_with('A') { 'B' } else { 'A' });
        assert!(c.open(&t, "user/1/password_hash").is_err());
        assert!(c.open("plain", "x").is_err());
    }

    #[test]
    fn keys_in_hex_or_base64() {
        let hex = "00".repeat(32);
        assert!(SecretCipher::from_text(&hex).is_ok());
        assert!(SecretCipher::from_text(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(SecretCipher::from_text("short").is_err());
        assert!(SecretCipher::from_text(&STANDARD.encode([7u8; 16])).is_err());
        assert!(SecretCipher::from_text(&"zz".repeat(32)).is_err());
    }
}
