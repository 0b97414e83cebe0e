//! Plans 10,000 connectors over 100 workers: ticks and time until the assignment is balanced
//! (a tick that moves nothing), then a worker dies and a tick moves its connectors.
//!
//! `cargo bench -p edgebridge-domain --bench schedule` (`BENCH_MAX_MOVES`, default 50 per tick).

use std::hint::black_box;
use std::time::Instant;

use edgebridge_domain::schedule::{
    Connector, Id, Tuning, Worker, WorkerState, apply, plan, weight,
};

fn main() {
    let max_moves: usize = std::env::var("BENCH_MAX_MOVES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let tuning = Tuning {
        max_moves,
        tolerance: 0.1,
    };
    let mut workers: Vec<Worker> = (0..100)
        .map(|i| Worker {
            id: i as Id + 1,
            state: WorkerState::Live,
            capacity: 1_000,
        })
        .collect();
    // 1 to 8 collections per connector: weights 2-9, about 55,000 in all.
    let mut connectors: Vec<Connector> = (0..10_000u32)
        .map(|i| Connector {
            id: 1_000_000 + Id::from(i),
            running: true,
            weight: weight((i as usize * 7919) % 8 + 1),
            assigned: None,
            epoch: 0,
        })
        .collect();

    let started = Instant::now();
    let mut ticks = 0;
    let mut moves = 0;
    let mut slowest = 0f64;
    loop {
        let t = Instant::now();
        let p = black_box(plan(&workers, &connectors, tuning));
        slowest = slowest.max(t.elapsed().as_secs_f64());
        ticks += 1;
        if p.moves.is_empty() {
            break;
        }
        moves += p.moves.len();
        apply(&mut connectors, &p);
    }
    let loads: Vec<u32> = workers
        .iter()
        .map(|w| {
            connectors
                .iter()
                .filter(|c| c.assigned == Some(w.id))
                .map(|c| c.weight)
                .sum()
        })
        .collect();
    println!(
        "initial placement: {ticks} ticks ({moves} moves) in {:.1} ms, slowest tick {:.2} ms; load per worker {}..{} of 1000",
        started.elapsed().as_secs_f64() * 1e3,
        slowest * 1e3,
        loads.iter().min().unwrap(),
        loads.iter().max().unwrap()
    );

    workers[0].state = WorkerState::Dead;
    let orphans = connectors.iter().filter(|c| c.assigned == Some(1)).count();
    let t = Instant::now();
    let p = plan(&workers, &connectors, tuning);
    let elapsed = t.elapsed();
    let rescued = p.moves.iter().filter(|m| m.from == Some(1)).count();
    println!(
        "worker death: {rescued} of {orphans} connectors reassigned in one tick ({:.2} ms of planning); then the scheduler waits for the lease TTL plus one tick",
        elapsed.as_secs_f64() * 1e3
    );

    // A new worker joins an evenly loaded fleet.
    workers[0].state = WorkerState::Live;
    apply(&mut connectors, &p);
    let mut join_ticks = 0;
    let mut join_moves = 0;
    let t = Instant::now();
    loop {
        let p = plan(&workers, &connectors, tuning);
        join_ticks += 1;
        if p.moves.is_empty() {
            break;
        }
        join_moves += p.moves.len();
        apply(&mut connectors, &p);
    }
    println!(
        "empty worker rejoining: {join_ticks} ticks, {join_moves} moves (its fair share is ~{}), {:.1} ms",
        connectors.len() / workers.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
}
