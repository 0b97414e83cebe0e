//! Injected faults: what a test queues, and the counters in effect.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

/// A fault to inject. Faults queue up and fire in order, each on the operations it names.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The next `count` port operations (of any kind) fail with a dropped connection.
    DropConnection { count: u32 },
    /// The next scan fails after reading `after_docs` documents (the batch is lost).
    DropScan { after_docs: u32 },
    /// The next change stream to pull an event fails once it has delivered `after_events` more.
    DropStream { after_events: u32 },
    /// The next `count` operations each take `delay` longer (tokio time: use paused time).
    Slow { count: u32, delay: Duration },
    /// The primary steps down: the next `count` writes or commits fail as not-primary.
    StepDown { count: u32 },
    /// The next `count` commits are applied, but the answer is lost: the caller gets
    /// `CommitOutcomeUnknown` although the writes are there.
    CommitOutcomeUnknown { count: u32 },
    /// The next `count` change events are each delivered twice (as after a lost `getMore`
    /// answer): the engine must apply them idempotently.
    DuplicateEvents { count: u32 },
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) drop_connection: u32,
    pub(crate) drop_scan: Option<u32>,
    pub(crate) drop_stream: Option<u32>,
    pub(crate) slow: Option<(u32, Duration)>,
    pub(crate) step_down: u32,
    pub(crate) commit_unknown: u32,
    pub(crate) duplicate_events: u32,
    pub(crate) queue: VecDeque<Fault>,
    /// Most documents one transaction may change before its commit fails with 388
    /// `TransactionTooLargeForCache` (see [`crate::Simulator::set_transaction_limit`]).
    pub(crate) transaction_limit: Option<usize>,
    /// Probability (out of 1_000_000) that any operation drops its connection.
    pub(crate) random_drop_ppm: u32,
    /// An election is under way: no member is primary until then (see
    /// `Simulator::hold_election`).
    pub(crate) no_primary_until: Option<Instant>,
    /// Every election held, for the wire fronts to step down and elect on time (each follows
    /// it in real time).
    pub(crate) elections: watch::Sender<Option<Instant>>,
    /// The secondary of a primary-secondary-arbiter set is down: writes are applied on the
    /// primary, but nothing a majority must acknowledge is acknowledged.
    pub(crate) majority_unavailable: bool,
    /// Woken when the majority is back: the acknowledgements waiting for it go out.
    pub(crate) majority_restored: Arc<Notify>,
}

impl Faults {
    /// Whether an election is under way at this moment.
    pub(crate) fn electing(&self) -> bool {
        self.no_primary_until
            .is_some_and(|until| Instant::now() < until)
    }
}

/// Moves the next queued fault into effect when none of its kind is active.
pub(crate) fn take_queued(faults: &mut Faults) {
    let active = faults.drop_connection > 0
        || faults.drop_scan.is_some()
        || faults.drop_stream.is_some()
        || faults.slow.is_some()
        || faults.step_down > 0
        || faults.commit_unknown > 0
        || faults.duplicate_events > 0;
    if active {
        return;
    }
    match faults.queue.pop_front() {
        Some(Fault::DropConnection { count }) => faults.drop_connection = count,
        Some(Fault::DropScan { after_docs }) => faults.drop_scan = Some(after_docs),
        Some(Fault::DropStream { after_events }) => faults.drop_stream = Some(after_events),
        Some(Fault::Slow { count, delay }) if count > 0 => faults.slow = Some((count, delay)),
        Some(Fault::StepDown { count }) => faults.step_down = count,
        Some(Fault::CommitOutcomeUnknown { count }) => faults.commit_unknown = count,
        Some(Fault::DuplicateEvents { count }) => faults.duplicate_events = count,
        _ => {}
    }
}

/// The error of a transaction that changed more documents than the cache holds, if it did.
pub(crate) fn too_large_for_cache(faults: &Faults, changes: usize) -> Option<(i32, String)> {
    let limit = faults.transaction_limit?;
    (changes > limit).then(|| {
        (
            388,
            format!(
                "TransactionTooLargeForCache: the transaction changed {changes} documents; the storage engine cache holds {limit} (simulated)"
            ),
        )
    })
}
