//! API key format: `ebk_<prefix>_<secret>`. The prefix (12 characters) is public and finds the
//! row; the whole key is stored only as its SHA-256 hash. Keys carry ~190 bits of randomness, so a
//! fast hash is the right tool (no password stretching needed).

use rand::Rng;
use rand::distributions::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_MARKER: &str = "ebk_";
const PREFIX_LEN: usize = 12;
const SECRET_LEN: usize = 32;

/// A newly generated key: shown to the user once, then only its hash is kept.
pub struct NewApiKey {
    pub prefix: String,
    pub key: SecretString,
    pub hash: Vec<u8>,
}

fn random_chars(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

pub fn generate() -> NewApiKey {
    let prefix = random_chars(PREFIX_LEN);
    let key = format!("{KEY_MARKER}{prefix}_{}", random_chars(SECRET_LEN));
    let hash = hash(&key);
    NewApiKey {
        prefix,
        key: SecretString::from(key),
        hash,
    }
}

pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The prefix of a well-formed key, or `None`.
pub fn parse_prefix(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(KEY_MARKER)?;
    let (prefix, secret) = rest.split_once('_')?;
    let well_formed = prefix.len() == PREFIX_LEN
        && secret.len() == SECRET_LEN
        && prefix.chars().all(|c| c.is_ascii_alphanumeric())
        && secret.chars().all(|c| c.is_ascii_alphanumeric());
    well_formed.then_some(prefix)
}

pub fn verify(token: &str, stored_hash: &[u8]) -> bool {
    hash(token).ct_eq(stored_hash).into()
}

/// How a key is shown after creation: `ebk_<prefix>_…`.
pub fn display(prefix: &str) -> String {
    format!("{KEY_MARKER}{prefix}_…")
}

pub fn expose(key: &NewApiKey) -> &str {
    key.key.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let k = generate();
        let token = expose(&k);
        assert_eq!(parse_prefix(token), Some(k.prefix.as_str()));
        assert!(verify(token, &k.hash));
        let mut other = token.to_owned();
        other.pop();
        other.push(if token.ends_with('a') { 'b' } else { 'a' });
        assert!(!verify(&other, &k.hash));
        assert_ne!(generate().prefix, k.prefix);
    }

    #[test]
    fn malformed_tokens_have_no_prefix() {
        for t in [
            "",
            "ebk_",
            "ebk_short_x",
            "abc",
            "ebk_AAAAAAAAAAAA_tooshort",
            "eyJhbGciOi.x.y",
        ] {
            assert_eq!(parse_prefix(t), None, "{t}");
        }
    }
}
