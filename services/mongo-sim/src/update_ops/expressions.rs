//! Aggregation expressions, as the server evaluates them, for update pipelines ([`super::pipeline`]):
//! `$literal`, `$getField`, `$arrayElemAt`, `$let`, `$cond`, `$eq`, `$type`, object and array
//! expressions, field paths, and the `$$ROOT`, `$$CURRENT` and `$$REMOVE` variables.

use std::borrow::Cow;

use bson::{Bson, Document};
use edgebridge_mongo::PortError;
use edgebridge_mongo::port::PortResult;

use crate::order;

/// The expression operators the simulator evaluates.
pub(super) const OPERATORS: &[&str] = &[
    "$literal",
    "$const",
    "$getField",
    "$arrayElemAt",
    "$let",
    "$cond",
    "$eq",
    "$type",
];

/// A field name an expression object may hold (and a field path segment).
pub(super) fn field_name(name: &str) -> PortResult<()> {
    let refused = |code, why| {
        Err(PortError::server(
            code,
            format!("FieldPath field names may not {why}: '{name}'"),
        ))
    };
    if name.is_empty() {
        refused(15998, "be empty strings")
    } else if name.starts_with('$') {
        refused(16410, "start with '$'")
    } else if name.contains('.') {
        refused(16412, "contain '.'")
    } else {
        Ok(())
    }
}

/// The document the expressions read (`$$ROOT`, `$$CURRENT`) and the `$let` variables bound
/// around the one evaluated. Values read from the document are borrowed, not copied: a merge
/// update reads every kept element of an array through that array.
pub(super) struct Scope<'r> {
    pub(super) root: &'r Bson,
    pub(super) vars: Vec<(String, Value<'r>)>,
}

/// A value, or `None` for *missing* (which an object leaves out and an array makes `null`).
pub(super) type Value<'r> = Option<Cow<'r, Bson>>;

pub(super) fn eval<'r>(expression: &'r Bson, scope: &mut Scope<'r>) -> PortResult<Value<'r>> {
    match expression {
        Bson::String(s) if s.starts_with("$$") => variable(&s[2..], scope),
        Bson::String(s) if s.starts_with('$') => {
            let segments = path(&s[1..])?;
            Ok(follow(Cow::Borrowed(scope.root), &segments))
        }
        Bson::Document(d) => match d.iter().next() {
            Some((op, args)) if op.starts_with('$') => operator(op, args, scope),
            _ => {
                let mut out = Document::new();
                for (name, value) in d {
                    if let Some(value) = eval(value, scope)? {
                        out.insert(name.clone(), value.into_owned());
                    }
                }
                Ok(Some(Cow::Owned(Bson::Document(out))))
            }
        },
        Bson::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(eval(item, scope)?.map_or(Bson::Null, Cow::into_owned));
            }
            Ok(Some(Cow::Owned(Bson::Array(out))))
        }
        constant => Ok(Some(Cow::Borrowed(constant))),
    }
}

/// `$$name` or `$$name.path`.
fn variable<'r>(reference: &str, scope: &Scope<'r>) -> PortResult<Value<'r>> {
    let (name, rest) = reference.split_once('.').unwrap_or((reference, ""));
    let value = match name {
        "ROOT" | "CURRENT" => Some(Cow::Borrowed(scope.root)),
        "REMOVE" => None,
        _ => scope
            .vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                PortError::server(17276, format!("Use of undefined variable: {name}"))
            })?,
    };
    match (value, rest) {
        (Some(value), rest) if !rest.is_empty() => Ok(follow(value, &path(rest)?)),
        (value, _) => Ok(value),
    }
}

fn path(dotted: &str) -> PortResult<Vec<&str>> {
    let segments: Vec<&str> = dotted.split('.').collect();
    segments.iter().try_for_each(|s| field_name(s))?;
    Ok(segments)
}

/// A field path through `value`: through an array it takes the path in each element that is
/// an object (or an array) and gives the array of what it found.
fn follow<'r>(value: Cow<'r, Bson>, segments: &[&str]) -> Value<'r> {
    match value {
        Cow::Borrowed(value) => follow_ref(value, segments),
        Cow::Owned(value) => follow_ref(&value, segments).map(|v| Cow::Owned(v.into_owned())),
    }
}

fn follow_ref<'r>(value: &'r Bson, segments: &[&str]) -> Value<'r> {
    let Some((first, rest)) = segments.split_first() else {
        return Some(Cow::Borrowed(value));
    };
    match value {
        Bson::Document(d) => follow_ref(d.get(*first)?, rest),
        Bson::Array(items) => Some(Cow::Owned(Bson::Array(
            items
                .iter()
                .filter(|item| matches!(item, Bson::Document(_) | Bson::Array(_)))
                .filter_map(|item| follow_ref(item, segments).map(Cow::into_owned))
                .collect(),
        ))),
        _ => None,
    }
}

fn operator<'r>(op: &str, args: &'r Bson, scope: &mut Scope<'r>) -> PortResult<Value<'r>> {
    match op {
        "$literal" | "$const" => Ok(Some(Cow::Borrowed(args))),
        "$getField" => get_field(args, scope),
        "$arrayElemAt" => {
            let [array, index] = arguments::<2>(op, args)?;
            let (array, index) = (eval(array, scope)?, eval(index, scope)?);
            array_elem_at(array, index.as_deref())
        }
        "$let" => let_(args, scope),
        "$cond" => {
            let [condition, then, otherwise] = cond_arguments(args)?;
            let chosen = if truthy(eval(condition, scope)?.as_deref()) {
                then
            } else {
                otherwise
            };
            eval(chosen, scope)
        }
        "$eq" => {
            let [left, right] = arguments::<2>(op, args)?;
            let equal = match (eval(left, scope)?, eval(right, scope)?) {
                (None, None) => true,
                (Some(l), Some(r)) => order::compare(&l, &r) == std::cmp::Ordering::Equal,
                _ => false,
            };
            Ok(Some(Cow::Owned(Bson::Boolean(equal))))
        }
        "$type" => {
            let [value] = arguments::<1>(op, args)?;
            let name = type_name(eval(value, scope)?.as_deref());
            Ok(Some(Cow::Owned(Bson::String(name.to_owned()))))
        }
        other => Err(PortError::server(
            168,
            format!("Unrecognized expression '{other}'"),
        )),
    }
}

/// An operator's positional arguments (one argument may be given bare).
fn arguments<'a, const N: usize>(op: &str, args: &'a Bson) -> PortResult<[&'a Bson; N]> {
    let list: Vec<&Bson> = match args {
        Bson::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let count = list.len();
    list.try_into().map_err(|_| {
        PortError::server(
            16020,
            format!("Expression {op} takes exactly {N} arguments. {count} were passed in."),
        )
    })
}

fn get_field<'r>(args: &'r Bson, scope: &mut Scope<'r>) -> PortResult<Value<'r>> {
    let (field, input) = match args {
        Bson::Document(named) if named.keys().all(|k| !k.starts_with('$')) => {
            if let Some(unknown) = named.keys().find(|k| *k != "field" && *k != "input") {
                return Err(PortError::server(
                    3041701,
                    format!("$getField found an unknown argument: {unknown}"),
                ));
            }
            let field = named.get("field").ok_or_else(|| {
                PortError::server(3041702, "$getField requires 'field' to be specified")
            })?;
            let input = named.get("input").ok_or_else(|| {
                PortError::server(3041703, "$getField requires 'input' to be specified")
            })?;
            (field, eval(input, scope)?)
        }
        shorthand => (shorthand, Some(Cow::Borrowed(scope.root))),
    };
    let name = constant_name(field)?;
    Ok(match input {
        Some(Cow::Borrowed(Bson::Null | Bson::Undefined))
        | Some(Cow::Owned(Bson::Null | Bson::Undefined)) => Some(Cow::Owned(Bson::Null)),
        Some(Cow::Borrowed(Bson::Document(d))) => d.get(name).map(Cow::Borrowed),
        Some(Cow::Owned(Bson::Document(mut d))) => d.remove(name).map(Cow::Owned),
        // Missing, or not an object: nothing to read.
        _ => None,
    })
}

/// `$getField`'s `field`: a string constant (`{$literal: ...}` for a name starting with `$`).
fn constant_name(field: &Bson) -> PortResult<&str> {
    let not_string = || {
        PortError::server(
            5654602,
            "$getField requires 'field' to evaluate to type String",
        )
    };
    let not_constant = || {
        PortError::server(
            5654601,
            "$getField requires 'field' to evaluate to a constant, but got a non-constant argument",
        )
    };
    match field {
        Bson::String(s) if s.starts_with('$') => Err(PortError::server(
            5654600,
            "$getField requires 'field' to evaluate to a constant, but got a field path",
        )),
        Bson::String(s) => Ok(s),
        Bson::Document(d) if d.len() == 1 => match d.get("$literal").or_else(|| d.get("$const")) {
            Some(Bson::String(s)) => Ok(s),
            Some(_) => Err(not_string()),
            None => Err(not_constant()),
        },
        Bson::Document(_) => Err(not_constant()),
        _ => Err(not_string()),
    }
}

fn array_elem_at<'r>(array: Value<'r>, index: Option<&Bson>) -> PortResult<Value<'r>> {
    let nullish = |v: Option<&Bson>| matches!(v, None | Some(Bson::Null | Bson::Undefined));
    if nullish(array.as_deref()) || nullish(index) {
        return Ok(Some(Cow::Owned(Bson::Null)));
    }
    let i = match index {
        Some(Bson::Int32(i)) => i64::from(*i),
        Some(Bson::Int64(i)) => *i,
        Some(Bson::Double(f)) if f.fract() == 0.0 => *f as i64,
        other => {
            return Err(PortError::server(
                28690,
                format!(
                    "$arrayElemAt's second argument must be a numeric value, but is {}",
                    type_name(other)
                ),
            ));
        }
    };
    if i32::try_from(i).is_err() {
        return Err(PortError::server(
            28691,
            format!(
                "$arrayElemAt's second argument must be representable as a 32-bit integer: {i}"
            ),
        ));
    }
    let at = |len: usize| {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        usize::try_from(if i < 0 { len + i } else { i }).ok()
    };
    match array {
        Some(Cow::Borrowed(Bson::Array(items))) => Ok(at(items.len())
            .and_then(|at| items.get(at))
            .map(Cow::Borrowed)),
        Some(Cow::Owned(Bson::Array(mut items))) => Ok(at(items.len())
            .filter(|at| *at < items.len())
            .map(|at| Cow::Owned(items.swap_remove(at)))),
        other => Err(PortError::server(
            28689,
            format!(
                "$arrayElemAt's first argument must be an array, but is {}",
                type_name(other.as_deref())
            ),
        )),
    }
}

fn let_<'r>(args: &'r Bson, scope: &mut Scope<'r>) -> PortResult<Value<'r>> {
    let Bson::Document(args) = args else {
        return Err(PortError::server(
            10065,
            "invalid parameter: expected an object ($let)",
        ));
    };
    if let Some(unknown) = args.keys().find(|k| *k != "vars" && *k != "in") {
        return Err(PortError::server(
            16875,
            format!("Unrecognized parameter to $let: {unknown}"),
        ));
    }
    let Some(Bson::Document(vars)) = args.get("vars") else {
        return Err(PortError::server(16710, "Missing 'vars' parameter to $let"));
    };
    let body = args
        .get("in")
        .ok_or_else(|| PortError::server(16711, "Missing 'in' parameter to $let"))?;
    // The values are evaluated where the `$let` is, then bound together.
    let mut bound = Vec::with_capacity(vars.len());
    for (name, value) in vars {
        variable_name(name)?;
        bound.push((name.clone(), eval(value, scope)?));
    }
    let outer = scope.vars.len();
    scope.vars.extend(bound);
    let result = eval(body, scope);
    scope.vars.truncate(outer);
    result
}

fn variable_name(name: &str) -> PortResult<()> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err(PortError::server(
            16866,
            "empty variable names are not allowed",
        ));
    };
    if first.is_ascii() && !first.is_ascii_lowercase() {
        return Err(PortError::server(
            16867,
            format!("'{name}' starts with an invalid character for a user variable name"),
        ));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()) {
        return Err(PortError::server(
            16868,
            format!("'{name}' contains an invalid character for a variable name"),
        ));
    }
    Ok(())
}

/// `$cond`'s `[if, then, else]`, or `{if, then, else}`.
fn cond_arguments(args: &Bson) -> PortResult<[&Bson; 3]> {
    let Bson::Document(named) = args else {
        return arguments::<3>("$cond", args);
    };
    if let Some(unknown) = named
        .keys()
        .find(|k| !["if", "then", "else"].contains(&k.as_str()))
    {
        return Err(PortError::server(
            17083,
            format!("Unrecognized parameter to $cond: {unknown}"),
        ));
    }
    let get = |name, code| {
        named
            .get(name)
            .ok_or_else(|| PortError::server(code, format!("Missing '{name}' parameter to $cond")))
    };
    Ok([get("if", 17080)?, get("then", 17081)?, get("else", 17082)?])
}

/// What a condition counts as: false, zero, null and missing are false.
fn truthy(value: Option<&Bson>) -> bool {
    match value {
        None | Some(Bson::Null | Bson::Undefined | Bson::Boolean(false)) => false,
        Some(Bson::Int32(0) | Bson::Int64(0)) => false,
        Some(Bson::Double(f)) => *f != 0.0,
        Some(Bson::Decimal128(d)) => d.to_string().parse::<f64>().is_ok_and(|f| f != 0.0),
        Some(_) => true,
    }
}

/// The name `$type` gives a value's type.
pub(super) fn type_name(value: Option<&Bson>) -> &'static str {
    let Some(value) = value else { return "missing" };
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}
