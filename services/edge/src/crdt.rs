//! The edge store's document model: a state-based CRDT. Every write becomes a small *delta state*
//! that is merged into the document; merge is a join (commutative, associative, idempotent), so
//! replicas that saw the same writes in any order, with duplicates, hold the same state.
//!
//! * Fields are last-writer-wins registers ordered by [`Stamp`] (hybrid logical clock, then actor).
//! * In non-strict mode an object written to a field merges per member; in strict mode it is one
//!   whole value. Arrays are always whole values.
//! * Settable counters: increments from all actors add up; a reset (`RESTART`, or an absolute value
//!   written from MongoDB) wins over every increment stamped before it.
//! * Deleting a document leaves a tombstone; a later write revives it with only the newer fields.
//!
//! A field node keeps the three kinds side by side (register, map, counter); the kind whose latest
//! assignment is newest is what readers see. A whole-value assignment hides map members and
//! counter contributions stamped before it.

use crate::hlc::Hlc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Who wrote and when: ordered by hybrid logical time, then actor, so every replica orders any two
/// writes the same way.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    #[serde(rename = "t")]
    pub at: Hlc,
    #[serde(rename = "a")]
    pub actor: String,
}

impl Stamp {
    pub fn new(at: Hlc, actor: impl Into<String>) -> Self {
        Self {
            at,
            actor: actor.into(),
        }
    }
}

/// A whole-value assignment; `value: None` removes the field (while `Some(Value::Null)` sets it
/// to null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Register {
    #[serde(rename = "s")]
    pub stamp: Stamp,
    #[serde(
        rename = "v",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_value"
    )]
    pub value: Option<Value>,
}

/// A present `v` is a value, even `null`; only an absent one means "removed".
fn present_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One increment of a counter (its stamp makes it unique, so duplicates count once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Increment {
    #[serde(rename = "s")]
    pub stamp: Stamp,
    #[serde(rename = "b")]
    pub by: f64,
}

/// A settable counter: the latest reset, and the increments stamped after it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Counter {
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<(Stamp, f64)>,
    /// Sorted by stamp, unique.
    #[serde(rename = "i", default, skip_serializing_if = "Vec::is_empty")]
    pub increments: Vec<Increment>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FieldNode {
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub register: Option<Register>,
    /// Set when an object was written here in non-strict mode (so `{}` still makes a map).
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub map_marker: Option<Stamp>,
    #[serde(rename = "c", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub children: BTreeMap<String, FieldNode>,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<Counter>,
}

/// A document's whole replicated state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DocState {
    #[serde(rename = "f", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldNode>,
    /// The latest deletion of the whole document.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Stamp>,
    /// The latest write other than a deletion.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub last_write: Option<Stamp>,
    /// Metadata kept for connectors (e.g. the BSON types of fields); never part of the value.
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Register>,
}

fn max_opt<'a>(a: Option<&'a Stamp>, b: Option<&'a Stamp>) -> Option<&'a Stamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if x >= y { x } else { y }),
        (x, None) => x,
        (None, y) => y,
    }
}

fn above(stamp: &Stamp, floor: Option<&Stamp>) -> bool {
    floor.is_none_or(|f| stamp > f)
}

impl Register {
    /// Whether `b` wins over `a`: last writer wins; equal stamps (the same write seen twice)
    /// keep a deterministic choice.
    fn wins(a: &Option<Register>, b: &Register) -> bool {
        match a {
            None => true,
            Some(a) => match b.stamp.cmp(&a.stamp) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => {
                    let av = a.value.as_ref().map(Value::to_string);
                    let bv = b.value.as_ref().map(Value::to_string);
                    bv > av
                }
            },
        }
    }

    fn join(a: &mut Option<Register>, b: &Option<Register>) {
        if let Some(b) = b
            && Self::wins(a, b)
        {
            *a = Some(b.clone());
        }
    }

    /// [`Register::join`] taking `b` by value (moved in, not cloned, when it wins).
    fn join_owned(a: &mut Option<Register>, b: Option<Register>) {
        if let Some(b) = b
            && Self::wins(a, &b)
        {
            *a = Some(b);
        }
    }
}

impl Counter {
    fn join(&mut self, other: &Counter) {
        match (&self.reset, &other.reset) {
            (_, None) => {}
            (None, Some(r)) => self.reset = Some(r.clone()),
            (Some(a), Some(b)) => {
                let take = match b.0.cmp(&a.0) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal => b.1.total_cmp(&a.1) == Ordering::Greater,
                };
                if take {
                    self.reset = Some(b.clone());
                }
            }
        }
        let mut merged: Vec<Increment> =
            Vec::with_capacity(self.increments.len() + other.increments.len());
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.increments, &other.increments);
        while i < a.len() || j < b.len() {
            let next = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => match x.stamp.cmp(&y.stamp) {
                    Ordering::Less => {
                        i += 1;
                        x.clone()
                    }
                    Ordering::Greater => {
                        j += 1;
                        y.clone()
                    }
                    Ordering::Equal => {
                        i += 1;
                        j += 1;
                        if y.by.total_cmp(&x.by) == Ordering::Greater {
                            y.clone()
                        } else {
                            x.clone()
                        }
                    }
                },
                (Some(x), None) => {
                    i += 1;
                    x.clone()
                }
                (None, Some(y)) => {
                    j += 1;
                    y.clone()
                }
                (None, None) => break,
            };
            merged.push(next);
        }
        if let Some((reset, _)) = &self.reset {
            merged.retain(|inc| &inc.stamp > reset);
        }
        self.increments = merged;
    }

    fn latest(&self, floor: Option<&Stamp>) -> Option<&Stamp> {
        let reset = self
            .reset
            .as_ref()
            .map(|r| &r.0)
            .filter(|s| above(s, floor));
        let inc = self
            .increments
            .last()
            .map(|i| &i.stamp)
            .filter(|s| above(s, floor));
        max_opt(reset, inc)
    }

    fn value(&self, floor: Option<&Stamp>) -> f64 {
        let reset = self.reset.as_ref().filter(|r| above(&r.0, floor));
        let base = reset.map_or(0.0, |r| r.1);
        let from = max_opt(floor, reset.map(|r| &r.0));
        base + self
            .increments
            .iter()
            .filter(|i| above(&i.stamp, from))
            .map(|i| i.by)
            .sum::<f64>()
    }
}

/// A counter's value as JSON: a whole number within ±(2^53 − 1) (exact in a double) as an integer.
/// (Writes never take a counter out of that range or past a finite double:
/// `apply::MAX_EXACT_INTEGER`.)
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() <= 9_007_199_254_740_991.0 {
        Value::Number(Number::from(value as i64))
    } else {
        Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

impl FieldNode {
    pub fn join(&mut self, other: &FieldNode) {
        Register::join(&mut self.register, &other.register);
        if let Some(m) = &other.map_marker
            && self.map_marker.as_ref().is_none_or(|s| m > s)
        {
            self.map_marker = Some(m.clone());
        }
        for (name, child) in &other.children {
            self.children.entry(name.clone()).or_default().join(child);
        }
        if let Some(c) = &other.counter {
            self.counter.get_or_insert_with(Counter::default).join(c);
        }
    }

    /// [`FieldNode::join`] taking `other` by value: what wins is moved in, not cloned.
    pub fn join_owned(&mut self, other: FieldNode) {
        Register::join_owned(&mut self.register, other.register);
        if let Some(m) = other.map_marker
            && self.map_marker.as_ref().is_none_or(|s| &m > s)
        {
            self.map_marker = Some(m);
        }
        for (name, child) in other.children {
            self.children.entry(name).or_default().join_owned(child);
        }
        if let Some(c) = &other.counter {
            self.counter.get_or_insert_with(Counter::default).join(c);
        }
    }

    fn child_floor<'a>(&'a self, floor: Option<&'a Stamp>) -> Option<&'a Stamp> {
        max_opt(floor, self.register.as_ref().map(|r| &r.stamp))
    }

    /// The newest assignment anywhere in this node above `floor`.
    fn latest(&self, floor: Option<&Stamp>) -> Option<&Stamp> {
        let register = self
            .register
            .as_ref()
            .map(|r| &r.stamp)
            .filter(|s| above(s, floor));
        max_opt(
            max_opt(register, self.map_latest(floor)),
            self.counter_latest(floor),
        )
    }

    fn map_latest(&self, floor: Option<&Stamp>) -> Option<&Stamp> {
        let floor = self.child_floor(floor);
        let marker = self.map_marker.as_ref().filter(|s| above(s, floor));
        self.children
            .values()
            .filter_map(|c| c.latest(floor))
            .fold(marker, |acc, s| max_opt(acc, Some(s)))
    }

    fn counter_latest(&self, floor: Option<&Stamp>) -> Option<&Stamp> {
        self.counter.as_ref()?.latest(self.child_floor(floor))
    }

    /// What readers see; `None` when the field is absent.
    pub fn view(&self, floor: Option<&Stamp>) -> Option<Value> {
        let register = self.register.as_ref().filter(|r| above(&r.stamp, floor));
        let map = self.map_latest(floor);
        let counter = self.counter_latest(floor);
        let newest = max_opt(max_opt(register.map(|r| &r.stamp), map), counter)?;
        let inner = self.child_floor(floor);
        if counter == Some(newest) {
            let c = self.counter.as_ref()?;
            return Some(number(c.value(inner)));
        }
        if map == Some(newest) {
            let mut object = Map::new();
            for (name, child) in &self.children {
                if let Some(v) = child.view(inner) {
                    object.insert(name.clone(), v);
                }
            }
            return Some(Value::Object(object));
        }
        register.and_then(|r| r.value.clone())
    }

    /// True when the visible value is a whole-value assignment (not a map or a counter).
    pub fn reads_as_whole_value(&self, floor: Option<&Stamp>) -> bool {
        let register = self.register.as_ref().filter(|r| above(&r.stamp, floor));
        register.is_some_and(|r| self.latest(floor) == Some(&r.stamp))
    }

    /// True when the visible value is a counter.
    pub fn is_counter(&self, floor: Option<&Stamp>) -> bool {
        let counter = self.counter_latest(floor);
        counter.is_some() && self.latest(floor) == counter
    }

    /// Whether any stamp in this node or under it is one `pick` picks.
    pub fn any_stamp(&self, pick: &dyn Fn(&Stamp) -> bool) -> bool {
        self.register.as_ref().is_some_and(|r| pick(&r.stamp))
            || self.map_marker.as_ref().is_some_and(pick)
            || self.counter.as_ref().is_some_and(|c| {
                c.reset.as_ref().is_some_and(|(s, _)| pick(s))
                    || c.increments.iter().any(|i| pick(&i.stamp))
            })
            || self.children.values().any(|c| c.any_stamp(pick))
    }

    /// Drops everything stamped at or before `floor` (never visible again).
    fn prune(&mut self, floor: &Stamp) {
        if self.register.as_ref().is_some_and(|r| &r.stamp <= floor) {
            self.register = None;
        }
        if self.map_marker.as_ref().is_some_and(|m| m <= floor) {
            self.map_marker = None;
        }
        for child in self.children.values_mut() {
            child.prune(floor);
        }
        self.children.retain(|_, c| !c.is_empty());
        if let Some(c) = &mut self.counter {
            if c.reset.as_ref().is_some_and(|r| &r.0 <= floor) {
                c.reset = None;
            }
            c.increments.retain(|i| &i.stamp > floor);
            if c.reset.is_none() && c.increments.is_empty() {
                self.counter = None;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.register.is_none()
            && self.map_marker.is_none()
            && self.children.is_empty()
            && self.counter.is_none()
    }
}

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
    /// Joins another state (or delta) into this one.
    pub fn join(&mut self, other: &DocState) {
        for (name, node) in &other.fields {
            self.fields.entry(name.clone()).or_default().join(node);
        }
        if let Some(d) = &other.deleted
            && self.deleted.as_ref().is_none_or(|s| d > s)
        {
            self.deleted = Some(d.clone());
        }
        if let Some(w) = &other.last_write
            && self.last_write.as_ref().is_none_or(|s| w > s)
        {
            self.last_write = Some(w.clone());
        }
        Register::join(&mut self.metadata, &other.metadata);
        if let Some(deleted) = self.deleted.clone() {
            for node in self.fields.values_mut() {
                node.prune(&deleted);
            }
            self.fields.retain(|_, n| !n.is_empty());
        }
    }

    /// [`DocState::join`] taking `other` by value: what wins is moved in, not cloned.
    pub fn join_owned(&mut self, other: DocState) {
        for (name, node) in other.fields {
            self.fields.entry(name).or_default().join_owned(node);
        }
        if let Some(d) = other.deleted
            && self.deleted.as_ref().is_none_or(|s| &d > s)
        {
            self.deleted = Some(d);
        }
        if let Some(w) = other.last_write
            && self.last_write.as_ref().is_none_or(|s| &w > s)
        {
            self.last_write = Some(w);
        }
        Register::join_owned(&mut self.metadata, other.metadata);
        if let Some(deleted) = self.deleted.clone() {
            for node in self.fields.values_mut() {
                node.prune(&deleted);
            }
            self.fields.retain(|_, n| !n.is_empty());
        }
    }

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

    /// True when the document exists (written after its latest deletion).
    pub fn exists(&self) -> bool {
        match (&self.last_write, &self.deleted) {
            (Some(w), Some(d)) => w > d,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The document's visible fields (without `_id`); `None` when it does not exist.
    pub fn view(&self) -> Option<Map<String, Value>> {
        if !self.exists() {
            return None;
        }
        let floor = self.deleted.as_ref();
        let mut object = Map::new();
        for (name, node) in &self.fields {
            if let Some(v) = node.view(floor) {
                object.insert(name.clone(), v);
            }
        }
        Some(object)
    }

    /// The node at `path`, if any.
    pub fn node(&self, path: &[String]) -> Option<&FieldNode> {
        let (head, rest) = path.split_first()?;
        let mut node = self.fields.get(head)?;
        for name in rest {
            node = node.children.get(name)?;
        }
        Some(node)
    }

    /// Whether anything at or under `path` (a value, a member, a counter's reset or
    /// increment) carries a stamp `pick` picks.
    pub fn stamped_at(&self, path: &[String], pick: &dyn Fn(&Stamp) -> bool) -> bool {
        self.node(path).is_some_and(|n| n.any_stamp(pick))
    }

    /// True when the field at `path` currently reads as one whole value.
    pub fn reads_as_whole_value(&self, path: &[String]) -> bool {
        self.node(path)
            .is_some_and(|n| n.reads_as_whole_value(self.deleted.as_ref()))
    }

    /// True when the field at `path` currently reads as a counter.
    pub fn is_counter(&self, path: &[String]) -> bool {
        self.node(path)
            .is_some_and(|n| n.is_counter(self.deleted.as_ref()))
    }

    /// The newest stamp in the state (for clocks observing it).
    pub fn max_stamp(&self) -> Option<&Stamp> {
        max_opt(self.last_write.as_ref(), self.deleted.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn st(wall: u64, actor: &str) -> Stamp {
        Stamp::new(Hlc::new(wall, 0), actor)
    }

    fn p(path: &str) -> Vec<String> {
        path.split('.').map(str::to_owned).collect()
    }

    fn view(doc: &DocState) -> Value {
        doc.view().map_or(Value::Null, Value::Object)
    }

    #[test]
    fn last_writer_wins_per_field_by_stamp_then_actor() {
        let mut doc = DocState::default();
        doc.apply(
            &p("title"),
            &FieldChange::Set(json!("b")),
            &st(2, "x"),
            ObjectMode::Merge,
        );
        doc.apply(
            &p("title"),
            &FieldChange::Set(json!("a")),
            &st(1, "y"),
            ObjectMode::Merge,
        );
        doc.apply(
            &p("done"),
            &FieldChange::Set(json!(true)),
            &st(1, "y"),
            ObjectMode::Merge,
        );
        assert_eq!(view(&doc), json!({"title": "b", "done": true}));
        // Same time: the actor breaks the tie, the same way everywhere.
        doc.apply(
            &p("title"),
            &FieldChange::Set(json!("z")),
            &st(2, "w"),
            ObjectMode::Merge,
        );
        assert_eq!(view(&doc)["title"], "b");
    }

    #[test]
    fn non_strict_objects_merge_per_member_strict_objects_replace() {
        let mut merge = DocState::default();
        merge.apply(
            &p("addr"),
            &FieldChange::Set(json!({"city": "Oslo", "zip": "0150"})),
            &st(1, "a"),
            ObjectMode::Merge,
        );
        merge.apply(
            &p("addr"),
            &FieldChange::Set(json!({"city": "Bergen"})),
            &st(2, "b"),
            ObjectMode::Merge,
        );
        assert_eq!(
            view(&merge),
            json!({"addr": {"city": "Bergen", "zip": "0150"}})
        );

        let mut strict = DocState::default();
        strict.apply(
            &p("addr"),
            &FieldChange::Set(json!({"city": "Oslo", "zip": "0150"})),
            &st(1, "a"),
            ObjectMode::Whole,
        );
        strict.apply(
            &p("addr"),
            &FieldChange::Set(json!({"city": "Bergen"})),
            &st(2, "b"),
            ObjectMode::Whole,
        );
        assert_eq!(view(&strict), json!({"addr": {"city": "Bergen"}}));
    }

    #[test]
    fn concurrent_member_writes_both_survive_in_non_strict_mode() {
        let a = DocState::change_delta(
            &p("addr.city"),
            &FieldChange::Set(json!("Oslo")),
            &st(5, "a"),
            ObjectMode::Merge,
        );
        let b = DocState::change_delta(
            &p("addr.zip"),
            &FieldChange::Set(json!("0150")),
            &st(5, "b"),
            ObjectMode::Merge,
        );
        let mut x = a.clone();
        x.join(&b);
        let mut y = b;
        y.join(&a);
        assert_eq!(x, y);
        assert_eq!(view(&x), json!({"addr": {"city": "Oslo", "zip": "0150"}}));
    }

    #[test]
    fn whole_value_write_hides_older_members() {
        let mut doc = DocState::default();
        doc.apply(
            &p("addr.city"),
            &FieldChange::Set(json!("Oslo")),
            &st(1, "a"),
            ObjectMode::Merge,
        );
        doc.apply(
            &p("addr"),
            &FieldChange::Set(json!("unknown")),
            &st(2, "a"),
            ObjectMode::Merge,
        );
        assert_eq!(view(&doc), json!({"addr": "unknown"}));
        doc.apply(
            &p("addr.zip"),
            &FieldChange::Set(json!("1")),
            &st(3, "a"),
            ObjectMode::Merge,
        );
        assert_eq!(view(&doc), json!({"addr": {"zip": "1"}}));
    }

    #[test]
    fn arrays_are_registers() {
        let mut doc = DocState::default();
        doc.apply(
            &p("tags"),
            &FieldChange::Set(json!(["a", "b"])),
            &st(1, "a"),
            ObjectMode::Merge,
        );
        doc.apply(
            &p("tags"),
            &FieldChange::Set(json!(["c"])),
            &st(2, "b"),
            ObjectMode::Merge,
        );
        assert_eq!(view(&doc), json!({"tags": ["c"]}));
    }

    #[test]
    fn counter_increments_add_up_across_actors() {
        let mut doc = DocState::default();
        doc.apply(
            &p("qty"),
            &FieldChange::Restart(10.0),
            &st(1, "mongo"),
            ObjectMode::Merge,
        );
        doc.apply(
            &p("qty"),
            &FieldChange::Increment(-2.0),
            &st(2, "phone"),
            ObjectMode::Merge,
        );
        doc.apply(
            &p("qty"),
            &FieldChange::Increment(-3.0),
            &st(2, "tablet"),
            ObjectMode::Merge,
        );
        assert_eq!(view(&doc), json!({"qty": 5}));
        assert!(doc.is_counter(&p("qty")));
    }

    #[test]
    fn a_reset_wins_over_increments_stamped_before_it() {
        let inc_before = DocState::change_delta(
            &p("qty"),
            &FieldChange::Increment(-5.0),
            &st(3, "phone"),
            ObjectMode::Merge,
        );
        let reset = DocState::change_delta(
            &p("qty"),
            &FieldChange::Restart(25.0),
            &st(4, "mongo"),
            ObjectMode::Merge,
        );
        let inc_after = DocState::change_delta(
            &p("qty"),
            &FieldChange::Increment(1.0),
            &st(5, "tablet"),
            ObjectMode::Merge,
        );
        for order in [
            [&inc_before, &reset, &inc_after],
            [&inc_after, &reset, &inc_before],
            [&reset, &inc_after, &inc_before],
        ] {
            let mut doc = DocState::default();
            for d in order {
                doc.join(d);
            }
            assert_eq!(view(&doc), json!({"qty": 26}));
        }
    }

    #[test]
    fn delete_leaves_a_tombstone_and_a_later_write_revives_with_new_fields_only() {
        let mut doc = DocState::default();
        doc.apply(
            &p("a"),
            &FieldChange::Set(json!(1)),
            &st(1, "x"),
            ObjectMode::Merge,
        );
        doc.apply(
            &p("b"),
            &FieldChange::Set(json!(2)),
            &st(1, "x"),
            ObjectMode::Merge,
        );
        doc.join(&DocState::delete_delta(&st(2, "x")));
        assert!(!doc.exists());
        assert_eq!(doc.view(), None);
        assert!(doc.fields.is_empty(), "deleted data is pruned");
        // A write stamped before the delete does not revive it.
        doc.apply(
            &p("c"),
            &FieldChange::Set(json!(3)),
            &st(1, "late"),
            ObjectMode::Merge,
        );
        assert!(!doc.exists());
        doc.apply(
            &p("a"),
            &FieldChange::Set(json!(9)),
            &st(3, "y"),
            ObjectMode::Merge,
        );
        assert_eq!(view(&doc), json!({"a": 9}));
    }

    #[test]
    fn unset_removes_a_field() {
        let mut doc = DocState::default();
        doc.apply(
            &p("a"),
            &FieldChange::Set(json!(1)),
            &st(1, "x"),
            ObjectMode::Merge,
        );
        doc.apply(&p("a"), &FieldChange::Unset, &st(2, "x"), ObjectMode::Merge);
        assert_eq!(view(&doc), json!({}));
        assert!(doc.exists());
    }

    #[test]
    fn metadata_is_kept_apart_from_the_value() {
        let mut doc = DocState::default();
        doc.apply(
            &p("n"),
            &FieldChange::Set(json!(1)),
            &st(1, "x"),
            ObjectMode::Merge,
        );
        doc.join(&DocState::metadata_delta(
            json!({"n": "int64"}),
            &st(1, "connector"),
        ));
        assert_eq!(view(&doc), json!({"n": 1}));
        assert_eq!(
            doc.metadata.as_ref().unwrap().value,
            Some(json!({"n": "int64"}))
        );
    }

    #[test]
    fn null_values_and_removed_fields_stay_distinct_through_json() {
        let mut doc = DocState::default();
        doc.apply(
            &p("a"),
            &FieldChange::Set(Value::Null),
            &st(1, "x"),
            ObjectMode::Merge,
        );
        doc.apply(
            &p("b"),
            &FieldChange::Set(json!(1)),
            &st(1, "x"),
            ObjectMode::Merge,
        );
        doc.apply(&p("b"), &FieldChange::Unset, &st(2, "x"), ObjectMode::Merge);
        let back: DocState = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert_eq!(view(&back), json!({"a": null}));
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut doc = DocState::default();
        doc.apply(
            &p("a.b"),
            &FieldChange::Set(json!({"c": 1})),
            &st(1, "x"),
            ObjectMode::Merge,
        );
        doc.apply(
            &p("q"),
            &FieldChange::Increment(2.5),
            &st(2, "y"),
            ObjectMode::Merge,
        );
        let text = serde_json::to_string(&doc).unwrap();
        let back: DocState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        assert_eq!(view(&back), json!({"a": {"b": {"c": 1}}, "q": 2.5}));
    }
}
