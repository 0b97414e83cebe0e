//! Update pipelines (MongoDB 4.2+), as far as the write-back uses them: the `$replaceWith` and
//! `$replaceRoot` stages, with the aggregation expressions a merge update is built of
//! ([`super::expressions`]), evaluated as the server evaluates them. The whole pipeline is checked before it runs, as the server parses it first:
//! another stage or operator is refused with the server's error for one it does not know.
//!
//! What the result does to the stored document (its `_id` kept, a no-op when nothing changed)
//! is [`crate::writes`]' business.

use std::borrow::Cow;

use bson::{Bson, Document};
use edgebridge_mongo::PortError;
use edgebridge_mongo::port::PortResult;

use super::expressions::{OPERATORS, Scope, eval, field_name, type_name};

/// MongoDB refuses BSON nested deeper (`BSONDepth::kDefaultMaxAllowableDepth`).
const MAX_DEPTH: usize = 200;

/// Stages MongoDB knows but refuses inside an update (only `$addFields`/`$set`, `$project`,
/// `$unset`, `$replaceRoot` and `$replaceWith` are allowed there).
const NOT_IN_UPDATES: &[&str] = &[
    "$match",
    "$group",
    "$sort",
    "$limit",
    "$skip",
    "$lookup",
    "$unwind",
    "$facet",
    "$out",
    "$merge",
    "$count",
    "$sample",
    "$unionWith",
];

/// Runs `stages` on `root` (the stored document, or an upsert's equality fields): the document
/// the last stage makes.
pub(crate) fn run(root: &Document, stages: &[Document]) -> PortResult<Document> {
    let parsed = stages
        .iter()
        .map(|stage| {
            let expression = stage_expression(stage)?;
            check(expression, 1)?;
            Ok(expression)
        })
        .collect::<PortResult<Vec<_>>>()?;
    let mut current = Bson::Document(root.clone());
    for expression in parsed {
        let mut scope = Scope {
            root: &current,
            vars: Vec::new(),
        };
        match eval(expression, &mut scope)?.map(Cow::into_owned) {
            Some(next @ Bson::Document(_)) => current = next,
            other => {
                let (value, kind) = other.as_ref().map_or_else(
                    || ("MISSING".to_owned(), "missing"),
                    |v| (v.to_string(), type_name(Some(v))),
                );
                return Err(PortError::server(
                    40228,
                    format!(
                        "'replacement document' must evaluate to an object, but resulting value was: {value}. Type of resulting value: '{kind}'. Input document: {current}"
                    ),
                ));
            }
        }
    }
    match current {
        Bson::Document(document) => Ok(document),
        other => Err(PortError::server(
            40228,
            format!(
                "'replacement document' must evaluate to an object, but resulting value was: {other}"
            ),
        )),
    }
}

/// The new-document expression of a `$replaceWith` or `$replaceRoot` stage.
fn stage_expression(stage: &Document) -> PortResult<&Bson> {
    let mut fields = stage.iter();
    let (Some((name, spec)), None) = (fields.next(), fields.next()) else {
        return Err(PortError::server(
            40323,
            "A pipeline stage specification object must contain exactly one field.",
        ));
    };
    match name.as_str() {
        "$replaceWith" => Ok(spec),
        "$replaceRoot" => {
            let Bson::Document(spec) = spec else {
                return Err(PortError::server(
                    40229,
                    format!(
                        "expected an object as specification for $replaceRoot stage, got {}",
                        type_name(Some(spec))
                    ),
                ));
            };
            if let Some(unknown) = spec.keys().find(|k| *k != "newRoot") {
                return Err(PortError::server(
                    40415,
                    format!("BSON field '$replaceRoot.{unknown}' is an unknown field."),
                ));
            }
            spec.get("newRoot").ok_or_else(|| {
                PortError::server(40231, "no newRoot specified for the $replaceRoot stage")
            })
        }
        other if NOT_IN_UPDATES.contains(&other) => Err(PortError::server(
            72,
            format!("{other} is not allowed to be used within an update"),
        )),
        other => Err(PortError::server(
            40324,
            format!(
                "Unrecognized pipeline stage name: '{other}' (the simulator runs $replaceWith and $replaceRoot in updates)"
            ),
        )),
    }
}

/// What the server checks when it parses an expression: operator names, field names of
/// expression objects, nesting.
fn check(expression: &Bson, depth: usize) -> PortResult<()> {
    if depth > MAX_DEPTH {
        return Err(PortError::server(
            15,
            format!("the expression is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    match expression {
        Bson::Document(d) => match d.keys().next() {
            Some(op) if op.starts_with('$') => {
                if d.len() != 1 {
                    return Err(PortError::server(
                        15983,
                        format!(
                            "an expression specification must contain exactly one field, the name of the expression. Found {} fields in {d}",
                            d.len()
                        ),
                    ));
                }
                if !OPERATORS.contains(&op.as_str()) {
                    return Err(PortError::server(
                        168,
                        format!("Unrecognized expression '{op}'"),
                    ));
                }
                match (op.as_str(), d.get(op)) {
                    ("$literal" | "$const", _) | (_, None) => Ok(()),
                    // An operator's named arguments are not an expression object.
                    (_, Some(Bson::Document(args))) if args.keys().all(|k| !k.starts_with('$')) => {
                        args.values().try_for_each(|a| check(a, depth + 2))
                    }
                    (_, Some(args)) => check(args, depth + 1),
                }
            }
            _ => d.iter().try_for_each(|(name, value)| {
                field_name(name)?;
                check(value, depth + 1)
            }),
        },
        Bson::Array(items) => items.iter().try_for_each(|i| check(i, depth + 1)),
        _ => Ok(()),
    }
}
