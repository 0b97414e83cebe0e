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
//!
//! This file holds [`Stamp`] and the stamp helpers; the submodules hold the registers, counters
//! and field nodes and how they read (`values`), the document state and its reads (`state`), the
//! deltas that writes become (`delta`), and the join of all of them (`join`).

mod delta;
mod join;
mod state;
#[cfg(test)]
mod tests;
mod values;

use crate::hlc::Hlc;
use serde::{Deserialize, Serialize};

pub use delta::{FieldChange, ObjectMode};
pub use state::DocState;
pub use values::{Counter, FieldNode, Increment, Register};

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
