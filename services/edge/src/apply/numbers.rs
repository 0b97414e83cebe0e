//! The numbers counters may hold. A counter is a double, so it counts whole numbers exactly up to
//! ±(2^53 − 1) = ±9,007,199,254,740,991:
//!
//! * `INCREMENT BY`, `RESTART WITH` or a number written over a counter that is a whole number
//!   beyond that range is refused (it would be rounded);
//! * a counter of whole numbers that would leave that range is refused (it would go on rounded);
//! * a counter with fractional contributions is a double: one that would become infinite is
//!   refused.
//!
//! Each refusal is [`ApplyError::NumericOverflow`] naming the field; nothing is written.

use super::ApplyError;
use crate::crdt::DocState;
use serde_json::Value;

/// The largest whole number a counter holds exactly: 2^53 − 1.
pub const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_991.0;

fn overflow(path: &str, detail: String) -> ApplyError {
    ApplyError::NumericOverflow {
        path: path.to_owned(),
        detail,
    }
}

/// The number a counter operation uses: any JSON number, but a whole number only within
/// ±[`MAX_EXACT_INTEGER`].
pub(super) fn counter_operand(
    value: Option<&Value>,
    path: &str,
    what: &str,
) -> Result<f64, ApplyError> {
    let Some(Value::Number(n)) = value else {
        return Err(ApplyError::NotANumber(path.to_owned()));
    };
    let exact = n
        .as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from));
    match exact {
        Some(i) if i.unsigned_abs() > MAX_EXACT_INTEGER as u128 => Err(overflow(
            path,
            format!(
                "{what} {n} is beyond ±9007199254740991, the largest whole number a counter holds exactly"
            ),
        )),
        Some(i) => Ok(i as f64),
        None => Ok(n.as_f64().unwrap_or(0.0)),
    }
}

/// After a counter operation at `fields`: refuses a counter that left the range it can hold.
pub(super) fn check_counter(
    state: &DocState,
    fields: &[String],
    path: &str,
) -> Result<(), ApplyError> {
    let Some(counter) = state.node(fields).and_then(|n| n.counter.as_ref()) else {
        return Ok(());
    };
    if !state.is_counter(fields) {
        return Ok(());
    }
    let whole = |x: f64| x.fract() == 0.0 && x.abs() <= MAX_EXACT_INTEGER;
    let all_whole = counter.reset.iter().all(|(_, x)| whole(*x))
        && counter.increments.iter().all(|i| whole(i.by));
    let Some(doc) = state.view() else {
        return Ok(());
    };
    match super::read_fields(&doc, fields) {
        // A counter that is not finite reads as null.
        Some(Value::Null) => Err(overflow(
            path,
            "the counter would be beyond the range of a 64-bit float".to_owned(),
        )),
        Some(Value::Number(n))
            if all_whole && n.as_f64().unwrap_or(0.0).abs() > MAX_EXACT_INTEGER =>
        {
            Err(overflow(
                path,
                format!(
                    "the counter would reach {n}, beyond ±9007199254740991, the largest whole number it holds exactly"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Before a plain number becomes a counter: it must be one the counter can start from exactly.
pub(super) fn counter_start(current: Option<&Value>, path: &str) -> Result<f64, ApplyError> {
    match current {
        Some(v @ Value::Number(_)) => counter_operand(Some(v), path, "the field holds"),
        _ => Ok(0.0),
    }
}
