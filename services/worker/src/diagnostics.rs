//! A running connector's diagnostics beside its counters: the per-document trace (each sync
//! step of a document, kept in a bounded ring until the next report takes it to the api) and
//! debug mode (while the api says so, each change and write is also a debug event, rate
//! limited).
//!
//! The trace takes at most [`Diagnostics::new`]'s `steps_per_sec` routine steps a second (a
//! change read, an echo, a write-back); refusals and merges always. What the budget leaves out
//! costs an atomic check, nothing more, and is counted: under a heavy load the trace samples.

use chrono::{DateTime, Utc};
use edgebridge_domain::fleet::{EventLevel, ReportedEvent, TraceDirection, TraceStep};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Steps held between two reports; older ones are dropped (and counted) under a load above it.
pub const TRACE_RING: usize = 5_000;
/// Debug events per second at most (the rest are counted as dropped).
pub const DEBUG_EVENTS_PER_SEC: u32 = 50;

#[derive(Default)]
struct Inner {
    /// Traces on (the worker's setting).
    tracing: AtomicBool,
    /// Routine steps recorded per second at most.
    steps_per_sec: u32,
    /// The second (Unix) the budget counts, and the steps taken in it.
    budget_second: AtomicI64,
    budget_used: AtomicU32,
    /// Debug mode until then (Unix ms; 0: off).
    debug_until_ms: AtomicI64,
    steps: Mutex<VecDeque<TraceStep>>,
    steps_dropped: AtomicU64,
    debug: Mutex<DebugBudget>,
}

#[derive(Default)]
struct DebugBudget {
    second: i64,
    used: u32,
    events: Vec<ReportedEvent>,
    dropped: u64,
}

/// Shared by a connector's pipelines, write-back and reporter.
#[derive(Clone, Default)]
pub struct Diagnostics(Arc<Inner>);

impl Diagnostics {
    pub fn new(tracing: bool, steps_per_sec: u32) -> Self {
        Diagnostics(Arc::new(Inner {
            tracing: AtomicBool::new(tracing),
            steps_per_sec,
            ..Inner::default()
        }))
    }

    /// Whether a routine step fits this second's budget (and takes its place).
    fn within_budget(&self, second: i64) -> bool {
        let inner = &self.0;
        if inner.budget_second.swap(second, Ordering::Relaxed) != second {
            inner.budget_used.store(0, Ordering::Relaxed);
        }
        inner.budget_used.fetch_add(1, Ordering::Relaxed) < inner.steps_per_sec
    }

    /// Whether steps are recorded at all (traces or debug mode on).
    pub fn active(&self) -> bool {
        self.0.tracing.load(Ordering::Relaxed) || self.debugging()
    }

    pub fn debugging(&self) -> bool {
        let until = self.0.debug_until_ms.load(Ordering::Relaxed);
        until > 0 && Utc::now().timestamp_millis() < until
    }

    /// What the api answered to a report.
    pub fn set_debug_until(&self, until: Option<DateTime<Utc>>) {
        let ms = until.map_or(0, |t| t.timestamp_millis());
        self.0.debug_until_ms.store(ms, Ordering::Relaxed);
    }

    /// Records one step of a document (and, in debug mode, a debug event saying it); `detail`
    /// is built only when the step is kept.
    pub fn step(
        &self,
        collection: &str,
        document_id: &serde_json::Value,
        direction: TraceDirection,
        step: &'static str,
        detail: impl FnOnce() -> serde_json::Value,
    ) {
        let debugging = self.debugging();
        let tracing = self.0.tracing.load(Ordering::Relaxed);
        if !tracing && !debugging {
            return;
        }
        let at = Utc::now();
        let important = matches!(step, "refused" | "edge_refused" | "edge_merged");
        let traced = tracing && (important || self.within_budget(at.timestamp()));
        if tracing && !traced {
            self.0.steps_dropped.fetch_add(1, Ordering::Relaxed);
        }
        if !traced && !debugging {
            return;
        }
        let step = TraceStep {
            at,
            collection: collection.to_owned(),
            document_id: document_id.to_string(),
            direction,
            step: step.to_owned(),
            detail: detail(),
        };
        if debugging {
            self.debug_event(&step);
        }
        if !traced {
            return;
        }
        if let Ok(mut steps) = self.0.steps.lock() {
            if steps.len() >= TRACE_RING {
                steps.pop_front();
                self.0.steps_dropped.fetch_add(1, Ordering::Relaxed);
            }
            steps.push_back(step);
        }
    }

    fn debug_event(&self, step: &TraceStep) {
        let Ok(mut budget) = self.0.debug.lock() else {
            return;
        };
        let second = step.at.timestamp();
        if budget.second != second {
            budget.second = second;
            budget.used = 0;
        }
        if budget.used >= DEBUG_EVENTS_PER_SEC {
            budget.dropped += 1;
            return;
        }
        budget.used += 1;
        let way = match step.direction {
            TraceDirection::MongoToEdge => "MongoDB -> edge",
            TraceDirection::EdgeToMongo => "edge -> MongoDB",
        };
        budget.events.push(ReportedEvent {
            level: EventLevel::Debug,
            code: format!("debug_{}", step.step),
            message: format!(
                "{way}: {} of {} in {}",
                step.step.replace('_', " "),
                step.document_id,
                step.collection
            ),
            context: step.detail.clone(),
            at: step.at,
            collection: Some(step.collection.clone()),
            document_id: Some(step.document_id.clone()),
        });
    }

    /// The steps recorded since the last call (at most `max`, the newest), and how many were
    /// dropped since.
    pub fn take_steps(&self, max: usize) -> (Vec<TraceStep>, u64) {
        let mut steps = match self.0.steps.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(_) => VecDeque::new(),
        };
        let mut dropped = self.0.steps_dropped.swap(0, Ordering::Relaxed);
        if steps.len() > max {
            dropped += (steps.len() - max) as u64;
            steps.drain(..steps.len() - max);
        }
        (steps.into(), dropped)
    }

    /// Debug events since the last call, and how many the rate limit dropped.
    pub fn take_debug_events(&self) -> (Vec<ReportedEvent>, u64) {
        match self.0.debug.lock() {
            Ok(mut b) => (
                std::mem::take(&mut b.events),
                std::mem::take(&mut b.dropped),
            ),
            Err(_) => (Vec::new(), 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_are_kept_in_a_ring_and_taken_once() {
        let d = Diagnostics::new(true, u32::MAX);
        for i in 0..(TRACE_RING + 3) {
            d.step(
                "c",
                &json!(i),
                TraceDirection::MongoToEdge,
                "mongo_change",
                || json!({}),
            );
        }
        let (steps, dropped) = d.take_steps(TRACE_RING);
        assert_eq!(steps.len(), TRACE_RING);
        assert_eq!(dropped, 3);
        assert_eq!(steps[0].document_id, "3");
        assert!(d.take_steps(10).0.is_empty());
    }

    #[test]
    fn nothing_is_recorded_when_off_and_debug_mode_is_rate_limited() {
        let d = Diagnostics::new(false, u32::MAX);
        d.step(
            "c",
            &json!(1),
            TraceDirection::EdgeToMongo,
            "write_back",
            || json!({}),
        );
        assert!(d.take_steps(10).0.is_empty());
        d.set_debug_until(Some(Utc::now() + chrono::TimeDelta::minutes(1)));
        for i in 0..(DEBUG_EVENTS_PER_SEC + 10) {
            d.step(
                "c",
                &json!(i),
                TraceDirection::EdgeToMongo,
                "write_back",
                || json!({}),
            );
        }
        let (events, dropped) = d.take_debug_events();
        // Within one second or across two: never more than the budget per second.
        assert!(events.len() as u32 <= DEBUG_EVENTS_PER_SEC * 2);
        assert_eq!(
            events.len() as u64 + dropped,
            u64::from(DEBUG_EVENTS_PER_SEC + 10)
        );
        assert_eq!(events[0].level, EventLevel::Debug);
        assert_eq!(events[0].document_id.as_deref(), Some("0"));
        assert!(
            d.take_steps(10).0.is_empty(),
            "debug mode alone keeps no trace"
        );
        d.set_debug_until(None);
        assert!(!d.debugging());
    }

    #[test]
    fn routine_steps_are_sampled_past_the_budget_and_refusals_always_kept() {
        let d = Diagnostics::new(true, 10);
        let mut built = 0;
        for i in 0..100 {
            d.step(
                "c",
                &json!(i),
                TraceDirection::MongoToEdge,
                "mongo_change",
                || {
                    built += 1;
                    json!({})
                },
            );
        }
        d.step(
            "c",
            &json!("x"),
            TraceDirection::EdgeToMongo,
            "refused",
            || json!({}),
        );
        let (steps, dropped) = d.take_steps(TRACE_RING);
        // Within one second, or across two: never more than the budget per second.
        assert!(steps.len() <= 21, "{}", steps.len());
        assert_eq!(steps.len() as u64 + dropped, 101);
        assert_eq!(
            built,
            steps.len() - 1,
            "a dropped step's detail is never built"
        );
        assert_eq!(steps.last().unwrap().step, "refused");
    }
}
