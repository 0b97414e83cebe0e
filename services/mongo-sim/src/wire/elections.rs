//! Elections (`Simulator::hold_election`): the primary steps down, no member is primary for a
//! while, then an election makes a primary again. Each wire front follows the simulator's
//! elections in real time: stepping down aborts the open transactions and tells clients (a new
//! `topologyVersion`, which wakes awaitable `hello`s and interrupts change streams); the
//! election gives a new term, so a new `electionId`, and a new `topologyVersion` again.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bson::oid::ObjectId;
use tokio::time::Instant;

use super::{Shared, lock};

impl Shared {
    /// The election term this server is primary in.
    pub(crate) fn term(&self) -> i64 {
        self.term.load(Ordering::SeqCst)
    }

    /// `electionId` as MongoDB makes it from the term: drivers take a primary with a lower one
    /// than they have seen for stale.
    pub(crate) fn election_id(&self) -> ObjectId {
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        bytes[4..].copy_from_slice(&self.term().to_be_bytes());
        ObjectId::from_bytes(bytes)
    }

    /// Whether this server is the writable primary at this moment. Takes the simulator's lock:
    /// callers must not hold it.
    pub(crate) fn is_primary(&self) -> bool {
        !self.stepped_down.load(Ordering::SeqCst) && !self.sim.lock().faults.electing()
    }

    fn step_down_for_election(&self) {
        self.stepped_down.store(true, Ordering::SeqCst);
        {
            // Sim state, then sessions: the lock order everywhere.
            let mut state = self.sim.lock();
            lock(&self.sessions).abort_all(&mut state);
        }
        self.change_topology();
    }

    fn elect(&self) {
        self.term.fetch_add(1, Ordering::SeqCst);
        self.stepped_down.store(false, Ordering::SeqCst);
        self.change_topology();
    }
}

/// Follows the simulator's elections until the wire front stops.
pub(crate) async fn follow(shared: Arc<Shared>) {
    let mut elections = shared.sim.lock().faults.elections.subscribe();
    // An election held before this front started is followed too, if it is not over.
    elections.mark_changed();
    loop {
        let until = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            changed = elections.changed() => {
                if changed.is_err() {
                    return;
                }
                *elections.borrow_and_update()
            }
        };
        let Some(mut until) = until.map(Instant::from_std) else {
            continue;
        };
        if until <= Instant::now() {
            continue;
        }
        shared.step_down_for_election();
        loop {
            tokio::select! {
                () = shared.shutdown.cancelled() => return,
                () = tokio::time::sleep_until(until) => break,
                changed = elections.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // Held again meanwhile: the election lasts until the later end.
                    match *elections.borrow_and_update() {
                        Some(later) => until = until.max(Instant::from_std(later)),
                        None => break,
                    }
                }
            }
        }
        shared.elect();
    }
}
