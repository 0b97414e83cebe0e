//! JSON values as DQL computes and compares them. Integers are exact 64-bit values (signed, or
//! unsigned above `i64::MAX`): arithmetic on them that leaves that range is an error, never a
//! silent float. Arithmetic with a float gives a float; one that would be infinite is an error.
//! Equality and order compare numbers by value (`1 = 1.0`), integers exactly.

use super::ast::ArithOp;
use super::budget::Budget;
use super::eval::{Eval, EvalError};
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// An integer number as i128 (exact for every i64 and u64); `None` for floats.
fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// An exact integer as JSON, or `None` when it fits neither i64 nor u64.
fn from_integer(r: i128) -> Option<Value> {
    i64::try_from(r)
        .map(Value::from)
        .ok()
        .or_else(|| u64::try_from(r).ok().map(Value::from))
}

fn symbol(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Mod => "%",
    }
}

pub(super) fn negate(n: &Number) -> Result<Value, EvalError> {
    match integer(n) {
        Some(i) => from_integer(-i).ok_or_else(|| {
            EvalError::NumericOverflow(format!("-({n}) does not fit in a 64-bit integer"))
        }),
        None => float(-n.as_f64().unwrap_or(0.0), || format!("-({n})")),
    }
}

fn float(x: f64, what: impl FnOnce() -> String) -> Result<Value, EvalError> {
    Number::from_f64(x).map(Value::Number).ok_or_else(|| {
        EvalError::NumericOverflow(format!("{} is beyond the range of a 64-bit float", what()))
    })
}

pub(super) fn arith(op: ArithOp, a: Option<&Value>, b: Option<&Value>) -> Eval {
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(None);
    };
    let (Value::Number(x), Value::Number(y)) = (a, b) else {
        return Ok(Some(Value::Null));
    };
    let what = || format!("{x} {} {y}", symbol(op));
    if let (Some(i), Some(j)) = (integer(x), integer(y)) {
        let exact = match op {
            ArithOp::Add => i.checked_add(j),
            ArithOp::Sub => i.checked_sub(j),
            ArithOp::Mul => i.checked_mul(j),
            ArithOp::Div | ArithOp::Mod if j == 0 => return Ok(Some(Value::Null)),
            ArithOp::Div if i % j == 0 => Some(i / j),
            // A quotient that is not whole is a float.
            ArithOp::Div => None,
            ArithOp::Mod => Some(i % j),
        };
        if op != ArithOp::Div || exact.is_some() {
            return exact.and_then(from_integer).map(Some).ok_or_else(|| {
                EvalError::NumericOverflow(format!("{} does not fit in a 64-bit integer", what()))
            });
        }
    }
    let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
    let r = match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div | ArithOp::Mod if y == 0.0 => return Ok(Some(Value::Null)),
        ArithOp::Div => x / y,
        ArithOp::Mod => x % y,
    };
    float(r, what).map(Some)
}

/// Numbers by value: integers exactly, anything with a float as floats (`1 == 1.0`).
fn number_order(x: &Number, y: &Number) -> Ordering {
    match (integer(x), integer(y)) {
        (Some(i), Some(j)) => i.cmp(&j),
        _ => {
            let (a, b) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            // -0.0 and 0.0 are the same number.
            if a == b {
                Ordering::Equal
            } else {
                a.total_cmp(&b)
            }
        }
    }
}

/// JSON equality with numbers compared by value (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    eq_steps(a, b, &mut 0)
}

/// [`json_eq`], charging the values compared to `budget`.
pub fn equal_within(a: &Value, b: &Value, budget: &mut Budget) -> Result<bool, EvalError> {
    let mut steps = 0;
    let eq = eq_steps(a, b, &mut steps);
    budget.charge(steps)?;
    Ok(eq)
}

fn eq_steps(a: &Value, b: &Value, steps: &mut u64) -> bool {
    *steps += 1;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_order(x, y) == Ordering::Equal,
        (Value::String(x), Value::String(y)) => {
            *steps += x.len().min(y.len()) as u64 / 32;
            x == y
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| eq_steps(a, b, steps))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| eq_steps(v, w, steps)))
        }
        _ => a == b,
    }
}

pub(super) fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 1,
        Value::Bool(_) => 2,
        Value::Number(_) => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

/// The total order ORDER BY uses: MISSING < NULL < booleans < numbers < strings < arrays < objects.
pub fn collate(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    collate_steps(a, b, &mut 0)
}

/// [`collate`], charging the values compared to `budget`.
pub fn collate_within(
    a: Option<&Value>,
    b: Option<&Value>,
    budget: &mut Budget,
) -> Result<Ordering, EvalError> {
    let mut steps = 0;
    let order = collate_steps(a, b, &mut steps);
    budget.charge(steps)?;
    Ok(order)
}

fn collate_steps(a: Option<&Value>, b: Option<&Value>, steps: &mut u64) -> Ordering {
    *steps += 1;
    let (a, b) = match (a, b) {
        (None, None) => return Ordering::Equal,
        (None, _) => return Ordering::Less,
        (_, None) => return Ordering::Greater,
        (Some(a), Some(b)) => (a, b),
    };
    let rank = type_rank(a).cmp(&type_rank(b));
    if rank != Ordering::Equal {
        return rank;
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => number_order(x, y),
        (Value::String(x), Value::String(y)) => {
            *steps += x.len().min(y.len()) as u64 / 32;
            x.cmp(y)
        }
        (Value::Array(x), Value::Array(y)) => {
            for (a, b) in x.iter().zip(y) {
                let c = collate_steps(Some(a), Some(b), steps);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            // Members in name order (n log n to sort each side).
            let log = |n: usize| u64::from(usize::BITS - n.leading_zeros());
            *steps += x.len() as u64 * log(x.len()) + y.len() as u64 * log(y.len());
            let mut xk: Vec<_> = x.iter().collect();
            let mut yk: Vec<_> = y.iter().collect();
            xk.sort_by(|a, b| a.0.cmp(b.0));
            yk.sort_by(|a, b| a.0.cmp(b.0));
            for ((ka, va), (kb, vb)) in xk.iter().zip(&yk) {
                let c = ka
                    .cmp(kb)
                    .then_with(|| collate_steps(Some(va), Some(vb), steps));
                if c != Ordering::Equal {
                    return c;
                }
            }
            xk.len().cmp(&yk.len())
        }
        _ => Ordering::Equal,
    }
}
