//! Throttles credential guessing per client address, without locking that address's real clients
//! out.
//!
//! Each address may fail authentication `per_second` times per second (with as large a burst).
//! Past that it is *blocked* until its budget refills, and every further failure keeps it
//! blocked: the answer is 429 `too_many_failed_authentications` with `Retry-After`, distinct from
//! the per-key rate limit (`rate_limited`). A block refuses only what cannot be shown valid
//! without the database, so a flood of guesses costs no database work:
//!
//! * Access tokens (tenants' and workers' JWTs) and the shared worker and operator tokens are
//!   checked first, by signature or by a constant-time comparison, which needs no database: a
//!   valid one passes whatever the block; an invalid one is a failure. (A token whose key was
//!   revoked since still has a valid signature: it costs one lookup by primary key, counted as a
//!   failure, until it expires.)
//! * An API key needs a lookup by its prefix. From a blocked address the lookup happens only for
//!   a key this process verified within [`VERIFIED_TTL`] (its SHA-256, the same digest the
//!   database stores, is remembered; at most [`VERIFIED_MAX`] of them): those keys belong to the
//!   address's real clients. Any other key is refused with 429 before the lookup. A valid key
//!   that was not used recently waits out the block (seconds), or authenticates with an access
//!   token meanwhile.
//! * A malformed or unknown credential is a failure and costs nothing.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// How long a verified API key may pass a block on its address.
pub const VERIFIED_TTL: Duration = Duration::from_secs(600);
/// How many verified keys are remembered (32 bytes each, plus the map's overhead).
pub const VERIFIED_MAX: usize = 10_000;

pub struct AuthFailureGuard {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    blocked: RwLock<HashMap<IpAddr, Instant>>,
    /// SHA-256 of API keys verified lately, with when.
    verified: Mutex<HashMap<Vec<u8>, Instant>>,
}

/// Whole seconds to wait, rounded up (what `Retry-After` carries).
pub fn ceil_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl AuthFailureGuard {
    /// `None` when `per_second` is 0 (off).
    pub fn new(per_second: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(rate)),
            blocked: RwLock::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// How long `ip` must still wait, if it is blocked.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let until = *self.blocked.read().ok()?.get(&ip)?;
        until.checked_duration_since(Instant::now())
    }

    /// Counts one failed authentication; blocks the address once it is over its budget.
    pub fn record_failure(&self, ip: IpAddr) {
        if let Err(not_until) = self.limiter.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            if let Ok(mut blocked) = self.blocked.write() {
                blocked.insert(ip, Instant::now() + wait.max(Duration::from_secs(1)));
            }
            tracing::warn!(%ip, "too many failed authentications; throttling the address");
        }
    }

    /// Remembers an API key (by its SHA-256) that just authenticated.
    pub fn remember_verified(&self, key_hash: &[u8]) {
        let Ok(mut verified) = self.verified.lock() else {
            return;
        };
        let now = Instant::now();
        if verified.len() >= VERIFIED_MAX && !verified.contains_key(key_hash) {
            verified.retain(|_, at| now.duration_since(*at) < VERIFIED_TTL);
            if verified.len() >= VERIFIED_MAX {
                // Still full of fresh keys: start over rather than grow without bound.
                verified.clear();
            }
        }
        verified.insert(key_hash.to_vec(), now);
    }

    /// True for an API key (by its SHA-256) verified within [`VERIFIED_TTL`].
    pub fn recently_verified(&self, key_hash: &[u8]) -> bool {
        self.verified.lock().is_ok_and(|verified| {
            verified
                .get(key_hash)
                .is_some_and(|at| at.elapsed() < VERIFIED_TTL)
        })
    }

    /// Forgets a key that failed (revoked or expired since).
    pub fn forget_verified(&self, key_hash: &[u8]) {
        if let Ok(mut verified) = self.verified.lock() {
            verified.remove(key_hash);
        }
    }

    /// Forgets expired blocks, quiet addresses and stale verified keys.
    pub fn cleanup(&self) {
        let now = Instant::now();
        if let Ok(mut blocked) = self.blocked.write() {
            blocked.retain(|_, until| *until > now);
        }
        if let Ok(mut verified) = self.verified.lock() {
            verified.retain(|_, at| now.duration_since(*at) < VERIFIED_TTL);
        }
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The failure limiter as it applies to one request: its guard and the caller's address. Absent
/// when limiting is off or the address is unknown.
pub(crate) struct Throttle<'a> {
    pub(crate) guard: &'a AuthFailureGuard,
    ip: IpAddr,
}

impl<'a> Throttle<'a> {
    pub(crate) fn of(state: &'a AppState, parts: &Parts) -> Option<Self> {
        let guard = state.auth_failures.as_ref()?;
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        Some(Self { guard, ip })
    }

    /// 429 while the address is blocked.
    pub(crate) fn check(&self) -> Result<(), ApiError> {
        match self.guard.blocked_for(self.ip) {
            Some(wait) => Err(ApiError::TooManyFailedAuthentications {
                retry_after_secs: ceil_secs(wait),
            }),
            None => Ok(()),
        }
    }
}

/// A failed authentication: counted against the address, answered 429 once the address is
/// blocked (this failure may be the one that blocks it), 401 before.
pub(crate) fn refuse(throttle: Option<&Throttle<'_>>) -> ApiError {
    let Some(throttle) = throttle else {
        return ApiError::InvalidCredentials;
    };
    throttle.guard.record_failure(throttle.ip);
    match throttle.check() {
        Err(blocked) => blocked,
        Ok(()) => ApiError::InvalidCredentials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_an_address_after_its_failure_budget_and_not_others() {
        let guard = AuthFailureGuard::new(3).unwrap();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            guard.record_failure(a);
            assert!(guard.blocked_for(a).is_none());
        }
        guard.record_failure(a);
        assert!(guard.blocked_for(a).is_some());
        assert!(guard.blocked_for(b).is_none());
        assert!(AuthFailureGuard::new(0).is_none());
    }

    #[test]
    fn remembers_verified_keys_boundedly_and_forgets_failed_ones() {
        let guard = AuthFailureGuard::new(1).unwrap();
        guard.remember_verified(b"key-a");
        assert!(guard.recently_verified(b"key-a"));
        assert!(!guard.recently_verified(b"key-b"));
        guard.forget_verified(b"key-a");
        assert!(!guard.recently_verified(b"key-a"));
        for i in 0..=VERIFIED_MAX {
            guard.remember_verified(&i.to_le_bytes());
        }
        let size = guard.verified.lock().unwrap().len();
        assert!(size <= VERIFIED_MAX, "{size}");
        assert!(guard.recently_verified(&VERIFIED_MAX.to_le_bytes()));
    }
}
