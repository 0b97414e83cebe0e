//! Field changes, and the delta states that changes, deletions and metadata writes become.

use serde_json::Value;

use super::{Counter, DocState, FieldNode, Increment, Register, Stamp};

/// How an object value written to a field is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectMode {
    /// Strict: the object replaces the field's value as a whole.
    Whole,
    /// Non-strict: the object's members merge into the field's existing members.
    Merge,
}

/// One change to one field path.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldChange {
    Set(Value),
    Unset,
    Increment(f64),
    /// Reset a counter to this value (wins over increments stamped before it).
    Restart(f64),
}

/// The delta node holding `change` at `path` below it (an empty path: the node itself).
fn delta_at(path: &[String], change: &FieldChange, stamp: &Stamp, mode: ObjectMode) -> FieldNode {
    let mut node = FieldNode::default();
    match path.split_first() {
        Some((head, rest)) => {
            node.children
                .insert(head.clone(), delta_at(rest, change, stamp, mode));
        }
        None => fill_leaf(&mut node, change, stamp, mode),
    }
    node
}

fn fill_leaf(node: &mut FieldNode, change: &FieldChange, stamp: &Stamp, mode: ObjectMode) {
    match change {
        FieldChange::Set(Value::Object(members)) if mode == ObjectMode::Merge => {
            node.map_marker = Some(stamp.clone());
            for (name, value) in members {
                let mut child = FieldNode::default();
                fill_leaf(&mut child, &FieldChange::Set(value.clone()), stamp, mode);
                node.children.insert(name.clone(), child);
            }
        }
        FieldChange::Set(value) => {
            node.register = Some(Register {
                stamp: stamp.clone(),
                value: Some(value.clone()),
            })
        }
        FieldChange::Unset => {
            node.register = Some(Register {
                stamp: stamp.clone(),
                value: None,
            })
        }
        FieldChange::Increment(by) => {
            node.counter = Some(Counter {
                reset: None,
                increments: vec![Increment {
                    stamp: stamp.clone(),
                    by: *by,
                }],
            })
        }
        FieldChange::Restart(value) => {
            node.counter = Some(Counter {
                reset: Some((stamp.clone(), *value)),
                increments: Vec::new(),
            })
        }
    }
}

impl DocState {
    /// The delta of one field change at `path` (top-level name first).
    pub fn change_delta(
        path: &[String],
        change: &FieldChange,
        stamp: &Stamp,
        mode: ObjectMode,
    ) -> DocState {
        let mut delta = DocState {
            last_write: Some(stamp.clone()),
            ..Default::default()
        };
        if let Some((head, rest)) = path.split_first() {
            delta
                .fields
                .insert(head.clone(), delta_at(rest, change, stamp, mode));
        }
        delta
    }

    /// The delta of a document deletion.
    pub fn delete_delta(stamp: &Stamp) -> DocState {
        DocState {
            deleted: Some(stamp.clone()),
            ..Default::default()
        }
    }

    /// The delta replacing the connector metadata slot.
    pub fn metadata_delta(metadata: Value, stamp: &Stamp) -> DocState {
        DocState {
            metadata: Some(Register {
                stamp: stamp.clone(),
                value: Some(metadata),
            }),
            ..Default::default()
        }
    }

    /// Applies one field change.
    pub fn apply(
        &mut self,
        path: &[String],
        change: &FieldChange,
        stamp: &Stamp,
        mode: ObjectMode,
    ) {
        self.join_owned(Self::change_delta(path, change, stamp, mode));
    }
}
