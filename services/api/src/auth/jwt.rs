//! Short-lived access tokens (JWT, HS256 pinned) exchanged for API keys. Several signing keys may
//! be configured for rotation; the `kid` header picks the verifying key and the first signs.

use crate::auth::role::Role;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

pub const ISSUER: &str = "edgebridge";
pub const AUDIENCE: &str = "edgebridge-api";
/// Worker tokens carry their own audience, so a tenant's token never passes as a worker's, nor
/// the other way round.
pub const WORKER_AUDIENCE: &str = "edgebridge-worker";
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The API key the token was exchanged for.
    pub sub: Uuid,
    pub org: Uuid,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<Uuid>,
    pub iat: u64,
    /// Not valid before (seconds since the epoch). Edgebridge does not set it, but a token that
    /// carries it is refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub exp: u64,
    pub jti: Uuid,
}

/// A worker's access token: which worker it is, nothing else.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerClaims {
    pub iss: String,
    pub aud: String,
    /// The worker id.
    pub sub: Uuid,
    pub iat: u64,
    /// Not valid before (seconds since the epoch). Edgebridge does not set it, but a token that
    /// carries it is refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub exp: u64,
    pub jti: Uuid,
}

pub fn new_worker_claims(worker_id: Uuid, ttl: Duration) -> WorkerClaims {
    let now = jsonwebtoken::get_current_timestamp();
    WorkerClaims {
        iss: ISSUER.to_owned(),
        aud: WORKER_AUDIENCE.to_owned(),
        sub: worker_id,
        iat: now,
        nbf: None,
        exp: now + ttl.as_secs(),
        jti: Uuid::now_v7(),
    }
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

pub struct JwtKeys {
    keys: Vec<SigningKey>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("JwtKeys").field("kids", &kids).finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtConfigError {
    #[error("no signing key given")]
    Empty,
    #[error("entry {0} is not `kid:base64secret`")]
    Syntax(usize),
    #[error("entry {0}: the secret is not valid base64")]
    Base64(usize),
    #[error("entry {0}: the secret must be at least 32 bytes")]
    TooShort(usize),
    #[error("EDGEBRIDGE_JWT_SECRET must be at least 32 characters")]
    SecretTooShort,
    #[error("key id `{0}` appears twice")]
    Duplicate(String),
}

impl JwtKeys {
    fn from_secrets(entries: Vec<(String, Vec<u8>)>) -> Result<Self, JwtConfigError> {
        if entries.is_empty() {
            return Err(JwtConfigError::Empty);
        }
        let keys = entries
            .into_iter()
            .map(|(kid, secret)| SigningKey {
                kid,
                encoding: EncodingKey::from_secret(&secret),
                decoding: DecodingKey::from_secret(&secret),
            })
            .collect();
        Ok(Self { keys })
    }

    /// `kid:base64secret[,kid:base64secret...]`, the first signs.
    pub fn parse_keys(spec: &str) -> Result<Self, JwtConfigError> {
        let mut entries = Vec::new();
        for (i, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let n = i + 1;
            let (kid, b64) = entry.split_once(':').ok_or(JwtConfigError::Syntax(n))?;
            if kid.is_empty() {
                return Err(JwtConfigError::Syntax(n));
            }
            let secret = STANDARD
                .decode(b64.trim())
                .map_err(|_| JwtConfigError::Base64(n))?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(JwtConfigError::TooShort(n));
            }
            if entries.iter().any(|(k, _)| k == kid) {
                return Err(JwtConfigError::Duplicate(kid.to_owned()));
            }
            entries.push((kid.to_owned(), secret));
        }
        Self::from_secrets(entries)
    }

    /// A single raw secret (`EDGEBRIDGE_JWT_SECRET`), with key id `default`.
    pub fn from_secret(secret: &str) -> Result<Self, JwtConfigError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(JwtConfigError::SecretTooShort);
        }
        Self::from_secrets(vec![("default".to_owned(), secret.as_bytes().to_vec())])
    }

    pub fn generate_ephemeral() -> Self {
        let secret: [u8; 32] = rand::random();
        Self::from_secrets(vec![(
            format!("dev-{}", &Uuid::new_v4().simple().to_string()[..8]),
            secret.to_vec(),
        )])
        .expect("one key")
    }

    pub fn issue(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        let key = &self.keys[0];
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        Ok(encode(&header, claims, &key.encoding)?)
    }

    /// Verifies signature (HS256 only), `exp`, `nbf`, `aud` and `iss` (5 s leeway on times). Any
    /// failure is `None`: callers
    /// answer one generic 401 so nothing is learned from the reason.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        self.verify_for(token, AUDIENCE)
    }

    /// A worker token (audience [`WORKER_AUDIENCE`]).
    pub fn verify_worker(&self, token: &str) -> Option<WorkerClaims> {
        self.verify_for(token, WORKER_AUDIENCE)
    }

    fn verify_for<T: serde::de::DeserializeOwned>(&self, token: &str, audience: &str) -> Option<T> {
        let header = decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 {
            return None;
        }
        let key = match header.kid.as_deref() {
            Some(kid) => self.keys.iter().find(|k| k.kid == kid)?,
            None => return None,
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        decode::<T>(token, &key.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

pub fn new_claims(key_id: Uuid, org: Uuid, role: Role, app: Option<Uuid>, ttl: Duration) -> Claims {
    let now = jsonwebtoken::get_current_timestamp();
    Claims {
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: key_id,
        org,
        role,
        app,
        iat: now,
        nbf: None,
        exp: now + ttl.as_secs(),
        jti: Uuid::now_v7(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(spec: &[(&str, u8)]) -> JwtKeys {
        let s: Vec<String> = spec
            .iter()
            .map(|(kid, b)| format!("{kid}:{}", STANDARD.encode([*b; 32])))
            .collect();
        JwtKeys::parse_keys(&s.join(",")).unwrap()
    }

    fn claims() -> Claims {
        new_claims(
            Uuid::now_v7(),
            Uuid::now_v7(),
            Role::Developer,
            None,
            Duration::from_secs(60),
        )
    }

    #[test]
    fn issue_and_verify() {
        let k = keys(&[("a", 1)]);
        let c = claims();
        assert_eq!(k.verify(&k.issue(&c).unwrap()), Some(c));
    }

    #[test]
    fn rejects_expired_wrong_audience_issuer_key_and_alg_none() {
        let k = keys(&[("a", 1)]);
        let mut c = claims();
        c.exp = jsonwebtoken::get_current_timestamp() - 60;
        assert_eq!(k.verify(&k.issue(&c).unwrap()), None, "expired");
        let mut c = claims();
        c.aud = "other".into();
        assert_eq!(k.verify(&k.issue(&c).unwrap()), None, "audience");
        let mut c = claims();
        c.iss = "other".into();
        assert_eq!(k.verify(&k.issue(&c).unwrap()), None, "issuer");
        let other = keys(&[("a", 2)]);
        assert_eq!(
            k.verify(&other.issue(&claims()).unwrap()),
            None,
            "signature"
        );
        // alg=none with the same claims
        let token = k.issue(&claims()).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoiYSJ9.{payload}.");
        assert_eq!(k.verify(&none), None, "alg none");
    }

    #[test]
    fn not_before_is_checked() {
        let k = keys(&[("a", 1)]);
        let now = jsonwebtoken::get_current_timestamp();
        let mut c = claims();
        c.nbf = Some(now + 3600);
        assert_eq!(k.verify(&k.issue(&c).unwrap()), None, "not yet valid");
        let mut w = new_worker_claims(Uuid::now_v7(), Duration::from_secs(60));
        w.nbf = Some(now + 3600);
        assert_eq!(k.verify_worker(&k.issue(&w).unwrap()), None, "worker");
        c.nbf = Some(now - 1);
        assert_eq!(
            k.verify(&k.issue(&c).unwrap()),
            Some(c),
            "valid since a second"
        );
        // A malformed nbf is refused, not ignored.
        let mut raw = serde_json::to_value(claims()).unwrap();
        raw["nbf"] = serde_json::json!("later");
        assert_eq!(k.verify(&k.issue(&raw).unwrap()), None, "nbf as a string");
    }

    #[test]
    fn worker_and_tenant_tokens_do_not_cross() {
        let k = keys(&[("a", 1)]);
        let tenant = k.issue(&claims()).unwrap();
        assert_eq!(k.verify_worker(&tenant), None);
        let worker = k
            .issue(&new_worker_claims(Uuid::now_v7(), Duration::from_secs(60)))
            .unwrap();
        assert_eq!(k.verify(&worker), None);
        assert!(k.verify_worker(&worker).is_some());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = keys(&[("a", 1)]);
        let token = old.issue(&claims()).unwrap();
        let rotated = keys(&[("b", 2), ("a", 1)]);
        assert!(rotated.verify(&token).is_some());
        let fresh = rotated.issue(&claims()).unwrap();
        assert_eq!(decode_header(&fresh).unwrap().kid.as_deref(), Some("b"));
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            JwtKeys::from_secret("short").unwrap_err(),
            JwtConfigError::SecretTooShort
        );
        assert_eq!(JwtKeys::parse_keys("").unwrap_err(), JwtConfigError::Empty);
        let k = STANDARD.encode([1u8; 32]);
        assert_eq!(
            JwtKeys::parse_keys(&format!("a:{k},a:{k}")).unwrap_err(),
            JwtConfigError::Duplicate("a".into())
        );
        assert_eq!(
            JwtKeys::parse_keys(&format!("a:{}", STANDARD.encode([0u8; 8]))).unwrap_err(),
            JwtConfigError::TooShort(1)
        );
    }
}
