//! Hybrid logical clocks: a physical millisecond time plus a counter, so stamps respect causality
//! (a write that saw another is ordered after it) while staying close to wall time.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One point in hybrid logical time. Ordered by wall time, then counter. Stored as the pair
/// `[wall_ms, counter]` (it is in every field's stamp, so it is kept short).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(from = "(u64, u32)", into = "(u64, u32)")]
pub struct Hlc {
    /// Milliseconds since the Unix epoch.
    pub wall_ms: u64,
    pub counter: u32,
}

impl From<(u64, u32)> for Hlc {
    fn from((wall_ms, counter): (u64, u32)) -> Self {
        Self { wall_ms, counter }
    }
}

impl From<Hlc> for (u64, u32) {
    fn from(h: Hlc) -> Self {
        (h.wall_ms, h.counter)
    }
}

impl Hlc {
    pub const ZERO: Hlc = Hlc {
        wall_ms: 0,
        counter: 0,
    };

    pub fn new(wall_ms: u64, counter: u32) -> Self {
        Self { wall_ms, counter }
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.wall_ms, self.counter)
    }
}

/// A clock that issues strictly increasing stamps and absorbs stamps it observes from others.
#[derive(Debug, Clone, Default)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next stamp at physical time `now_ms`: never lower than anything issued or observed.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        self.last = if now_ms > self.last.wall_ms {
            Hlc::new(now_ms, 0)
        } else {
            Hlc::new(self.last.wall_ms, self.last.counter.saturating_add(1))
        };
        self.last
    }

    /// Takes in a stamp seen from another actor so the next tick orders after it.
    pub fn observe(&mut self, seen: Hlc) {
        if seen > self.last {
            self.last = seen;
        }
    }

    pub fn last(&self) -> Hlc {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_strictly_increasing_even_when_wall_time_stalls_or_goes_back() {
        let mut c = HlcClock::new();
        let a = c.tick(100);
        let b = c.tick(100);
        let d = c.tick(50);
        let e = c.tick(101);
        assert!(a < b && b < d && d < e);
        assert_eq!(e, Hlc::new(101, 0));
    }

    #[test]
    fn serializes_as_a_pair() {
        let h = Hlc::new(1_700_000_000_000, 3);
        assert_eq!(serde_json::to_string(&h).unwrap(), "[1700000000000,3]");
        assert_eq!(serde_json::from_str::<Hlc>("[1700000000000,3]").unwrap(), h);
    }

    #[test]
    fn observing_a_later_stamp_orders_the_next_tick_after_it() {
        let mut c = HlcClock::new();
        c.tick(10);
        c.observe(Hlc::new(500, 7));
        assert_eq!(c.tick(20), Hlc::new(500, 8));
    }
}
