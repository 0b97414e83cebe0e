//! Turning DQL writes into CRDT changes on one document, without I/O: what an INSERT, an
//! `ON ID CONFLICT DO UPDATE`, an UPDATE's SET/UNSET/APPLY and a DELETE do to its state.

use crate::crdt::{DocState, FieldChange, ObjectMode, Stamp};
use crate::dql::ast::{Path, UpdateAction};
use crate::dql::eval::{EvalError, Scope, eval};
use serde_json::{Map, Value};

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
    let scope = Scope {
        doc: Some(before),
        args,
    };
    for action in actions {
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
            match action {
                UpdateAction::Set(_, expr) => match eval(expr, &scope)? {
                    Some(value) => set_nested(&mut whole, &fields[1..], value),
                    None => remove_nested(&mut whole, &fields[1..]),
                },
                UpdateAction::Unset(_) => remove_nested(&mut whole, &fields[1..]),
                UpdateAction::Increment(..) | UpdateAction::Restart(..) => {
                    return Err(ApplyError::CounterInStrictObject(describe(path)));
                }
            }
            state.apply(&[top], &FieldChange::Set(whole), &stamps.next_stamp(), mode);
            continue;
        }
        if nested {
            open_whole_objects(state, &fields, stamps);
        }
        match action {
            UpdateAction::Set(_, expr) => match eval(expr, &scope)? {
                Some(value) => set_field(state, &fields, value, mode, &stamps.next_stamp()),
                // Setting to MISSING removes the field.
                None => state.apply(&fields, &FieldChange::Unset, &stamps.next_stamp(), mode),
            },
            UpdateAction::Unset(_) => {
                state.apply(&fields, &FieldChange::Unset, &stamps.next_stamp(), mode);
            }
            UpdateAction::Increment(_, expr) => {
                let by = eval(expr, &scope)?
                    .and_then(|v| v.as_f64())
                    .ok_or_else(|| ApplyError::NotANumber(describe(path)))?;
                if !state.is_counter(&fields) {
                    // A plain number becomes a counter that starts from its value.
                    let current = state
                        .view()
                        .and_then(|doc| read_fields(&doc, &fields).and_then(Value::as_f64))
                        .unwrap_or(0.0);
                    state.apply(
                        &fields,
                        &FieldChange::Restart(current),
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
            }
            UpdateAction::Restart(_, expr) => {
                let value = match expr {
                    None => 0.0,
                    Some(e) => eval(e, &scope)?
                        .and_then(|v| v.as_f64())
                        .ok_or_else(|| ApplyError::NotANumber(describe(path)))?,
                };
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
mod tests {
    use super::*;
    use crate::dql::{Statement, parse};
    use crate::hlc::Hlc;
    use serde_json::json;

    fn stamps() -> impl FnMut() -> Stamp {
        let mut n = 0;
        move || {
            n += 1;
            Stamp::new(Hlc::new(1000, n), "test")
        }
    }

    fn update(
        state: &mut DocState,
        src: &str,
        mode: ObjectMode,
        stamps: &mut dyn StampSource,
    ) -> Result<(), ApplyError> {
        let Statement::Update(u) = parse(src).unwrap() else {
            panic!()
        };
        let before = visible(state, &json!("d")).unwrap();
        apply_update(state, &before, &u.actions, &Map::new(), mode, stamps)
    }

    #[test]
    fn insert_then_update_then_counters() {
        let mut s = stamps();
        let mut state = DocState::default();
        let doc = json!({"_id": "d", "title": "a", "qty": 10, "addr": {"city": "Oslo"}});
        write_document(
            &mut state,
            doc.as_object().unwrap(),
            ObjectMode::Merge,
            &mut s,
        );
        assert_eq!(Value::Object(visible(&state, &json!("d")).unwrap()), doc);

        update(
            &mut state,
            "UPDATE t SET title = title, addr.zip = '0150', n = qty + 1 WHERE true",
            ObjectMode::Merge,
            &mut s,
        )
        .unwrap();
        update(
            &mut state,
            "UPDATE t APPLY qty INCREMENT BY -3 WHERE true",
            ObjectMode::Merge,
            &mut s,
        )
        .unwrap();
        assert!(state.is_counter(&["qty".to_owned()]));
        update(
            &mut state,
            "UPDATE t APPLY qty INCREMENT BY 1 UNSET title WHERE true",
            ObjectMode::Merge,
            &mut s,
        )
        .unwrap();
        assert_eq!(
            Value::Object(visible(&state, &json!("d")).unwrap()),
            json!({"_id": "d", "addr": {"city": "Oslo", "zip": "0150"}, "n": 11, "qty": 8})
        );
        // An absolute value over a counter resets it.
        update(
            &mut state,
            "UPDATE t SET qty = 100 WHERE true",
            ObjectMode::Merge,
            &mut s,
        )
        .unwrap();
        update(
            &mut state,
            "UPDATE t APPLY qty INCREMENT BY 1 WHERE true",
            ObjectMode::Merge,
            &mut s,
        )
        .unwrap();
        assert_eq!(visible(&state, &json!("d")).unwrap()["qty"], json!(101));
        update(
            &mut state,
            "UPDATE t APPLY qty RESTART WHERE true",
            ObjectMode::Merge,
            &mut s,
        )
        .unwrap();
        assert_eq!(visible(&state, &json!("d")).unwrap()["qty"], json!(0));
    }

    #[test]
    fn strict_mode_rewrites_nested_objects_whole() {
        let mut s = stamps();
        let mut state = DocState::default();
        write_document(
            &mut state,
            json!({"addr": {"city": "Oslo", "zip": "1"}})
                .as_object()
                .unwrap(),
            ObjectMode::Whole,
            &mut s,
        );
        update(
            &mut state,
            "UPDATE t SET addr.city = 'Bergen' WHERE true",
            ObjectMode::Whole,
            &mut s,
        )
        .unwrap();
        assert_eq!(
            visible(&state, &json!("d")).unwrap()["addr"],
            json!({"city": "Bergen", "zip": "1"})
        );
        assert!(
            state.fields["addr"].children.is_empty(),
            "one whole register in strict mode"
        );
    }

    #[test]
    fn nested_writes_keep_sibling_members_in_both_modes() {
        // Strict: UNSET and two SETs in one statement rewrite the whole object from its current value.
        let mut s = stamps();
        let mut state = DocState::default();
        write_document(
            &mut state,
            json!({"a": {"b": 1, "c": 2}}).as_object().unwrap(),
            ObjectMode::Whole,
            &mut s,
        );
        update(
            &mut state,
            "UPDATE t UNSET a.c WHERE true",
            ObjectMode::Whole,
            &mut s,
        )
        .unwrap();
        assert_eq!(visible(&state, &json!("d")).unwrap()["a"], json!({"b": 1}));
        update(
            &mut state,
            "UPDATE t SET a.x = 'X', a.y = 'Y' WHERE true",
            ObjectMode::Whole,
            &mut s,
        )
        .unwrap();
        assert_eq!(
            visible(&state, &json!("d")).unwrap()["a"],
            json!({"b": 1, "x": "X", "y": "Y"})
        );
        assert_eq!(
            update(
                &mut state,
                "UPDATE t APPLY a.b INCREMENT BY 1 WHERE true",
                ObjectMode::Whole,
                &mut s
            ),
            Err(ApplyError::CounterInStrictObject("a.b".into()))
        );

        // Non-strict writes below an object a strict writer wrote add to it.
        let mut state = DocState::default();
        write_document(
            &mut state,
            json!({"a": {"b": 1, "c": {"d": 2}}}).as_object().unwrap(),
            ObjectMode::Whole,
            &mut s,
        );
        update(
            &mut state,
            "UPDATE t SET a.b = 5 WHERE true",
            ObjectMode::Merge,
            &mut s,
        )
        .unwrap();
        assert_eq!(
            visible(&state, &json!("d")).unwrap()["a"],
            json!({"b": 5, "c": {"d": 2}})
        );
        update(
            &mut state,
            "UPDATE t APPLY a.c.n INCREMENT BY 2 UNSET a.b WHERE true",
            ObjectMode::Merge,
            &mut s,
        )
        .unwrap();
        assert_eq!(
            visible(&state, &json!("d")).unwrap()["a"],
            json!({"c": {"d": 2, "n": 2}})
        );
    }

    #[test]
    fn refused_writes() {
        let mut s = stamps();
        let mut state = DocState::default();
        write_document(
            &mut state,
            json!({"a": [1, 2]}).as_object().unwrap(),
            ObjectMode::Merge,
            &mut s,
        );
        assert!(matches!(
            update(
                &mut state,
                "UPDATE t SET a[0] = 5 WHERE true",
                ObjectMode::Merge,
                &mut s
            ),
            Err(ApplyError::IndexedPath(_))
        ));
        assert_eq!(
            update(
                &mut state,
                "UPDATE t SET _id = 5 WHERE true",
                ObjectMode::Merge,
                &mut s
            ),
            Err(ApplyError::IdIsImmutable)
        );
        assert!(matches!(
            update(
                &mut state,
                "UPDATE t APPLY a INCREMENT BY 'x' WHERE true",
                ObjectMode::Merge,
                &mut s
            ),
            Err(ApplyError::NotANumber(_))
        ));
    }

    #[test]
    fn an_empty_document_exists() {
        let mut s = stamps();
        let mut state = DocState::default();
        write_document(&mut state, &Map::new(), ObjectMode::Merge, &mut s);
        assert_eq!(
            Value::Object(visible(&state, &json!(1)).unwrap()),
            json!({"_id": 1})
        );
    }
}
