//! The scheduler's decision for one tick, free of I/O: given the workers (live, draining or
//! dead, with capacity) and the connectors (desired state, weight, current assignment and epoch),
//! which connectors move where. The scheduler role (issue 5) reads the state from Postgres, calls
//! [`plan`], and writes the moves with their new epochs in one transaction.
//!
//! Rules, in order:
//! 1. a connector no longer meant to run is unassigned;
//! 2. a connector on a dead, draining or unknown worker moves (dead ones at once; draining ones
//!    count against the per-tick move budget);
//! 3. an unassigned running connector goes to the live worker with the most free capacity;
//! 4. while the load fractions of the most and least loaded live workers differ by more than the
//!    tolerance (a share of the average), the budget allows, and a move narrows the gap, one
//!    connector moves from the former to the latter;
//! 5. everything else stays where it is.
//!
//! Every move (including an unassignment) takes the connector's epoch one higher, which is what
//! fences the previous owner out. Ties break by id, so the same input gives the same plan.

use std::collections::BTreeMap;

/// An identifier (the UUIDs' 128 bits); ordered, so plans are deterministic.
pub type Id = u128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    Live,
    /// Takes no new work; its connectors move away.
    Draining,
    /// Silent for longer than the lease TTL.
    Dead,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub id: Id,
    pub state: WorkerState,
    /// Total weight it may carry.
    pub capacity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub id: Id,
    /// Desired state is running (not paused, not deleted).
    pub running: bool,
    /// Load it puts on a worker: grows with its collections ([`weight`]).
    pub weight: u32,
    pub assigned: Option<Id>,
    pub epoch: i64,
}

/// A connector's weight: one for the connector, one per collection.
pub fn weight(collections: usize) -> u32 {
    1 + u32::try_from(collections).unwrap_or(u32::MAX - 1)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Moves of healthy connectors (drain and rebalance) per tick; connectors on dead workers
    /// and unassigned ones are placed regardless.
    pub max_moves: usize,
    /// Rebalance while the load fractions of the most and least loaded live workers differ by
    /// more than this share of the average load fraction (0.1: 10 %), and a move narrows it.
    pub tolerance: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_moves: 20,
            tolerance: 0.10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not meant to run any more (paused or deleted).
    Stopped,
    WorkerDead,
    WorkerDraining,
    /// Its worker is not known (deregistered).
    WorkerGone,
    /// Had no worker.
    Unassigned,
    Rebalance,
}

/// One change of assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub connector: Id,
    pub from: Option<Id>,
    /// `None`: unassigned (stopped, or no capacity anywhere).
    pub to: Option<Id>,
    pub epoch: i64,
    pub reason: Reason,
}

/// What one tick decides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub moves: Vec<Move>,
    /// Running connectors left without a worker: no live worker has room.
    pub waiting: Vec<Id>,
}

struct Load {
    capacity: u32,
    used: u64,
}

impl Load {
    fn free(&self) -> i64 {
        i64::from(self.capacity) - self.used as i64
    }

    fn fraction(&self) -> f64 {
        if self.capacity == 0 {
            f64::INFINITY
        } else {
            self.used as f64 / f64::from(self.capacity)
        }
    }
}

/// The live worker with the most free capacity that can take `weight`.
fn roomiest(loads: &BTreeMap<Id, Load>, weight: u32) -> Option<Id> {
    loads
        .iter()
        .filter(|(_, l)| l.free() >= i64::from(weight))
        .max_by(|(a_id, a), (b_id, b)| a.free().cmp(&b.free()).then(b_id.cmp(a_id)))
        .map(|(id, _)| *id)
}

fn record(
    out: &mut Plan,
    moved: &mut BTreeMap<Id, i64>,
    c: &Connector,
    from: Option<Id>,
    to: Option<Id>,
    reason: Reason,
) {
    let epoch = c.epoch + 1;
    moved.insert(c.id, epoch);
    out.moves.push(Move {
        connector: c.id,
        from,
        to,
        epoch,
        reason,
    });
}

/// One tick's plan.
pub fn plan(workers: &[Worker], connectors: &[Connector], tuning: Tuning) -> Plan {
    let state_of: BTreeMap<Id, WorkerState> = workers.iter().map(|w| (w.id, w.state)).collect();
    let mut loads: BTreeMap<Id, Load> = workers
        .iter()
        .filter(|w| w.state == WorkerState::Live)
        .map(|w| {
            (
                w.id,
                Load {
                    capacity: w.capacity,
                    used: 0,
                },
            )
        })
        .collect();
    let mut sorted: Vec<&Connector> = connectors.iter().collect();
    sorted.sort_by_key(|c| c.id);

    // Current placement on live workers.
    let mut placement: BTreeMap<Id, Id> = BTreeMap::new();
    for c in &sorted {
        if let Some(worker) = c.assigned
            && c.running
            && let Some(load) = loads.get_mut(&worker)
        {
            load.used += u64::from(c.weight);
            placement.insert(c.id, worker);
        }
    }

    let mut out = Plan::default();
    let mut budget = tuning.max_moves;
    let mut moved: BTreeMap<Id, i64> = BTreeMap::new();

    // 1-3. Stopped, orphaned, unassigned.
    for c in &sorted {
        if !c.running {
            if c.assigned.is_some() {
                record(&mut out, &mut moved, c, c.assigned, None, Reason::Stopped);
            }
            continue;
        }
        let reason = match c.assigned {
            // On a live worker: stays (rebalancing may still move it below).
            Some(_) if placement.contains_key(&c.id) => continue,
            Some(w) => match state_of.get(&w) {
                Some(WorkerState::Dead) => Reason::WorkerDead,
                Some(WorkerState::Draining) => Reason::WorkerDraining,
                Some(WorkerState::Live) => Reason::WorkerGone,
                None => Reason::WorkerGone,
            },
            None => Reason::Unassigned,
        };
        if reason == Reason::WorkerDraining {
            if budget == 0 {
                continue; // stays on the draining worker until a later tick
            }
            budget -= 1;
        }
        match roomiest(&loads, c.weight) {
            Some(to) => {
                if let Some(load) = loads.get_mut(&to) {
                    load.used += u64::from(c.weight);
                }
                placement.insert(c.id, to);
                record(&mut out, &mut moved, c, c.assigned, Some(to), reason);
            }
            None => {
                out.waiting.push(c.id);
                if c.assigned.is_some() && reason != Reason::WorkerDraining {
                    // Its worker is gone: unassign, so nobody holds a stale lease.
                    record(&mut out, &mut moved, c, c.assigned, None, reason);
                }
            }
        }
    }

    // 4. Rebalance.
    let by_id: BTreeMap<Id, &Connector> = sorted.iter().map(|c| (c.id, *c)).collect();
    while budget > 0 {
        let Some((&busiest, _)) = loads.iter().max_by(|(a_id, a), (b_id, b)| {
            a.fraction().total_cmp(&b.fraction()).then(b_id.cmp(a_id))
        }) else {
            break;
        };
        let Some((&idlest, _)) = loads.iter().min_by(|(a_id, a), (b_id, b)| {
            a.fraction().total_cmp(&b.fraction()).then(a_id.cmp(b_id))
        }) else {
            break;
        };
        let gap = loads[&busiest].fraction() - loads[&idlest].fraction();
        let used: u64 = loads.values().map(|l| l.used).sum();
        let capacity: u64 = loads.values().map(|l| u64::from(l.capacity)).sum();
        let mean = used as f64 / capacity.max(1) as f64;
        if busiest == idlest || gap <= tuning.tolerance * mean {
            break;
        }
        // The heaviest connector on the busiest worker that fits and narrows the gap, not moved
        // yet this tick: few moves for the same balance.
        let candidate = placement
            .iter()
            .filter(|(c, w)| **w == busiest && !moved.contains_key(*c))
            .filter_map(|(c, _)| by_id.get(c).copied())
            .filter(|c| loads[&idlest].free() >= i64::from(c.weight))
            .filter(|c| {
                let w = u64::from(c.weight);
                let (b, i) = (&loads[&busiest], &loads[&idlest]);
                let after_b = (b.used - w) as f64 / f64::from(b.capacity.max(1));
                let after_i = (i.used + w) as f64 / f64::from(i.capacity.max(1));
                (after_b - after_i).abs() < gap
            })
            .max_by_key(|c| (c.weight, std::cmp::Reverse(c.id)));
        let Some(c) = candidate else {
            break;
        };
        let w = u64::from(c.weight);
        if let Some(load) = loads.get_mut(&busiest) {
            load.used -= w;
        }
        if let Some(load) = loads.get_mut(&idlest) {
            load.used += w;
        }
        placement.insert(c.id, idlest);
        record(
            &mut out,
            &mut moved,
            c,
            Some(busiest),
            Some(idlest),
            Reason::Rebalance,
        );
        budget -= 1;
    }
    out
}

/// Applies a plan to the connectors, as the scheduler's transaction would (for tests and the
/// benchmark).
pub fn apply(connectors: &mut [Connector], plan: &Plan) {
    let moves: BTreeMap<Id, &Move> = plan.moves.iter().map(|m| (m.connector, m)).collect();
    for c in connectors {
        if let Some(m) = moves.get(&c.id) {
            c.assigned = m.to;
            c.epoch = m.epoch;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(id: Id, capacity: u32) -> Worker {
        Worker {
            id,
            state: WorkerState::Live,
            capacity,
        }
    }

    fn connector(id: Id, weight: u32) -> Connector {
        Connector {
            id,
            running: true,
            weight,
            assigned: None,
            epoch: 0,
        }
    }

    fn tick(workers: &[Worker], connectors: &mut [Connector]) -> Plan {
        let plan = plan(workers, connectors, Tuning::default());
        apply(connectors, &plan);
        plan
    }

    fn load(connectors: &[Connector], worker: Id) -> u32 {
        connectors
            .iter()
            .filter(|c| c.assigned == Some(worker))
            .map(|c| c.weight)
            .sum()
    }

    #[test]
    fn new_connectors_go_to_the_roomiest_worker_and_stay_there() {
        let workers = [worker(1, 10), worker(2, 10)];
        let mut connectors: Vec<Connector> = (10..16).map(|id| connector(id, 2)).collect();
        let first = tick(&workers, &mut connectors);
        assert_eq!(first.moves.len(), 6);
        assert!(
            first
                .moves
                .iter()
                .all(|m| m.reason == Reason::Unassigned && m.epoch == 1)
        );
        assert_eq!((load(&connectors, 1), load(&connectors, 2)), (6, 6));
        // Nothing requires a move: nothing moves.
        assert_eq!(tick(&workers, &mut connectors), Plan::default());
    }

    #[test]
    fn a_dead_workers_connectors_move_at_once_with_a_new_epoch() {
        let mut workers = vec![worker(1, 10), worker(2, 10)];
        let mut connectors: Vec<Connector> = (10..14).map(|id| connector(id, 1)).collect();
        tick(&workers, &mut connectors);
        let on_one: Vec<Id> = connectors
            .iter()
            .filter(|c| c.assigned == Some(1))
            .map(|c| c.id)
            .collect();
        workers[0].state = WorkerState::Dead;
        let plan = plan(
            &workers,
            &connectors,
            Tuning {
                max_moves: 0,
                tolerance: 0.1,
            },
        );
        let moved: Vec<Id> = plan.moves.iter().map(|m| m.connector).collect();
        assert_eq!(moved, on_one, "even with no move budget");
        assert!(
            plan.moves
                .iter()
                .all(|m| m.to == Some(2) && m.epoch == 2 && m.reason == Reason::WorkerDead)
        );
    }

    #[test]
    fn draining_moves_everything_within_the_budget_and_nothing_comes_back() {
        let mut workers = vec![worker(1, 100), worker(2, 100)];
        let mut connectors: Vec<Connector> = (10..40).map(|id| connector(id, 1)).collect();
        tick(&workers, &mut connectors);
        workers[0].state = WorkerState::Draining;
        let tuning = Tuning {
            max_moves: 4,
            tolerance: 0.1,
        };
        let mut ticks = 0;
        loop {
            let plan = plan(&workers, &connectors, tuning);
            assert!(plan.moves.len() <= 4);
            assert!(
                plan.moves.iter().all(|m| m.to != Some(1)),
                "nothing moves onto a draining worker"
            );
            apply(&mut connectors, &plan);
            ticks += 1;
            if plan.moves.is_empty() {
                break;
            }
        }
        assert_eq!(load(&connectors, 1), 0);
        assert_eq!(ticks, 5, "15 connectors at 4 per tick, then a quiet tick");
    }

    #[test]
    fn a_new_worker_gets_about_its_fair_share_and_no_more_moves_than_that() {
        let mut workers = vec![worker(1, 100), worker(2, 100)];
        let mut connectors: Vec<Connector> = (100..160).map(|id| connector(id, 1)).collect();
        tick(&workers, &mut connectors);
        workers.push(worker(3, 100));
        let mut total_moves = 0;
        for _ in 0..10 {
            total_moves += tick(&workers, &mut connectors).moves.len();
        }
        assert!(
            (18..=20).contains(&load(&connectors, 3)),
            "{}",
            load(&connectors, 3)
        );
        assert!(
            total_moves <= 20,
            "moved {total_moves}, the fair share is 20"
        );
    }

    #[test]
    fn stopped_connectors_are_unassigned_and_capacity_is_respected() {
        let workers = [worker(1, 3)];
        let mut connectors = vec![connector(1, 2), connector(2, 2)];
        let plan = tick(&workers, &mut connectors);
        assert_eq!(plan.waiting, vec![2], "no room for the second");
        connectors[0].running = false;
        let plan = tick(&workers, &mut connectors);
        assert_eq!(plan.moves[0].reason, Reason::Stopped);
        assert_eq!(plan.moves[0].to, None);
        assert_eq!(plan.moves[1].connector, 2);
        assert_eq!(plan.moves[1].to, Some(1));
    }

    #[test]
    fn weight_grows_with_collections() {
        assert_eq!(weight(0), 1);
        assert_eq!(weight(3), 4);
    }
}
