//! Where a statement's evaluation runs. Each step (scanning a batch, sorting, evaluating the
//! documents of an INSERT) first runs on the async worker for at most [`INLINE_UNITS`] of work,
//! which is most statements whole; a step that needs more goes on in the blocking pool, so no
//! statement holds an async worker for long. Every step charges the statement's [`Budget`]
//! (its limit of work and its deadline), and a step in the blocking pool stops soon after its
//! request is dropped (the request timed out or the client went away).

use crate::error::{ApiError, Result};
use axum::http::StatusCode;
use edgebridge_edge::apply::ApplyError;
use edgebridge_edge::dql::budget::Budget;
use edgebridge_edge::dql::eval::EvalError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Units of work a step may do on the async worker (well under a millisecond).
pub(super) const INLINE_UNITS: u64 = 100_000;

/// Why a step stopped.
#[derive(Debug)]
pub(super) enum Stop {
    Eval(EvalError),
    Api(ApiError),
}

impl From<EvalError> for Stop {
    fn from(e: EvalError) -> Self {
        Stop::Eval(e)
    }
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Api(e)
    }
}

impl From<ApplyError> for Stop {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Eval(e) => Stop::Eval(e),
            other => Stop::Api(apply_error(other)),
        }
    }
}

impl From<Stop> for ApiError {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Eval(e) => eval_error(e),
            Stop::Api(e) => e,
        }
    }
}

/// The answer to an evaluation error: each has its own stable code.
pub(super) fn eval_error(e: EvalError) -> ApiError {
    let detail = e.to_string();
    match e {
        EvalError::MissingArgument(_) => ApiError::bad_request("dql_missing_argument", detail),
        EvalError::PatternTooLong { .. } => ApiError::bad_request("pattern_too_long", detail),
        EvalError::NumericOverflow(_) => {
            ApiError::other(StatusCode::UNPROCESSABLE_ENTITY, "numeric_overflow", detail)
        }
        EvalError::BudgetExceeded { .. } => ApiError::other(
            StatusCode::UNPROCESSABLE_ENTITY,
            "statement_budget_exceeded",
            detail,
        ),
        EvalError::DeadlineExceeded => ApiError::other(
            StatusCode::UNPROCESSABLE_ENTITY,
            "statement_timeout",
            detail,
        ),
        EvalError::Cancelled => ApiError::Timeout,
        EvalError::Paused => ApiError::Internal(anyhow::anyhow!("a statement step paused twice")),
    }
}

/// The answer to a write the document model refuses.
pub(super) fn apply_error(e: ApplyError) -> ApiError {
    match e {
        ApplyError::Eval(e) => eval_error(e),
        ApplyError::NumericOverflow { .. } => ApiError::other(
            StatusCode::UNPROCESSABLE_ENTITY,
            "numeric_overflow",
            e.to_string(),
        ),
        other => ApiError::other(
            StatusCode::UNPROCESSABLE_ENTITY,
            "dql_invalid_write",
            other.to_string(),
        ),
    }
}

/// Sets the cancellation flag unless disarmed: dropped with the request's future, it stops the
/// blocking step that future was waiting for.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs `step` on `state`: inline while it is cheap, then in the blocking pool. On
/// [`EvalError::Paused`] a step must leave `state` so that running it again goes on (or starts
/// over) correctly, with the budget rewound to match.
pub(super) async fn run<S, T, F>(budget: &mut Budget, mut state: S, step: F) -> Result<(S, T)>
where
    S: Send + 'static,
    T: Send + 'static,
    F: Fn(&mut S, &mut Budget) -> Result<T, Stop> + Send + 'static,
{
    budget.pause_after(INLINE_UNITS);
    let inline = step(&mut state, budget);
    budget.resume();
    match inline {
        Err(Stop::Eval(EvalError::Paused)) => {}
        other => return other.map(|t| (state, t)).map_err(ApiError::from),
    }
    let mut owned = std::mem::replace(budget, Budget::new(0));
    let cancel = CancelOnDrop(Some(owned.cancel_flag()));
    let (state, owned, result) = tokio::task::spawn_blocking(move || {
        let result = step(&mut state, &mut owned);
        (state, owned, result)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("statement evaluation failed: {e}")))?;
    // Finished: nothing to cancel.
    let mut cancel = cancel;
    cancel.0 = None;
    *budget = owned;
    result.map(|t| (state, t)).map_err(ApiError::from)
}

/// Runs a step with no state of its own.
pub(super) async fn run_plain<T, F>(budget: &mut Budget, step: F) -> Result<T>
where
    T: Send + 'static,
    F: Fn(&mut Budget) -> Result<T, Stop> + Send + 'static,
{
    run(budget, (), move |_, b| step(b)).await.map(|((), t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_costly_step_moves_to_the_blocking_pool() {
        let mut budget = Budget::new(10 * INLINE_UNITS);
        let main = std::thread::current().id();
        let (_, ran_on) = run(&mut budget, 0u64, move |done, b| {
            // Resumable: `done` counts the units already charged for good.
            while *done < 3 * INLINE_UNITS {
                b.charge(1000)?;
                *done += 1000;
            }
            Ok(std::thread::current().id())
        })
        .await
        .unwrap();
        assert_ne!(ran_on, main);
        assert!(budget.used() >= 3 * INLINE_UNITS);
        // A cheap one stays.
        let ran_on = run_plain(&mut budget, |b| {
            b.charge(10)?;
            Ok(std::thread::current().id())
        })
        .await
        .unwrap();
        assert_eq!(ran_on, main);
        // Past the limit: the budget error.
        let e = run_plain(&mut budget, |b| -> Result<(), Stop> {
            loop {
                b.charge(1000)?;
            }
        })
        .await
        .unwrap_err();
        assert_eq!(e.code(), "statement_budget_exceeded");
    }
}
