//! Evaluating DQL expressions against a document, with N1QL-style MISSING and NULL: a path that
//! is absent is MISSING (`None`), comparisons with MISSING or NULL are not true, and only `true`
//! passes a WHERE clause.

use super::ast::*;
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// `:name` was used but not given in `args`.
    MissingArgument(String),
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::MissingArgument(name) => {
                write!(f, "the statement uses :{name} but `args` has no `{name}`")
            }
        }
    }
}

/// What an expression can see: the current document (if any) and the named arguments.
pub struct Scope<'a> {
    pub doc: Option<&'a Map<String, Value>>,
    pub args: &'a Map<String, Value>,
}

pub type Eval = Result<Option<Value>, EvalError>;

fn boolean(b: bool) -> Option<Value> {
    Some(Value::Bool(b))
}

/// Reads a path from a document; `None` when absent.
pub fn read_path<'v>(doc: &'v Map<String, Value>, path: &Path) -> Option<&'v Value> {
    let mut segments = path.0.iter();
    let mut current = match segments.next()? {
        PathSegment::Field(f) => doc.get(f)?,
        PathSegment::Index(_) => return None,
    };
    for segment in segments {
        current = match (segment, current) {
            (PathSegment::Field(f), Value::Object(o)) => o.get(f)?,
            (PathSegment::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

pub fn eval(expr: &Expr, scope: &Scope<'_>) -> Eval {
    Ok(match expr {
        Expr::Literal(v) => Some(v.clone()),
        Expr::Arg(name) => Some(
            scope
                .args
                .get(name)
                .cloned()
                .ok_or_else(|| EvalError::MissingArgument(name.clone()))?,
        ),
        Expr::Path(path) => scope.doc.and_then(|d| read_path(d, path)).cloned(),
        Expr::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(eval(item, scope)?.unwrap_or(Value::Null));
            }
            Some(Value::Array(out))
        }
        Expr::Object(members) => {
            let mut out = Map::new();
            for (name, value) in members {
                if let Some(v) = eval(value, scope)? {
                    out.insert(name.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        Expr::Not(inner) => match eval(inner, scope)? {
            Some(Value::Bool(b)) => boolean(!b),
            None => None,
            Some(_) => Some(Value::Null),
        },
        Expr::Neg(inner) => match eval(inner, scope)? {
            Some(Value::Number(n)) => Some(number_from_f64(
                -n.as_f64().unwrap_or(0.0),
                n.is_i64() || n.is_u64(),
            )),
            None => None,
            Some(_) => Some(Value::Null),
        },
        Expr::And(a, b) => and(eval(a, scope)?, eval(b, scope)?),
        Expr::Or(a, b) => or(eval(a, scope)?, eval(b, scope)?),
        Expr::Compare(op, a, b) => compare(*op, eval(a, scope)?, eval(b, scope)?),
        Expr::Arith(op, a, b) => arith(*op, eval(a, scope)?, eval(b, scope)?),
        Expr::In {
            expr,
            list,
            negated,
        } => {
            let Some(needle) = eval(expr, scope)? else {
                return Ok(None);
            };
            if needle.is_null() {
                return Ok(Some(Value::Null));
            }
            let candidates = match list {
                InList::Items(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        if let Some(v) = eval(item, scope)? {
                            out.push(v);
                        }
                    }
                    out
                }
                // `x IN :v` with a single value is `x = :v`.
                InList::Array(array) => match eval(array, scope)? {
                    Some(Value::Array(a)) => a,
                    None => return Ok(None),
                    Some(one) => vec![one],
                },
            };
            let found = candidates.iter().any(|c| json_eq(c, &needle));
            boolean(found != *negated)
        }
        Expr::Like {
            expr,
            pattern,
            negated,
        } => match (eval(expr, scope)?, eval(pattern, scope)?) {
            (None, _) | (_, None) => None,
            (Some(Value::String(s)), Some(Value::String(p))) => boolean(like(&s, &p) != *negated),
            _ => Some(Value::Null),
        },
        Expr::IsNull { expr, negated } => match eval(expr, scope)? {
            None => None,
            Some(v) => boolean(v.is_null() != *negated),
        },
        Expr::IsMissing { expr, negated } => boolean(eval(expr, scope)?.is_none() != *negated),
    })
}

/// True only for a boolean `true` (what WHERE keeps).
pub fn is_true(value: &Option<Value>) -> bool {
    matches!(value, Some(Value::Bool(true)))
}

fn and(a: Option<Value>, b: Option<Value>) -> Option<Value> {
    let f = |v: &Option<Value>| matches!(v, Some(Value::Bool(false)));
    if f(&a) || f(&b) {
        return boolean(false);
    }
    if a.is_none() || b.is_none() {
        return None;
    }
    if is_true(&a) && is_true(&b) {
        boolean(true)
    } else {
        Some(Value::Null)
    }
}

fn or(a: Option<Value>, b: Option<Value>) -> Option<Value> {
    if is_true(&a) || is_true(&b) {
        return boolean(true);
    }
    let non_bool = |v: &Option<Value>| matches!(v, Some(v) if !v.is_boolean());
    if non_bool(&a) || non_bool(&b) {
        return Some(Value::Null);
    }
    if a.is_none() || b.is_none() {
        return None;
    }
    boolean(false)
}

fn number_from_f64(x: f64, prefer_int: bool) -> Value {
    if prefer_int && x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

fn arith(op: ArithOp, a: Option<Value>, b: Option<Value>) -> Option<Value> {
    let (Some(a), Some(b)) = (a, b) else {
        return None;
    };
    let (Value::Number(x), Value::Number(y)) = (&a, &b) else {
        return Some(Value::Null);
    };
    let ints = x.is_i64() && y.is_i64();
    if ints {
        let (x, y) = (x.as_i64().unwrap_or(0), y.as_i64().unwrap_or(0));
        let r = match op {
            ArithOp::Add => x.checked_add(y),
            ArithOp::Sub => x.checked_sub(y),
            ArithOp::Mul => x.checked_mul(y),
            ArithOp::Div if y != 0 && x.checked_rem(y) == Some(0) => x.checked_div(y),
            ArithOp::Mod if y != 0 => x.checked_rem(y),
            ArithOp::Mod => return Some(Value::Null),
            ArithOp::Div if y == 0 => return Some(Value::Null),
            ArithOp::Div => None,
        };
        if let Some(r) = r {
            return Some(Value::from(r));
        }
    }
    let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
    let r = match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div if y == 0.0 => return Some(Value::Null),
        ArithOp::Div => x / y,
        ArithOp::Mod if y == 0.0 => return Some(Value::Null),
        ArithOp::Mod => x % y,
    };
    Some(number_from_f64(r, false))
}

/// JSON equality with numbers compared by value (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn type_rank(v: &Value) -> u8 {
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
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            let rank = type_rank(a).cmp(&type_rank(b));
            if rank != Ordering::Equal {
                return rank;
            }
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
                (Value::Number(x), Value::Number(y)) => x
                    .as_f64()
                    .unwrap_or(0.0)
                    .total_cmp(&y.as_f64().unwrap_or(0.0)),
                (Value::String(x), Value::String(y)) => x.cmp(y),
                (Value::Array(x), Value::Array(y)) => {
                    for (a, b) in x.iter().zip(y) {
                        let c = collate(Some(a), Some(b));
                        if c != Ordering::Equal {
                            return c;
                        }
                    }
                    x.len().cmp(&y.len())
                }
                (Value::Object(x), Value::Object(y)) => {
                    let mut xk: Vec<_> = x.iter().collect();
                    let mut yk: Vec<_> = y.iter().collect();
                    xk.sort_by(|a, b| a.0.cmp(b.0));
                    yk.sort_by(|a, b| a.0.cmp(b.0));
                    for ((ka, va), (kb, vb)) in xk.iter().zip(&yk) {
                        let c = ka.cmp(kb).then_with(|| collate(Some(va), Some(vb)));
                        if c != Ordering::Equal {
                            return c;
                        }
                    }
                    xk.len().cmp(&yk.len())
                }
                _ => Ordering::Equal,
            }
        }
    }
}

fn compare(op: CompareOp, a: Option<Value>, b: Option<Value>) -> Option<Value> {
    let (Some(a), Some(b)) = (a, b) else {
        return None;
    };
    if a.is_null() || b.is_null() {
        return Some(Value::Null);
    }
    match op {
        CompareOp::Eq => boolean(json_eq(&a, &b)),
        CompareOp::Ne => boolean(!json_eq(&a, &b)),
        _ => {
            // Ordering across types is not defined: not true.
            if type_rank(&a) != type_rank(&b) {
                return Some(Value::Null);
            }
            let c = collate(Some(&a), Some(&b));
            boolean(match op {
                CompareOp::Lt => c == Ordering::Less,
                CompareOp::Le => c != Ordering::Greater,
                CompareOp::Gt => c == Ordering::Greater,
                CompareOp::Ge => c != Ordering::Less,
                CompareOp::Eq | CompareOp::Ne => unreachable!("handled above"),
            })
        }
    }
}

/// SQL LIKE: `%` any run of characters, `_` exactly one, `\` escapes the next character.
pub fn like(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Char(char),
    }
    let mut parts = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        parts.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Char(chars.next().unwrap_or('\\')),
            c => P::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // Iterative matching with backtracking to the last `%` (linear-ish, no recursion).
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match parts.get(p) {
            Some(P::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(P::One) => {
                t += 1;
                p += 1;
            }
            Some(P::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    parts[p..].iter().all(|x| *x == P::Any)
}
