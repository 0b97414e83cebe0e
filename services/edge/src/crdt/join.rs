//! The join (merge) of registers, counters, field nodes and document states, with the pruning a
//! deletion brings.

use serde_json::Value;
use std::cmp::Ordering;

use super::{Counter, DocState, FieldNode, Increment, Register, Stamp};

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
}
