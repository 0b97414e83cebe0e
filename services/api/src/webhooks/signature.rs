//! Webhook secrets and signatures, the Standard Webhooks way: a secret is `whsec_` + base64 of the
//! key's bytes; each attempt is signed with `v1,` + base64 of
//! HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}").

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;
use uuid::Uuid;

pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a generated key (as the Standard Webhooks libraries make them).
pub const GENERATED_KEY_BYTES: usize = 24;
/// Bounds on the bytes of a key given by the user.
pub const MIN_KEY_BYTES: usize = 24;
pub const MAX_KEY_BYTES: usize = 64;

/// The bytes a webhook signs with.
pub struct SigningKey(SecretSlice<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(****)")
    }
}

impl SigningKey {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretSlice::from(bytes))
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; GENERATED_KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// Parses `whsec_<base64 of 24..64 bytes>`; `Err` says what is wrong, without the value.
    pub fn parse(secret: &str) -> Result<Self, String> {
        let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) else {
            return Err(format!(
                "must start with `{SECRET_PREFIX}` followed by base64 (leave it out to have one generated)"
            ));
        };
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| format!("the part after `{SECRET_PREFIX}` must be standard base64"))?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&bytes.len()) {
            return Err(format!(
                "the part after `{SECRET_PREFIX}` must decode to {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {}",
                bytes.len()
            ));
        }
        Ok(Self::from_bytes(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// The secret as users see it (only in the answer that creates or rotates it).
    pub fn to_secret_string(&self) -> SecretString {
        SecretString::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(self.expose())))
    }

    /// The `webhook-signature` header's value for one attempt.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.expose()) else {
            unreachable!("HMAC accepts keys of every length")
        };
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// Associated data of a webhook's secret: a ciphertext copied to another row fails to open.
pub fn webhook_secret_aad(org_id: Uuid, webhook_id: Uuid) -> Vec<u8> {
    format!("edgebridge/webhook-secret/v1/{org_id}/{webhook_id}").into_bytes()
}

/// The `webhook-id` header of a message.
pub fn message_header_id(message_id: Uuid) -> String {
    format!("msg_{}", message_id.simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks reference vector, checked independently with Python:
    /// ```text
    /// python3 -c 'import hmac,hashlib,base64
    /// key=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    /// msg=b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}"
    /// print("v1,"+base64.b64encode(hmac.new(key,msg,hashlib.sha256).digest()).decode())'
    /// ```
    /// prints `v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=`.
    #[test]
    fn signs_like_the_reference() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            key.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        // Any change to the id, the time or the body changes it.
        assert_ne!(
            key.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265331,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let key = SigningKey::generate();
        assert_eq!(key.expose().len(), GENERATED_KEY_BYTES);
        let text = key.to_secret_string();
        let text = text.expose_secret();
        assert!(text.starts_with(SECRET_PREFIX));
        assert_eq!(SigningKey::parse(text).unwrap().expose(), key.expose());
        assert_ne!(SigningKey::generate().expose(), key.expose());

        let short = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 23]));
        let long = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 65]));
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64!",
            short.as_str(),
            long.as_str(),
        ] {
            let why = SigningKey::parse(bad).unwrap_err();
            assert!(!why.contains(bad), "the message must not echo the secret");
        }
        assert!(format!("{key:?}").contains("****"));
    }
}
