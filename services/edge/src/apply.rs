//! Turning DQL writes into CRDT changes on one document, without I/O: what an INSERT, an
//! `ON ID CONFLICT DO UPDATE`, an UPDATE's SET/UNSET/APPLY and a DELETE do to its state.

mod numbers;

use crate::crdt::{DocState, FieldChange, ObjectMode, Stamp};
use crate::dql::ast::{Path, UpdateAction};
use crate::dql::budget::Budget;
use crate::dql::eval::{EvalError, Scope, evaluate};
use numbers::{check_counter, counter_operand, counter_start};
use serde_json::{Map, Value};
use std::borrow::Cow;

pub use numbers::MAX_EXACT_INTEGER;

#[derive(Debug, Clone, PartialEq)]
pub enum ApplyError {
    Eval(EvalError),
    /// A write to a path with an array index (`a[0] = 1`): only field paths can be written.
    IndexedPath(String),
    /// `INCREMENT BY` or `RESTART WITH` with something other than a number.
    NotANumber(String),
    /// `SET _id = ...` or the like.
    IdIsImmutable,
    /// A counter inside an object in strict mode, where objects are whole values.
    CounterInStrictObject(String),
    /// A number that does not fit where it goes: the field, and what overflowed.
    NumericOverflow {
        path: String,
        detail: String,
    },
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::Eval(e) => e.fmt(f),
            ApplyError::IndexedPath(p) => write!(
                f,
                "`{p}` indexes an array; only field paths can be written (arrays are replaced whole)"
            ),
            ApplyError::NotANumber(p) => write!(f, "the counter operation on `{p}` needs a number"),
            ApplyError::IdIsImmutable => {
                f.write_str("`_id` cannot be changed; insert a new document instead")
            }
            ApplyError::CounterInStrictObject(p) => write!(
                f,
                "`{p}` is inside an object, which strict mode treats as one value; counters inside objects need \"dqlStrictMode\": false"
            ),
            ApplyError::NumericOverflow { path, detail } => write!(f, "`{path}`: {detail}"),
        }
    }
}

impl From<EvalError> for ApplyError {
    fn from(e: EvalError) -> Self {
        ApplyError::Eval(e)
    }
}

/// Hands out strictly increasing stamps for the writes of one document.
pub trait StampSource {
    fn next_stamp(&mut self) -> Stamp;
}

impl<F: FnMut() -> Stamp> StampSource for F {
    fn next_stamp(&mut self) -> Stamp {
        self()
    }
}

fn describe(path: &Path) -> String {
    path.0
        .iter()
        .map(|s| match s {
            crate::dql::ast::PathSegment::Field(f) => f.clone(),
            crate::dql::ast::PathSegment::Index(i) => format!("[{i}]"),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn field_path(path: &Path) -> Result<Vec<String>, ApplyError> {
    let fields = path
        .fields()
        .ok_or_else(|| ApplyError::IndexedPath(describe(path)))?;
    if fields.first().is_some_and(|f| f == "_id") {
        return Err(ApplyError::IdIsImmutable);
    }
    Ok(fields)
}

/// Sets a field, as a counter reset when the field currently reads as a counter and the value
/// is a number (an absolute value written over a counter resets it).
///
/// In non-strict mode an object merges into the object already there, however that one was
/// written (a whole value from a strict writer included): its members are written again with
/// the new stamp, under the new object's.
fn set_field(state: &mut DocState, path: &[String], value: Value, mode: ObjectMode, stamp: &Stamp) {
    let change = match value {
        Value::Number(n) if state.is_counter(path) => {
            FieldChange::Restart(n.as_f64().unwrap_or(0.0))
        }
        Value::Object(patch) if mode == ObjectMode::Merge => {
            let current = state
                .view()
                .and_then(|doc| read_fields(&doc, path).cloned());
            match current {
                Some(Value::Object(mut base)) => {
                    deep_merge(&mut base, patch);
                    FieldChange::Set(Value::Object(base))
                }
                _ => FieldChange::Set(Value::Object(patch)),
            }
        }
        value => FieldChange::Set(value),
    };
    state.apply(path, &change, stamp, mode);
}

/// A number written over a counter resets it: it must be one the counter holds exactly.
fn check_write_over_counter(
    state: &DocState,
    path: &[String],
    value: &Value,
) -> Result<(), ApplyError> {
    if value.is_number() && state.is_counter(path) {
        counter_operand(
            Some(value),
            &path.join("."),
            "the number written over the counter,",
        )?;
    }
    Ok(())
}

fn read_fields<'v>(doc: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (head, rest) = path.split_first()?;
    let mut current = doc.get(head)?;
    for name in rest {
        current = current.as_object()?.get(name)?;
    }
    Some(current)
}

fn deep_merge(base: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (name, value) in patch {
        match (base.get_mut(&name), value) {
            (Some(Value::Object(inner)), Value::Object(p)) => deep_merge(inner, p),
            (_, value) => {
                base.insert(name, value);
            }
        }
    }
}

/// [`write_document`], refusing first a number written over a counter that it cannot hold
/// exactly (see [`MAX_EXACT_INTEGER`]).
pub fn write_document_checked(
    state: &mut DocState,
    doc: &Map<String, Value>,
    mode: ObjectMode,
    stamps: &mut dyn StampSource,
) -> Result<(), ApplyError> {
    for (name, value) in doc.iter().filter(|(k, _)| k.as_str() != "_id") {
        check_write_over_counter(state, std::slice::from_ref(name), value)?;
    }
    write_document(state, doc, mode, stamps);
    Ok(())
}

/// Writes every member of `doc` (except `_id`) as a field: a new document, a revived one, or
/// the `DO UPDATE` of an insert that found the `_id` taken.
pub fn write_document(
    state: &mut DocState,
    doc: &Map<String, Value>,
    mode: ObjectMode,
    stamps: &mut dyn StampSource,
) {
    let stamp = stamps.next_stamp();
    // An empty document still exists: the delta's last-write stamp records it.
    state.join(&DocState::change_delta(
        &[],
        &FieldChange::Unset,
        &stamp,
        mode,
    ));
    for (name, value) in doc.iter().filter(|(k, _)| k.as_str() != "_id") {
        set_field(
            state,
            std::slice::from_ref(name),
            value.clone(),
            mode,
            &stamp,
        );
    }
}

/// The current value of the top-level field `top`, as an object (empty when it is not one).
fn current_object(state: &DocState, top: &str) -> Value {
    state
        .view()
        .and_then(|mut doc| doc.remove(top))
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// Before a write below `fields[0]` in non-strict mode: an object held as one whole value (written
/// by a strict writer) is rewritten as members, so the write adds to it instead of hiding it.
fn open_whole_objects(state: &mut DocState, fields: &[String], stamps: &mut dyn StampSource) {
    for depth in 1..fields.len() {
        let prefix = &fields[..depth];
        if !state.reads_as_whole_value(prefix) {
            continue;
        }
        let current = state
            .view()
            .and_then(|doc| read_fields(&doc, prefix).cloned());
        if let Some(object @ Value::Object(_)) = current {
            state.apply(
                prefix,
                &FieldChange::Set(object),
                &stamps.next_stamp(),
                ObjectMode::Merge,
            );
        }
    }
}

/// The value each action of an UPDATE uses, computed from the document as it was before the
/// statement: what SET writes (`None`: MISSING, which removes the field), the number of
/// `INCREMENT BY` and `RESTART [WITH]`, nothing for UNSET. Pure evaluation, charged to
/// `budget`, so it can run apart from the write.
pub fn evaluate_actions(
    before: &Map<String, Value>,
    actions: &[UpdateAction],
    args: &Map<String, Value>,
    budget: &mut Budget,
) -> Result<Vec<Option<Value>>, ApplyError> {
    let scope = Scope {
        doc: Some(before),
        args,
    };
    let mut values = Vec::with_capacity(actions.len());
    for action in actions {
        let (path, expr) = match action {
            UpdateAction::Set(p, e) | UpdateAction::Increment(p, e) => (p, Some(e)),
            UpdateAction::Restart(p, e) => (p, e.as_ref()),
            UpdateAction::Unset(p) => (p, None),
        };
        let value = match expr {
            None if matches!(action, UpdateAction::Restart(..)) => Some(Value::from(0)),
            None => None,
            Some(e) => evaluate(e, &scope, budget)
                .map_err(|e| match e {
                    EvalError::NumericOverflow(detail) => ApplyError::NumericOverflow {
                        path: describe(path),
                        detail,
                    },
                    other => ApplyError::Eval(other),
                })?
                .map(Cow::into_owned),
        };
        values.push(value);
    }
    Ok(values)
}

/// Applies an UPDATE's actions. Expressions see the document as it was before the statement;
/// each action builds on the ones before it.
pub fn apply_update(
    state: &mut DocState,
    before: &Map<String, Value>,
    actions: &[UpdateAction],
    args: &Map<String, Value>,
    mode: ObjectMode,
    stamps: &mut dyn StampSource,
) -> Result<(), ApplyError> {
    let values = evaluate_actions(before, actions, args, &mut Budget::unlimited())?;
    apply_actions(state, actions, values, mode, stamps)
}

/// Applies an UPDATE's actions with the values [`evaluate_actions`] computed for them. On an
/// error, `state` may hold the actions before the failing one: discard it.
pub fn apply_actions(
    state: &mut DocState,
    actions: &[UpdateAction],
    values: Vec<Option<Value>>,
    mode: ObjectMode,
    stamps: &mut dyn StampSource,
) -> Result<(), ApplyError> {
    for (action, value) in actions.iter().zip(values) {
        let path = match action {
            UpdateAction::Set(p, _)
            | UpdateAction::Unset(p)
            | UpdateAction::Increment(p, _)
            | UpdateAction::Restart(p, _) => p,
        };
        let fields = field_path(path)?;
        let nested = fields.len() > 1;
        if nested && mode == ObjectMode::Whole {
            // Strict mode: objects are whole values, so a change below the top level rewrites
            // the top-level value (as it is now, after earlier actions of this statement).
            let top = fields[0].clone();
            let mut whole = current_object(state, &top);
            match (action, value) {
                (UpdateAction::Set(..), Some(value)) => set_nested(&mut whole, &fields[1..], value),
                (UpdateAction::Set(..), None) | (UpdateAction::Unset(_), _) => {
                    remove_nested(&mut whole, &fields[1..])
                }
                (UpdateAction::Increment(..) | UpdateAction::Restart(..), _) => {
                    return Err(ApplyError::CounterInStrictObject(describe(path)));
                }
            }
            state.apply(&[top], &FieldChange::Set(whole), &stamps.next_stamp(), mode);
            continue;
        }
        if nested {
            open_whole_objects(state, &fields, stamps);
        }
        let shown = describe(path);
        match action {
            UpdateAction::Set(..) => match value {
                Some(value) => {
                    check_write_over_counter(state, &fields, &value)?;
                    set_field(state, &fields, value, mode, &stamps.next_stamp())
                }
                // Setting to MISSING removes the field.
                None => state.apply(&fields, &FieldChange::Unset, &stamps.next_stamp(), mode),
            },
            UpdateAction::Unset(_) => {
                state.apply(&fields, &FieldChange::Unset, &stamps.next_stamp(), mode);
            }
            UpdateAction::Increment(..) => {
                let by = counter_operand(value.as_ref(), &shown, "INCREMENT BY")?;
                if !state.is_counter(&fields) {
                    // A plain number becomes a counter that starts from its value.
                    let doc = state.view();
                    let current = doc.as_ref().and_then(|doc| read_fields(doc, &fields));
                    let start = counter_start(current, &shown)?;
                    state.apply(
                        &fields,
                        &FieldChange::Restart(start),
                        &stamps.next_stamp(),
                        ObjectMode::Merge,
                    );
                }
                state.apply(
                    &fields,
                    &FieldChange::Increment(by),
                    &stamps.next_stamp(),
                    ObjectMode::Merge,
                );
                check_counter(state, &fields, &shown)?;
            }
            UpdateAction::Restart(..) => {
                let value = counter_operand(value.as_ref(), &shown, "RESTART WITH")?;
                state.apply(
                    &fields,
                    &FieldChange::Restart(value),
                    &stamps.next_stamp(),
                    ObjectMode::Merge,
                );
            }
        }
    }
    Ok(())
}

fn remove_nested(target: &mut Value, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            if let Value::Object(map) = target {
                map.remove(last);
            }
        }
        [head, rest @ ..] => {
            if let Some(child) = target.as_object_mut().and_then(|m| m.get_mut(head)) {
                remove_nested(child, rest);
            }
        }
    }
}

fn set_nested(target: &mut Value, path: &[String], value: Value) {
    let Some((head, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        let child = map.entry(head.clone()).or_insert(Value::Null);
        set_nested(child, rest, value);
    }
}

/// The visible document with `_id` first, or `None` when deleted.
pub fn visible(state: &DocState, id: &Value) -> Option<Map<String, Value>> {
    let fields = state.view()?;
    let mut doc = Map::with_capacity(fields.len() + 1);
    doc.insert("_id".to_owned(), id.clone());
    doc.extend(fields);
    Some(doc)
}

#[cfg(test)]
mod tests;
