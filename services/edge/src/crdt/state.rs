//! A document's whole replicated state, and what readers see of it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use super::{FieldNode, Register, Stamp, max_opt};

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

impl DocState {
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

    /// The paths of the fields that read as counters (devices see them as plain numbers), in
    /// field order; none when the document does not exist.
    pub fn counter_paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        if !self.exists() {
            return out;
        }
        let mut path = Vec::new();
        for (name, node) in &self.fields {
            path.push(name.clone());
            node.visible_counters(self.deleted.as_ref(), &mut path, &mut out);
            path.pop();
        }
        out
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
