//! Throttles credential guessing: each client address may fail authentication a limited number of
//! times per second; past that it is refused with 429 *before* its credentials are looked up, so
//! a flood of guesses costs no database work.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub struct AuthFailureGuard {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    blocked: RwLock<HashMap<IpAddr, Instant>>,
}

impl AuthFailureGuard {
    /// `None` when `per_second` is 0 (off).
    pub fn new(per_second: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(rate)),
            blocked: RwLock::new(HashMap::new()),
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

    /// Forgets expired blocks and quiet addresses.
    pub fn cleanup(&self) {
        let now = Instant::now();
        if let Ok(mut blocked) = self.blocked.write() {
            blocked.retain(|_, until| *until > now);
        }
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
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
}
