//! Evaluating DQL expressions against a document, with N1QL-style MISSING and NULL: a path that
//! is absent is MISSING (`None`), comparisons with MISSING or NULL are not true, and only `true`
//! passes a WHERE clause.
//!
//! Every step is charged to a [`Budget`]; values are borrowed from the document, the arguments
//! and the statement wherever they can be, so a large argument or field is never copied per
//! document.
//!
//! Numbers: see [`super::values`].

use super::ast::*;
use super::budget::Budget;
use super::like::{MAX_PATTERN_CHARS, like_within};
use super::values::{arith, negate, type_rank};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

pub use super::values::{collate, collate_within, equal_within, json_eq};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// `:name` was used but not given in `args`.
    MissingArgument(String),
    /// A LIKE pattern longer than [`MAX_PATTERN_CHARS`].
    PatternTooLong { chars: usize, limit: usize },
    /// Arithmetic whose result does not fit (what was computed, in words).
    NumericOverflow(String),
    /// The statement used its whole budget of work.
    BudgetExceeded { limit: u64 },
    /// The statement ran past its deadline.
    DeadlineExceeded,
    /// Whoever waited for the statement went away.
    Cancelled,
    /// The caller asked to pause here (to go on elsewhere); not an error of the statement.
    Paused,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::MissingArgument(name) => {
                write!(f, "the statement uses :{name} but `args` has no `{name}`")
            }
            EvalError::PatternTooLong { chars, limit } => write!(
                f,
                "a LIKE pattern may be at most {limit} characters; this one has {chars}"
            ),
            EvalError::NumericOverflow(what) => f.write_str(what),
            EvalError::BudgetExceeded { limit } => write!(
                f,
                "the statement did more than {limit} units of work; narrow it with a WHERE on _id or a LIMIT"
            ),
            EvalError::DeadlineExceeded => f.write_str(
                "the statement ran longer than a statement may; narrow it with a WHERE on _id or a LIMIT",
            ),
            EvalError::Cancelled => f.write_str("the statement was cancelled"),
            EvalError::Paused => f.write_str("the statement paused"),
        }
    }
}

/// What an expression can see: the current document (if any) and the named arguments.
pub struct Scope<'a> {
    pub doc: Option<&'a Map<String, Value>>,
    pub args: &'a Map<String, Value>,
}

pub type Eval = Result<Option<Value>, EvalError>;

/// A value computed or borrowed; `None` is MISSING.
type Computed<'a> = Result<Option<Cow<'a, Value>>, EvalError>;

fn boolean<'a>(b: bool) -> Option<Cow<'a, Value>> {
    Some(Cow::Owned(Value::Bool(b)))
}

fn null<'a>() -> Option<Cow<'a, Value>> {
    Some(Cow::Owned(Value::Null))
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

/// What copying `value` costs, in budget units.
pub fn weight(value: &Value) -> u64 {
    match value {
        Value::String(s) => 1 + s.len() as u64 / 32,
        Value::Array(items) => 1 + items.iter().map(weight).sum::<u64>(),
        Value::Object(members) => {
            1 + members
                .iter()
                .map(|(k, v)| 1 + k.len() as u64 / 32 + weight(v))
                .sum::<u64>()
        }
        _ => 1,
    }
}

/// Evaluates without a limit on the work (tools and tests).
pub fn eval(expr: &Expr, scope: &Scope<'_>) -> Eval {
    evaluate(expr, scope, &mut Budget::unlimited()).map(|v| v.map(Cow::into_owned))
}

/// Whether a WHERE clause keeps the document in `scope`.
pub fn test(expr: &Expr, scope: &Scope<'_>, budget: &mut Budget) -> Result<bool, EvalError> {
    Ok(matches!(
        evaluate(expr, scope, budget)?.as_deref(),
        Some(Value::Bool(true))
    ))
}

/// Evaluates `expr`, charging every step to `budget`.
pub fn evaluate<'a>(expr: &'a Expr, scope: &Scope<'a>, budget: &mut Budget) -> Computed<'a> {
    // A thin dispatcher (each form in its own function): expressions recurse as deep as they
    // nest, so every frame on the way down stays small.
    budget.charge(1)?;
    match expr {
        Expr::Literal(v) => Ok(Some(Cow::Borrowed(v))),
        Expr::Arg(name) => match scope.args.get(name) {
            Some(v) => Ok(Some(Cow::Borrowed(v))),
            None => Err(EvalError::MissingArgument(name.clone())),
        },
        Expr::Path(path) => {
            budget.charge(path.0.len() as u64)?;
            Ok(scope
                .doc
                .and_then(|d| read_path(d, path))
                .map(Cow::Borrowed))
        }
        Expr::Array(items) => array(items, scope, budget),
        Expr::Object(members) => object(members, scope, budget),
        Expr::Not(inner) | Expr::Neg(inner) => unary(expr, inner, scope, budget),
        Expr::And(..) | Expr::Or(..) => logic_chain(expr, scope, budget),
        Expr::Compare(op, a, b) => comparison(*op, a, b, scope, budget),
        Expr::Arith(..) => arith_chain(expr, scope, budget).map(|v| v.map(Cow::Owned)),
        Expr::In {
            expr,
            list,
            negated,
        } => in_list(expr, list, *negated, scope, budget),
        Expr::Like {
            expr,
            pattern,
            negated,
        } => like_expr(expr, pattern, *negated, scope, budget),
        Expr::IsNull { .. } | Expr::IsMissing { .. } => is_test(expr, scope, budget),
    }
}

#[inline(never)]
fn array<'a>(items: &'a [Expr], scope: &Scope<'a>, budget: &mut Budget) -> Computed<'a> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let v = evaluate(item, scope, budget)?;
        out.push(owned(v, budget)?.unwrap_or(Value::Null));
    }
    Ok(Some(Cow::Owned(Value::Array(out))))
}

#[inline(never)]
fn object<'a>(
    members: &'a [(String, Expr)],
    scope: &Scope<'a>,
    budget: &mut Budget,
) -> Computed<'a> {
    let mut out = Map::new();
    for (name, value) in members {
        let v = evaluate(value, scope, budget)?;
        if let Some(v) = owned(v, budget)? {
            out.insert(name.clone(), v);
        }
    }
    Ok(Some(Cow::Owned(Value::Object(out))))
}

#[inline(never)]
fn unary<'a>(
    expr: &'a Expr,
    inner: &'a Expr,
    scope: &Scope<'a>,
    budget: &mut Budget,
) -> Computed<'a> {
    let value = evaluate(inner, scope, budget)?;
    Ok(match (expr, value.as_deref()) {
        (_, None) => None,
        (Expr::Not(_), Some(Value::Bool(b))) => boolean(!b),
        (Expr::Neg(_), Some(Value::Number(n))) => Some(Cow::Owned(negate(n)?)),
        _ => null(),
    })
}

#[inline(never)]
fn comparison<'a>(
    op: CompareOp,
    a: &'a Expr,
    b: &'a Expr,
    scope: &Scope<'a>,
    budget: &mut Budget,
) -> Computed<'a> {
    let a = evaluate(a, scope, budget)?;
    let b = evaluate(b, scope, budget)?;
    compare(op, a.as_deref(), b.as_deref(), budget)
}

#[inline(never)]
fn like_expr<'a>(
    expr: &'a Expr,
    pattern: &'a Expr,
    negated: bool,
    scope: &Scope<'a>,
    budget: &mut Budget,
) -> Computed<'a> {
    let text = evaluate(expr, scope, budget)?;
    let pattern = evaluate(pattern, scope, budget)?;
    Ok(match (text.as_deref(), pattern.as_deref()) {
        (None, _) | (_, None) => None,
        (Some(Value::String(s)), Some(Value::String(p))) => {
            check_pattern(p)?;
            boolean(like_within(s, p, budget)? != negated)
        }
        _ => null(),
    })
}

#[inline(never)]
fn is_test<'a>(expr: &'a Expr, scope: &Scope<'a>, budget: &mut Budget) -> Computed<'a> {
    Ok(match expr {
        Expr::IsNull { expr, negated } => match evaluate(expr, scope, budget)?.as_deref() {
            None => None,
            Some(v) => boolean(v.is_null() != *negated),
        },
        Expr::IsMissing { expr, negated } => {
            boolean(evaluate(expr, scope, budget)?.is_none() != *negated)
        }
        _ => None,
    })
}

/// `a AND b AND c ...` (or OR) from left to right without recursing down the chain: a long
/// chain is a tree as deep as it is long. Stops at the first `false` (`true` for OR), which
/// decides the rest.
#[inline(never)]
fn logic_chain<'a>(expr: &'a Expr, scope: &Scope<'a>, budget: &mut Budget) -> Computed<'a> {
    let is_and = matches!(expr, Expr::And(..));
    let mut rights = Vec::new();
    let mut node = expr;
    while let (Expr::And(a, b), true) | (Expr::Or(a, b), false) = (node, is_and) {
        rights.push(b.as_ref());
        node = a;
    }
    let mut acc = evaluate(node, scope, budget)?;
    for right in rights.into_iter().rev() {
        budget.charge(1)?;
        match (is_and, acc.as_deref()) {
            (true, Some(Value::Bool(false))) => return Ok(boolean(false)),
            (false, Some(Value::Bool(true))) => return Ok(boolean(true)),
            _ => {}
        }
        let b = evaluate(right, scope, budget)?;
        acc = if is_and {
            and(acc.as_deref(), b.as_deref())
        } else {
            or(acc.as_deref(), b.as_deref())
        };
    }
    Ok(acc)
}

/// `a + b - c * ...` from left to right without recursing down the chain.
#[inline(never)]
fn arith_chain<'a>(expr: &'a Expr, scope: &Scope<'a>, budget: &mut Budget) -> Eval {
    let mut rights = Vec::new();
    let mut node = expr;
    while let Expr::Arith(op, a, b) = node {
        rights.push((*op, b.as_ref()));
        node = a;
    }
    let first = evaluate(node, scope, budget)?;
    let mut acc: Option<Value> = None;
    for (i, (op, right)) in rights.into_iter().rev().enumerate() {
        budget.charge(1)?;
        let b = evaluate(right, scope, budget)?;
        let a = if i == 0 {
            first.as_deref()
        } else {
            acc.as_ref()
        };
        acc = arith(op, a, b.as_deref())?;
    }
    Ok(acc)
}

fn owned(value: Option<Cow<'_, Value>>, budget: &mut Budget) -> Result<Option<Value>, EvalError> {
    match value {
        Some(Cow::Borrowed(v)) => {
            budget.charge(weight(v))?;
            Ok(Some(v.clone()))
        }
        other => Ok(other.map(Cow::into_owned)),
    }
}

fn check_pattern(pattern: &str) -> Result<(), EvalError> {
    // At most four bytes a character: only a pattern this long in bytes needs counting.
    if pattern.len() > MAX_PATTERN_CHARS {
        let chars = pattern.chars().count();
        if chars > MAX_PATTERN_CHARS {
            return Err(EvalError::PatternTooLong {
                chars,
                limit: MAX_PATTERN_CHARS,
            });
        }
    }
    Ok(())
}

#[inline(never)]
fn in_list<'a>(
    expr: &'a Expr,
    list: &'a InList,
    negated: bool,
    scope: &Scope<'a>,
    budget: &mut Budget,
) -> Computed<'a> {
    let Some(needle) = evaluate(expr, scope, budget)? else {
        return Ok(None);
    };
    if needle.is_null() {
        return Ok(null());
    }
    let mut found = false;
    match list {
        InList::Items(items) => {
            for item in items {
                if let Some(candidate) = evaluate(item, scope, budget)?
                    && equal_within(&candidate, &needle, budget)?
                {
                    found = true;
                    break;
                }
            }
        }
        // `x IN :v` with a single value is `x = :v`.
        InList::Array(array) => match evaluate(array, scope, budget)?.as_deref() {
            Some(Value::Array(candidates)) => {
                for candidate in candidates {
                    if equal_within(candidate, &needle, budget)? {
                        found = true;
                        break;
                    }
                }
            }
            None => return Ok(None),
            Some(one) => found = equal_within(one, &needle, budget)?,
        },
    }
    Ok(boolean(found != negated))
}

/// True only for a boolean `true` (what WHERE keeps).
pub fn is_true(value: &Option<Value>) -> bool {
    matches!(value, Some(Value::Bool(true)))
}

fn and<'a>(a: Option<&Value>, b: Option<&Value>) -> Option<Cow<'a, Value>> {
    let f = |v: Option<&Value>| matches!(v, Some(Value::Bool(false)));
    if f(a) || f(b) {
        return boolean(false);
    }
    if a.is_none() || b.is_none() {
        return None;
    }
    let t = |v: Option<&Value>| matches!(v, Some(Value::Bool(true)));
    if t(a) && t(b) { boolean(true) } else { null() }
}

fn or<'a>(a: Option<&Value>, b: Option<&Value>) -> Option<Cow<'a, Value>> {
    let t = |v: Option<&Value>| matches!(v, Some(Value::Bool(true)));
    if t(a) || t(b) {
        return boolean(true);
    }
    let non_bool = |v: Option<&Value>| matches!(v, Some(v) if !v.is_boolean());
    if non_bool(a) || non_bool(b) {
        return null();
    }
    if a.is_none() || b.is_none() {
        return None;
    }
    boolean(false)
}

fn compare<'a>(
    op: CompareOp,
    a: Option<&Value>,
    b: Option<&Value>,
    budget: &mut Budget,
) -> Computed<'a> {
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(None);
    };
    if a.is_null() || b.is_null() {
        return Ok(null());
    }
    Ok(match op {
        CompareOp::Eq => boolean(equal_within(a, b, budget)?),
        CompareOp::Ne => boolean(!equal_within(a, b, budget)?),
        _ => {
            // Ordering across types is not defined: not true.
            if type_rank(a) != type_rank(b) {
                return Ok(null());
            }
            let c = collate_within(Some(a), Some(b), budget)?;
            boolean(match op {
                CompareOp::Lt => c == Ordering::Less,
                CompareOp::Le => c != Ordering::Greater,
                CompareOp::Gt => c == Ordering::Greater,
                CompareOp::Ge => c != Ordering::Less,
                CompareOp::Eq | CompareOp::Ne => unreachable!("handled above"),
            })
        }
    })
}
