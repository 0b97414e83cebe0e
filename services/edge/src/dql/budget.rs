//! The work one statement may do. Every evaluation step is charged to a [`Budget`]: an expression
//! node, a path segment, a value compared (`=`, `IN`, ORDER BY), a LIKE step, 16 bytes of document
//! parsed, a value copied into a result. A unit is a few nanoseconds of work; a statement that
//! uses more than its limit, passes its deadline or is cancelled (its request went away) stops
//! with an [`EvalError`] instead of running on.

use super::eval::EvalError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How often (in units) the clock and the cancellation flag are looked at.
const CHECK_EVERY: u64 = 1 << 15;

/// Bytes of document JSON that cost one unit to parse.
pub const PARSE_BYTES_PER_UNIT: usize = 16;

#[derive(Debug)]
pub struct Budget {
    used: u64,
    limit: u64,
    /// Stop with [`EvalError::Paused`] past this many units (a caller moving work elsewhere).
    pause_at: Option<u64>,
    deadline: Option<Instant>,
    cancelled: Arc<AtomicBool>,
    next_check: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Self {
        Self {
            used: 0,
            limit,
            pause_at: None,
            deadline: None,
            cancelled: Arc::new(AtomicBool::new(false)),
            next_check: CHECK_EVERY,
        }
    }

    /// No limit, no deadline (tools and tests).
    pub fn unlimited() -> Self {
        Self::new(u64::MAX)
    }

    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The flag that cancels the work when set (from another thread).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    pub fn used(&self) -> u64 {
        self.used
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Stops with [`EvalError::Paused`] once `units` more have been used.
    pub fn pause_after(&mut self, units: u64) {
        self.pause_at = Some(self.used.saturating_add(units));
    }

    /// Runs on to the limit again.
    pub fn resume(&mut self) {
        self.pause_at = None;
    }

    /// Forgets the units used since `mark` (work that will be done again).
    pub fn rewind(&mut self, mark: u64) {
        self.used = mark.min(self.used);
    }

    /// Uses `units`; fails once the budget, the pause point or the deadline is passed.
    pub fn charge(&mut self, units: u64) -> Result<(), EvalError> {
        self.used = self.used.saturating_add(units);
        if self.used > self.limit {
            return Err(EvalError::BudgetExceeded { limit: self.limit });
        }
        if self.pause_at.is_some_and(|p| self.used > p) {
            return Err(EvalError::Paused);
        }
        if self.used >= self.next_check {
            self.next_check = self.used.saturating_add(CHECK_EVERY);
            self.check_time()?;
        }
        Ok(())
    }

    /// Fails when the work was cancelled or its deadline passed.
    pub fn check_time(&self) -> Result<(), EvalError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(EvalError::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(EvalError::DeadlineExceeded);
        }
        Ok(())
    }

    /// Charges for parsing `bytes` of JSON.
    pub fn charge_parse(&mut self, bytes: usize) -> Result<(), EvalError> {
        self.charge(1 + (bytes / PARSE_BYTES_PER_UNIT) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stops_at_the_limit_the_pause_point_the_deadline_and_on_cancel() {
        let mut b = Budget::new(10);
        assert!(b.charge(10).is_ok());
        assert_eq!(b.charge(1), Err(EvalError::BudgetExceeded { limit: 10 }));

        let mut b = Budget::new(100);
        b.pause_after(5);
        assert!(b.charge(5).is_ok());
        assert_eq!(b.charge(1), Err(EvalError::Paused));
        b.rewind(2);
        b.resume();
        assert_eq!(b.used(), 2);
        assert!(b.charge(50).is_ok());

        let mut b = Budget::new(u64::MAX).with_deadline(Instant::now() - Duration::from_secs(1));
        assert_eq!(b.charge(CHECK_EVERY), Err(EvalError::DeadlineExceeded));

        let mut b = Budget::unlimited();
        b.cancel_flag().store(true, Ordering::Relaxed);
        assert_eq!(b.charge(CHECK_EVERY), Err(EvalError::Cancelled));
    }
}
