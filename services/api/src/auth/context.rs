//! The `AuthContext` extractor: who is calling, for which organization, with which role and app
//! scope. Handlers never parse headers themselves. Rate limiting per API key happens here too,
//! since the key is known only once the caller is authenticated; failed authentications are
//! throttled per address as `auth::failures` describes.

use crate::auth::api_key;
use crate::auth::failures::{Throttle, ceil_secs, refuse};
use crate::auth::role::Role;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use uuid::Uuid;

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ApiKey,
    AccessToken,
}

#[derive(Debug, Clone)]
pub struct AuthContext {
    pub org_id: Uuid,
    pub role: Role,
    /// Set when the key is limited to one app.
    pub app_scope: Option<Uuid>,
    /// The API key behind the request (also for access tokens).
    pub key_id: Uuid,
    /// When that key expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    pub method: AuthMethod,
}

impl AuthContext {
    /// Refuses callers below `needed`.
    pub fn require(&self, needed: Role) -> Result<()> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "This needs the `{needed}` role or higher; your key has `{}`. Ask an admin for a key with more rights.",
                self.role
            )))
        }
    }

    /// Read-write access to apps and connectors.
    pub fn require_write(&self) -> Result<()> {
        self.require(Role::Developer)
    }

    /// Read-write access on an object, but a caller without it who cannot see the object gets
    /// the object's 404 first, never a 403 that tells it exists. `visible` (the lookup) runs
    /// only when the role is missing.
    pub async fn require_write_on(&self, visible: impl Future<Output = Result<()>>) -> Result<()> {
        if let Err(forbidden) = self.require_write() {
            visible.await?;
            return Err(forbidden);
        }
        Ok(())
    }

    /// An app outside the key's scope is invisible: 404, like another tenant's.
    pub fn check_app(&self, app_id: Uuid) -> Result<()> {
        match self.app_scope {
            Some(scope) if scope != app_id => Err(ApiError::NotFound("app")),
            _ => Ok(()),
        }
    }
}

#[derive(Clone, sqlx::FromRow)]
pub(crate) struct KeyRow {
    key_id: Uuid,
    org_id: Uuid,
    app_id: Option<Uuid>,
    role: String,
    secret_hash: Vec<u8>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

/// How a cached key is found: by the hash of the whole API key (so a hit proves the secret), or
/// by id for access tokens (whose signature is checked on every request).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum KeyLookup {
    Secret(Vec<u8>),
    Id(Uuid),
}

const KEY_COLUMNS: &str =
    "key_id, org_id, app_id, role, secret_hash, expires_at, revoked_at, last_used_at";

pub(crate) fn bearer_token(parts: &Parts) -> Result<&str> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated)?
        .to_str()
        .map_err(|_| ApiError::InvalidCredentials)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::InvalidCredentials)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::InvalidCredentials);
    }
    Ok(token.trim())
}

impl KeyRow {
    /// Whether this use is recorded (`last_used_at` at most once a minute).
    fn records_use(&self, now: DateTime<Utc>) -> bool {
        self.last_used_at
            .is_none_or(|t| now - t > chrono::Duration::seconds(60))
    }

    /// The row as it reads once this use is recorded: what the cache keeps, so cached uses do
    /// not record it again (each would be an update of the same row).
    fn recorded(&self, now: DateTime<Utc>) -> KeyRow {
        let mut row = self.clone();
        if row.records_use(now) {
            row.last_used_at = Some(now);
        }
        row
    }

    /// Usable now: not revoked, not expired.
    fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// Who `token` is. Signed access tokens are checked before any lookup; an API key is looked
/// up only when its address is not blocked or the key verified lately (`auth::failures`).
/// Every refusal goes through [`refuse`], which counts it against the address.
async fn authenticate(
    state: &AppState,
    token: &str,
    throttle: Option<&Throttle<'_>>,
) -> Result<AuthContext> {
    let now = Utc::now();
    let (row, method) = if let Some(prefix) = api_key::parse_prefix(token) {
        let key_hash = api_key::hash(token);
        if let Some(throttle) = throttle
            && !throttle.guard.recently_verified(&key_hash)
        {
            throttle.check()?;
        }
        // A key verified a moment ago is trusted without a lookup (see `auth::cache`).
        let read_at = state.key_cache.generation();
        // Only a row read from the database is (re)stored: a hit must not extend its own life.
        let (row, from_db): (Option<KeyRow>, bool) =
            match state.key_cache.get(&KeyLookup::Secret(key_hash.clone())) {
                Some(row) => (Some(row), false),
                None => (
                    sqlx::query_as(&format!(
                        "select {KEY_COLUMNS} from api_keys where prefix = $1"
                    ))
                    .bind(prefix)
                    .fetch_optional(&state.pool)
                    .await?,
                    true,
                ),
            };
        match row {
            Some(row) if api_key::verify(token, &row.secret_hash) && row.is_live(now) => {
                if from_db {
                    state.key_cache.put(
                        read_at,
                        KeyLookup::Secret(key_hash.clone()),
                        row.recorded(now),
                    );
                }
                if let Some(throttle) = throttle {
                    throttle.guard.remember_verified(&key_hash);
                }
                (row, AuthMethod::ApiKey)
            }
            _ => {
                if let Some(throttle) = throttle {
                    throttle.guard.forget_verified(&key_hash);
                }
                return Err(refuse(throttle));
            }
        }
    } else {
        let claims = state.jwt.verify(token).ok_or_else(|| refuse(throttle))?;
        let read_at = state.key_cache.generation();
        // Only a row read from the database is (re)stored: a hit must not extend its own life.
        let (row, from_db): (Option<KeyRow>, bool) =
            match state.key_cache.get(&KeyLookup::Id(claims.sub)) {
                Some(row) => (Some(row), false),
                None => (
                    sqlx::query_as(&format!(
                        "select {KEY_COLUMNS} from api_keys where key_id = $1"
                    ))
                    .bind(claims.sub)
                    .fetch_optional(&state.pool)
                    .await?,
                    true,
                ),
            };
        match row {
            Some(row) if row.org_id == claims.org && row.is_live(now) => {
                if from_db {
                    state
                        .key_cache
                        .put(read_at, KeyLookup::Id(claims.sub), row.recorded(now));
                }
                (row, AuthMethod::AccessToken)
            }
            _ => return Err(refuse(throttle)),
        }
    };
    let role: Role = row
        .role
        .parse()
        .map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))?;

    // Record use at most once a minute, off the request path.
    if row.records_use(now) {
        let pool = state.pool.clone();
        let key_id = row.key_id;
        tokio::spawn(async move {
            let _ = sqlx::query("update api_keys set last_used_at = now() where key_id = $1")
                .bind(key_id)
                .execute(&pool)
                .await;
        });
    }

    Ok(AuthContext {
        org_id: row.org_id,
        role,
        app_scope: row.app_id,
        key_id: row.key_id,
        expires_at: row.expires_at,
        method,
    })
}

fn check_rate(state: &AppState, key_id: Uuid) -> Result<()> {
    let Some(limiter) = &state.limiter else {
        return Ok(());
    };
    limiter.check_key(&key_id).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::RateLimited {
            retry_after_secs: ceil_secs(wait),
        }
    })
}

impl FromRequestParts<AppState> for AuthContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        if let Some(ctx) = parts.extensions.get::<AuthContext>() {
            return Ok(ctx.clone());
        }
        let throttle = Throttle::of(state, parts);
        let token = match bearer_token(parts) {
            Err(ApiError::InvalidCredentials) => return Err(refuse(throttle.as_ref())),
            other => other?,
        };
        let ctx = authenticate(state, token, throttle.as_ref()).await?;
        check_rate(state, ctx.key_id)?;
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}
