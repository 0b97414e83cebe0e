//! The values a field holds: last-writer-wins registers, settable counters, and the field node
//! that keeps them side by side, with how each reads.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

use super::{Stamp, above, max_opt};

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

impl Counter {
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

    /// Appends to `out` the paths of the counters readers see at or under this node (which is
    /// at `path`): decided the way [`FieldNode::view`] decides what this node reads as.
    pub(super) fn visible_counters(
        &self,
        floor: Option<&Stamp>,
        path: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        let register = self
            .register
            .as_ref()
            .map(|r| &r.stamp)
            .filter(|s| above(s, floor));
        let map = self.map_latest(floor);
        let counter = self.counter_latest(floor);
        let Some(newest) = max_opt(max_opt(register, map), counter) else {
            return;
        };
        if counter == Some(newest) {
            out.push(path.clone());
        } else if map == Some(newest) {
            let inner = self.child_floor(floor);
            for (name, child) in &self.children {
                path.push(name.clone());
                child.visible_counters(inner, path, out);
                path.pop();
            }
        }
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
}
