//! Envelope for connector secrets: AES-256-GCM with a random 96-bit nonce per encryption, the key
//! id stored with the ciphertext (so keys can rotate), and associated data binding a ciphertext to
//! its organization and connector (so a ciphertext copied to another row fails to open).
//!
//! Layout: `[version = 1][key id length: u8][key id][nonce: 12][ciphertext + tag: 16]`.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;
use uuid::Uuid;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const MAX_KEY_ID_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the ciphertext is malformed or truncated")]
    Malformed,
    #[error("the ciphertext was made with key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("the ciphertext does not authenticate: it was tampered with or belongs to another row")]
    Authentication,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyConfigError {
    #[error("no encryption key given")]
    Empty,
    #[error("entry {0} is not `keyid:base64key`")]
    Syntax(usize),
    #[error("entry {0}: the key id must be 1-32 letters, digits, '-' or '_'")]
    KeyId(usize),
    #[error("entry {0}: the key is not valid base64")]
    Base64(usize),
    #[error("entry {0}: the key must decode to exactly 32 bytes (AES-256), got {1}")]
    Length(usize, usize),
    #[error("key id `{0}` appears twice")]
    Duplicate(String),
}

#[derive(Clone)]
struct DataKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The configured encryption keys; the first is the active one used for new ciphertexts.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<DataKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Keyring {
    /// Parses `keyid:base64-32-bytes[,keyid:base64...]`; the first entry is active.
    pub fn parse(spec: &str) -> Result<Self, KeyConfigError> {
        let mut keys: Vec<DataKey> = Vec::new();
        for (i, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let n = i + 1;
            let (id, b64) = entry.split_once(':').ok_or(KeyConfigError::Syntax(n))?;
            if !valid_key_id(id) {
                return Err(KeyConfigError::KeyId(n));
            }
            let bytes = STANDARD
                .decode(b64.trim())
                .map_err(|_| KeyConfigError::Base64(n))?;
            if bytes.len() != 32 {
                return Err(KeyConfigError::Length(n, bytes.len()));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyConfigError::Duplicate(id.to_owned()));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| KeyConfigError::Length(n, bytes.len()))?;
            keys.push(DataKey {
                id: id.to_owned(),
                cipher,
            });
        }
        if keys.is_empty() {
            return Err(KeyConfigError::Empty);
        }
        Ok(Self { keys })
    }

    /// A fresh random key, for development mode only: data encrypted with it is unreadable after
    /// a restart.
    pub fn generate_ephemeral() -> (Self, String) {
        let key = Aes256Gcm::generate_key(OsRng);
        let id = format!("dev-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let spec = format!("{id}:{}", STANDARD.encode(key));
        (Self::parse(&spec).expect("generated key is valid"), spec)
    }

    pub fn active_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(2 + key.id.len() + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The key id a ciphertext names, checked for length before slicing.
    pub fn key_id_of(blob: &[u8]) -> Result<&str, CryptoError> {
        let (&version, rest) = blob.split_first().ok_or(CryptoError::Malformed)?;
        if version != VERSION {
            return Err(CryptoError::Malformed);
        }
        let (&id_len, rest) = rest.split_first().ok_or(CryptoError::Malformed)?;
        let id_len = id_len as usize;
        if id_len == 0 || rest.len() < id_len + NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        std::str::from_utf8(&rest[..id_len]).map_err(|_| CryptoError::Malformed)
    }

    pub fn decrypt(&self, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let id = Self::key_id_of(blob)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))?;
        let body = &blob[2 + id.len()..];
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        key.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map_err(|_| CryptoError::Authentication)
    }
}

/// Associated data of a connector's connection string.
pub fn connector_secret_aad(org_id: Uuid, connector_id: Uuid) -> Vec<u8> {
    format!("edgebridge/connector-connection-string/v1/{org_id}/{connector_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[&str]) -> Keyring {
        let spec: Vec<String> = ids
            .iter()
            .map(|id| format!("{id}:{}", STANDARD.encode([id.bytes().last().unwrap(); 32])))
            .collect();
        Keyring::parse(&spec.join(",")).unwrap()
    }

    #[test]
    fn round_trip_with_aad() {
        let k = ring(&["k1"]);
        let blob = k.encrypt(b"mongodb://u:p@h/", b"aad");
        assert_eq!(Keyring::key_id_of(&blob).unwrap(), "k1");
        assert_eq!(k.decrypt(&blob, b"aad").unwrap(), b"mongodb://u:p@h/");
        assert_ne!(
            k.encrypt(b"x", b"a"),
            k.encrypt(b"x", b"a"),
            "nonce must be random"
        );
    }

    #[test]
    fn wrong_aad_and_tampering_fail() {
        let k = ring(&["k1"]);
        let blob = k.encrypt(b"secret", b"org-a/conn-1");
        assert_eq!(
            k.decrypt(&blob, b"org-b/conn-1"),
            Err(CryptoError::Authentication)
        );
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(
                k.decrypt(&bad, b"org-a/conn-1").is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
        for len in 0..blob.len() {
            assert!(k.decrypt(&blob[..len], b"org-a/conn-1").is_err());
        }
    }

    #[test]
    fn old_keys_still_open_after_rotation() {
        let old = ring(&["k1"]);
        let blob = old.encrypt(b"secret", b"aad");
        let rotated = ring(&["k2", "k1"]);
        assert_eq!(rotated.active_id(), "k2");
        assert_eq!(rotated.decrypt(&blob, b"aad").unwrap(), b"secret");
        let only_new = ring(&["k2"]);
        assert_eq!(
            only_new.decrypt(&blob, b"aad"),
            Err(CryptoError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn key_config_errors() {
        assert_eq!(Keyring::parse("").unwrap_err(), KeyConfigError::Empty);
        assert_eq!(
            Keyring::parse("nocolon").unwrap_err(),
            KeyConfigError::Syntax(1)
        );
        assert_eq!(
            Keyring::parse("k1:!!!").unwrap_err(),
            KeyConfigError::Base64(1)
        );
        assert_eq!(
            Keyring::parse(&format!("k1:{}", STANDARD.encode([0u8; 16]))).unwrap_err(),
            KeyConfigError::Length(1, 16)
        );
        let good = STANDARD.encode([0u8; 32]);
        assert_eq!(
            Keyring::parse(&format!("k1:{good},k1:{good}")).unwrap_err(),
            KeyConfigError::Duplicate("k1".into())
        );
        assert_eq!(
            Keyring::parse(&format!("b@d:{good}")).unwrap_err(),
            KeyConfigError::KeyId(1)
        );
    }
}
