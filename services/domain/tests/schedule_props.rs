//! Property tests of the scheduler's plan: safety (never onto a dead or draining worker, never
//! over capacity, epochs grow by exactly one per move), liveness (every running connector is
//! placed or reported waiting; repeated ticks settle), and determinism.

use std::collections::BTreeMap;

use edgebridge_domain::schedule::{Connector, Id, Tuning, Worker, WorkerState, apply, plan};
use proptest::prelude::*;

fn workers() -> impl Strategy<Value = Vec<Worker>> {
    proptest::collection::vec(
        (
            prop_oneof![
                6 => Just(WorkerState::Live),
                1 => Just(WorkerState::Draining),
                1 => Just(WorkerState::Dead),
            ],
            0u32..60,
        ),
        0..8,
    )
    .prop_map(|ws| {
        ws.into_iter()
            .enumerate()
            .map(|(i, (state, capacity))| Worker {
                id: i as Id + 1,
                state,
                capacity,
            })
            .collect()
    })
}

fn connectors(workers: usize) -> impl Strategy<Value = Vec<Connector>> {
    proptest::collection::vec((any::<bool>(), 1u32..6, 0..=workers + 1, 0i64..5), 0..60).prop_map(
        |cs| {
            cs.into_iter()
                .enumerate()
                .map(|(i, (running, weight, assigned, epoch))| Connector {
                    id: 1000 + i as Id,
                    running: running || i % 3 != 0,
                    weight,
                    // 0: unassigned; workers + 1: a worker that is not known.
                    assigned: (assigned > 0).then_some(assigned as Id),
                    epoch,
                })
                .collect()
        },
    )
}

fn scenario() -> impl Strategy<Value = (Vec<Worker>, Vec<Connector>, usize)> {
    workers().prop_flat_map(|ws| {
        let n = ws.len();
        (Just(ws), connectors(n), 0usize..10)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn plans_are_safe((workers, connectors, max_moves) in scenario()) {
        let tuning = Tuning { max_moves, tolerance: 0.1 };
        let plan = plan(&workers, &connectors, tuning);
        prop_assert_eq!(&plan, &edgebridge_domain::schedule::plan(&workers, &connectors, tuning), "deterministic");
        let state: BTreeMap<Id, &Worker> = workers.iter().map(|w| (w.id, w)).collect();
        let before: BTreeMap<Id, &Connector> = connectors.iter().map(|c| (c.id, c)).collect();
        let mut seen = std::collections::BTreeSet::new();
        for m in &plan.moves {
            prop_assert!(seen.insert(m.connector), "one move per connector per tick");
            prop_assert_eq!(m.epoch, before[&m.connector].epoch + 1);
            if let Some(to) = m.to {
                prop_assert_eq!(state[&to].state, WorkerState::Live);
            }
        }
        let mut after = connectors.clone();
        apply(&mut after, &plan);
        // Capacity: newly placed connectors never push a worker over it.
        for w in &workers {
            let load: u32 = after.iter().filter(|c| c.assigned == Some(w.id) && c.running).map(|c| c.weight).sum();
            let kept: u32 = connectors.iter().filter(|c| c.assigned == Some(w.id) && c.running).map(|c| c.weight).sum();
            prop_assert!(load <= w.capacity.max(kept), "worker {} at {load} of {}", w.id, w.capacity);
        }
        for c in &after {
            if !c.running {
                prop_assert_eq!(c.assigned, None, "a stopped connector holds no lease");
            } else if c.assigned.is_none() {
                prop_assert!(plan.waiting.contains(&c.id), "an unplaced running connector is reported waiting");
            }
            if let Some(w) = c.assigned {
                let known = state.get(&w);
                let ok = known.is_some_and(|w| w.state == WorkerState::Live)
                    || (known.is_some_and(|w| w.state == WorkerState::Draining) && !plan.moves.iter().any(|m| m.connector == c.id));
                prop_assert!(ok, "connector {} left on {:?}", c.id, known.map(|w| w.state));
            }
        }
        // Moves of healthy connectors stay within the budget.
        let optional = plan.moves.iter().filter(|m| matches!(m.reason, edgebridge_domain::schedule::Reason::Rebalance | edgebridge_domain::schedule::Reason::WorkerDraining)).count();
        prop_assert!(optional <= max_moves);
    }

    #[test]
    fn repeated_ticks_settle((workers, connectors, _) in scenario()) {
        let tuning = Tuning { max_moves: 5, tolerance: 0.1 };
        let mut state = connectors;
        let mut settled = false;
        for _ in 0..200 {
            let plan = plan(&workers, &state, tuning);
            if plan.moves.is_empty() {
                settled = true;
                break;
            }
            apply(&mut state, &plan);
        }
        prop_assert!(settled, "no fixpoint within 200 ticks");
    }
}
