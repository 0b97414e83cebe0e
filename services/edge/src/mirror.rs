//! A connector's write: make a document read as the state MongoDB reports for it (a post-image),
//! changing only what differs. Fields equal on both sides keep their stamps, so concurrent edge
//! edits of other fields survive and a document seen twice (initial sync overlapping the stream,
//! a redelivered event) is not written again.

use crate::apply::StampSource;
use crate::crdt::{DocState, FieldChange, ObjectMode, Stamp};
use crate::dql::eval::json_eq;
use serde_json::{Map, Value};

/// What MongoDB says the document is.
#[derive(Debug, Clone, Copy)]
pub struct MirrorWrite<'a> {
    /// The fields (an `_id` member is ignored), settable counters taken out.
    pub body: &'a Map<String, Value>,
    /// Settable counters present in the document, with their values (each a reset).
    pub counters: &'a [(Vec<String>, f64)],
    /// The connector's metadata slot (e.g. the BSON type tree); `None` leaves it as it is.
    pub metadata: Option<&'a Value>,
    /// The document as it was in MongoDB before this change (an update's pre-image). Given,
    /// only what changed between the two is written: an edge edit not yet in MongoDB is not
    /// overwritten by MongoDB's stale copy of that field. Absent (inserts, replaces, the
    /// initial scan), everything that differs from the edge is written.
    pub before: Option<Before<'a>>,
    /// Edge edits a copied document (no pre-image) does not overwrite: a field, member or
    /// counter someone else stamped since the copy began, and a deletion made since. MongoDB's
    /// own later changes of the document come on the change stream after the copy; the edit
    /// goes to MongoDB with the write-back.
    pub keep: Option<Keep<'a>>,
}

/// Whose edits since when a copy keeps (see [`MirrorWrite::keep`]).
#[derive(Debug, Clone, Copy)]
pub struct Keep<'a> {
    /// When the copy began, in the stamps' wall-clock milliseconds.
    pub since_ms: u64,
    /// The copying connector's actor: its own earlier writes are not edits to keep.
    pub actor: &'a str,
}

impl Keep<'_> {
    /// Whether a write with this stamp is an edit the copy keeps.
    pub fn keeps(&self, stamp: &Stamp) -> bool {
        stamp.at.wall_ms >= self.since_ms && stamp.actor != self.actor
    }
}

/// A pre-image, mapped like the document.
#[derive(Debug, Clone, Copy)]
pub struct Before<'a> {
    pub body: &'a Map<String, Value>,
    pub counters: &'a [(Vec<String>, f64)],
}

fn read<'v>(doc: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut value = doc.get(first)?;
    for name in rest {
        value = value.as_object()?.get(name)?;
    }
    Some(value)
}

struct Diff<'a> {
    state: &'a mut DocState,
    stamp: Stamp,
    mode: ObjectMode,
    counters: &'a [(Vec<String>, f64)],
    changed: bool,
    keep: Option<Keep<'a>>,
    /// Something was left as the edge has it (an edit `keep` protects).
    kept: bool,
}

impl Diff<'_> {
    fn is_counter(&self, path: &[String]) -> bool {
        self.counters.iter().any(|(p, _)| p == path)
    }

    /// Whether the field at `path` holds an edit the write keeps (and notes that it did).
    fn keeps(&mut self, path: &[String]) -> bool {
        let Some(keep) = self.keep else {
            return false;
        };
        let kept = self.state.stamped_at(path, &|s| keep.keeps(s));
        self.kept |= kept;
        kept
    }

    fn apply(&mut self, path: &[String], change: FieldChange) {
        self.state.apply(path, &change, &self.stamp, self.mode);
        self.changed = true;
    }

    fn object(
        &mut self,
        path: &mut Vec<String>,
        current: &Map<String, Value>,
        new: &Map<String, Value>,
    ) {
        for name in current.keys() {
            if path.is_empty() && name == "_id" {
                continue;
            }
            path.push(name.clone());
            if !new.contains_key(name) && !self.is_counter(path) && !self.keeps(path) {
                self.apply(path, FieldChange::Unset);
            }
            path.pop();
        }
        for (name, value) in new {
            if path.is_empty() && name == "_id" {
                continue;
            }
            path.push(name.clone());
            match (current.get(name), value) {
                (Some(Value::Object(c)), Value::Object(n))
                    if self.mode == ObjectMode::Merge && !self.state.reads_as_whole_value(path) =>
                {
                    self.object(path, c, n);
                }
                (Some(c), n) if c == n && !self.state.is_counter(path) => {}
                _ if self.keeps(path) => {}
                (_, n) => self.apply(path, FieldChange::Set(n.clone())),
            }
            path.pop();
        }
    }

    /// Writes what changed in MongoDB from `before` to `new`, skipping what the edge already
    /// reads as `new` (a replayed event changes nothing, and does not re-stamp over edits made
    /// on the edge since).
    fn object_since(
        &mut self,
        path: &mut Vec<String>,
        before: &Map<String, Value>,
        new: &Map<String, Value>,
        current: Option<&Map<String, Value>>,
    ) {
        for name in before.keys() {
            if (path.is_empty() && name == "_id") || new.contains_key(name) {
                continue;
            }
            path.push(name.clone());
            if current.is_some_and(|c| c.contains_key(name)) && !self.is_counter(path) {
                self.apply(path, FieldChange::Unset);
            }
            path.pop();
        }
        for (name, value) in new {
            if path.is_empty() && name == "_id" {
                continue;
            }
            path.push(name.clone());
            let now = current.and_then(|c| c.get(name));
            match (before.get(name), value) {
                (Some(Value::Object(b)), Value::Object(n))
                    if self.mode == ObjectMode::Merge && !self.state.reads_as_whole_value(path) =>
                {
                    let now = now.and_then(Value::as_object);
                    self.object_since(path, b, n, now);
                }
                (Some(b), n) if b == n => {}
                (_, n) if now == Some(n) => {}
                (_, n) => self.apply(path, FieldChange::Set(n.clone())),
            }
            path.pop();
        }
    }
}

/// Makes `state` read as `write` says. Returns whether anything changed (nothing is stamped
/// when the document already reads so).
pub fn mirror_document(
    state: &mut DocState,
    write: MirrorWrite<'_>,
    mode: ObjectMode,
    stamps: &mut dyn StampSource,
) -> bool {
    mirror_document_checked(state, write, mode, stamps).changed
}

/// What [`mirror_document_checked`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mirrored {
    /// Anything changed.
    pub changed: bool,
    /// The document now reads exactly as the write's body for certain: it had no pre-image to
    /// merge with, or it read as the pre-image before. When false, an update merged with an
    /// edge edit may leave it reading otherwise (check with [`reads_as`]).
    pub exact: bool,
    /// Something was left as the edge has it (an edit [`MirrorWrite::keep`] protects): the
    /// document may read otherwise than MongoDB holds it, even when nothing changed.
    pub kept: bool,
}

/// [`mirror_document`], also telling whether the result surely reads as the write's body,
/// which spares a caller the second materialization [`reads_as`] needs in the common case.
pub fn mirror_document_checked(
    state: &mut DocState,
    write: MirrorWrite<'_>,
    mode: ObjectMode,
    stamps: &mut dyn StampSource,
) -> Mirrored {
    // A copy keeps a deletion made on the edge since it began (the write-back takes it to
    // MongoDB); nothing is written.
    if write.before.is_none()
        && let Some(keep) = write.keep
        && !state.exists()
        && state.deleted.as_ref().is_some_and(|d| keep.keeps(d))
    {
        return Mirrored {
            changed: false,
            exact: false,
            kept: true,
        };
    }
    let stamp = stamps.next_stamp();
    let current = if state.exists() { state.view() } else { None };
    let exact = match (&current, &write.before) {
        (Some(current), Some(before)) => {
            same_document(current, &with_counters(before.body, before.counters))
        }
        _ => true,
    };
    let mut diff = Diff {
        state,
        stamp: stamp.clone(),
        mode,
        counters: write.counters,
        changed: false,
        // Only a write without a pre-image overwrites edge edits it does not know of.
        keep: write.keep.filter(|_| write.before.is_none()),
        kept: false,
    };
    match (&current, write.before) {
        (Some(current), Some(before)) => {
            diff.object_since(&mut Vec::new(), before.body, write.body, Some(current))
        }
        (Some(current), None) => diff.object(&mut Vec::new(), current, write.body),
        (None, _) => {
            // New or revived: an empty write records its existence, then every field.
            diff.apply(&[], FieldChange::Unset);
            for (name, value) in write.body {
                if name != "_id" {
                    diff.apply(std::slice::from_ref(name), FieldChange::Set(value.clone()));
                }
            }
        }
    }
    let now_of = |path: &[String]| {
        current
            .as_ref()
            .and_then(|c| read(c, path))
            .and_then(Value::as_f64)
    };
    match (&current, write.before) {
        (Some(_), Some(before)) => {
            // Only a value MongoDB changed resets the counter: increments made on the edge and
            // not yet written back survive an update of another field.
            for (path, value) in write.counters {
                let was = before
                    .counters
                    .iter()
                    .find(|(p, _)| p == path)
                    .map(|(_, v)| *v);
                let already = now_of(path) == Some(*value) && diff.state.is_counter(path);
                if was != Some(*value) && !already {
                    diff.apply(path, FieldChange::Restart(*value));
                }
            }
            for (path, _) in before.counters {
                if !write.counters.iter().any(|(p, _)| p == path) && now_of(path).is_some() {
                    diff.apply(path, FieldChange::Unset);
                }
            }
        }
        _ => {
            for (path, value) in write.counters {
                if (now_of(path) != Some(*value) || !diff.state.is_counter(path))
                    && !diff.keeps(path)
                {
                    diff.apply(path, FieldChange::Restart(*value));
                }
            }
        }
    }
    let mut changed = diff.changed;
    let kept = diff.kept;
    let exact = exact && !kept;
    if let Some(metadata) = write.metadata
        && state.metadata.as_ref().and_then(|r| r.value.as_ref()) != Some(metadata)
    {
        state.join(&DocState::metadata_delta(metadata.clone(), &stamp));
        changed = true;
    }
    Mirrored {
        changed,
        exact,
        kept,
    }
}

/// Whether the document reads as MongoDB holds it: `body` with the settable `counters` at their
/// paths (`body: None`: MongoDB does not have it). `_id` is not compared, numbers compare by
/// value (`3` and `3.0` are one number).
pub fn reads_as(
    state: &DocState,
    body: Option<&Map<String, Value>>,
    counters: &[(Vec<String>, f64)],
) -> bool {
    let current = if state.exists() { state.view() } else { None };
    match (current, body) {
        (None, None) => true,
        (Some(_), None) | (None, Some(_)) => false,
        (Some(current), Some(body)) => same_document(&current, &with_counters(body, counters)),
    }
}

/// `body` with the settable `counters` at their paths: a document as the edge reads it.
pub fn with_counters(
    body: &Map<String, Value>,
    counters: &[(Vec<String>, f64)],
) -> Map<String, Value> {
    let mut out = body.clone();
    for (path, value) in counters {
        place(&mut out, path, Value::from(*value));
    }
    out
}

/// Whether two documents read alike, `_id` aside (numbers compare by value).
pub fn same_document(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let fields = |m: &Map<String, Value>| m.iter().filter(|(k, _)| *k != "_id").count();
    fields(a) == fields(b)
        && a.iter()
            .filter(|(k, _)| *k != "_id")
            .all(|(k, v)| b.get(k).is_some_and(|w| json_eq(v, w)))
}

fn place(doc: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = doc;
    for name in parents {
        let next = current
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        match next {
            Value::Object(inner) => current = inner,
            _ => return,
        }
    }
    current.insert(last.clone(), value);
}

/// Deletes the document; `false` when it does not exist.
pub fn mirror_delete(state: &mut DocState, stamps: &mut dyn StampSource) -> bool {
    if !state.exists() {
        return false;
    }
    state.join(&DocState::delete_delta(&stamps.next_stamp()));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{visible, write_document};
    use crate::hlc::Hlc;
    use serde_json::json;

    fn stamps(actor: &'static str, from: u32) -> impl FnMut() -> Stamp {
        let mut n = from;
        move || {
            n += 1;
            Stamp::new(Hlc::new(1000, n), actor)
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn mirror(state: &mut DocState, body: Value, s: &mut dyn StampSource) -> bool {
        let body = obj(body);
        mirror_document(
            state,
            MirrorWrite {
                keep: None,
                body: &body,
                counters: &[],
                metadata: None,
                before: None,
            },
            ObjectMode::Merge,
            s,
        )
    }

    #[test]
    fn creates_then_changes_only_what_differs_and_removes_what_is_gone() {
        let mut s = stamps("connector", 0);
        let mut state = DocState::default();
        assert!(mirror(
            &mut state,
            json!({"_id": "d", "a": 1, "n": {"x": 1, "y": 2}, "gone": true}),
            &mut s
        ));
        assert_eq!(
            Value::Object(visible(&state, &json!("d")).unwrap()),
            json!({"_id": "d", "a": 1, "n": {"x": 1, "y": 2}, "gone": true})
        );
        // The same state again: nothing to write.
        let before = state.clone();
        assert!(!mirror(
            &mut state,
            json!({"_id": "d", "a": 1, "n": {"x": 1, "y": 2}, "gone": true}),
            &mut s
        ));
        assert_eq!(state, before);
        // A nested member changed, one removed, a top field removed.
        assert!(mirror(
            &mut state,
            json!({"_id": "d", "a": 1, "n": {"x": 5}}),
            &mut s
        ));
        assert_eq!(
            Value::Object(visible(&state, &json!("d")).unwrap()),
            json!({"_id": "d", "a": 1, "n": {"x": 5}})
        );
    }

    #[test]
    fn a_replace_states_the_whole_document() {
        let mut edge = stamps("device", 100);
        let mut conn = stamps("connector", 0);
        let mut state = DocState::default();
        mirror(
            &mut state,
            json!({"_id": "d", "title": "a", "done": false}),
            &mut conn,
        );
        // A device edits `title` (later stamp); MongoDB reports `done` changed, `title` as it
        // was before the device's edit.
        let mut device_write = state.clone();
        device_write.apply(
            &["title".to_owned()],
            &FieldChange::Set(json!("edited")),
            &edge(),
            ObjectMode::Merge,
        );
        state.join(&device_write);
        // Without a pre-image (a replace) the connector states the whole document, later than
        // the device's edit (the api observes the document's stamps before stamping): MongoDB's
        // `title` wins. With an update's pre-image, see the next tests.
        let mut from_mongo = DocState::default();
        from_mongo.join(&state);
        let mut later = stamps("connector", 200);
        mirror(
            &mut from_mongo,
            json!({"_id": "d", "title": "a", "done": true}),
            &mut later,
        );
        let doc = visible(&from_mongo, &json!("d")).unwrap();
        assert_eq!(doc["title"], "a");
        assert_eq!(doc["done"], true);
    }

    #[test]
    fn counters_reset_only_when_their_value_differs_and_metadata_is_kept_in_step() {
        let mut s = stamps("connector", 0);
        let mut state = DocState::default();
        let body = obj(json!({"_id": "d", "name": "x"}));
        let counters = vec![(vec!["qty".to_owned()], 5.0)];
        let types = json!({"qty": "long"});
        let write = MirrorWrite {
            keep: None,
            body: &body,
            counters: &counters,
            metadata: Some(&types),
            before: None,
        };
        assert!(mirror_document(
            &mut state,
            write,
            ObjectMode::Merge,
            &mut s
        ));
        assert!(state.is_counter(&["qty".to_owned()]));
        assert_eq!(visible(&state, &json!("d")).unwrap()["qty"], 5.0);
        assert!(!mirror_document(
            &mut state,
            write,
            ObjectMode::Merge,
            &mut s
        ));
        let counters = vec![(vec!["qty".to_owned()], 7.0)];
        assert!(mirror_document(
            &mut state,
            MirrorWrite {
                keep: None,
                counters: &counters,
                ..write
            },
            ObjectMode::Merge,
            &mut s
        ));
        assert_eq!(visible(&state, &json!("d")).unwrap()["qty"], 7.0);
        // Without the counter in MongoDB's document, the field goes.
        assert!(mirror_document(
            &mut state,
            MirrorWrite {
                keep: None,
                counters: &[],
                ..write
            },
            ObjectMode::Merge,
            &mut s
        ));
        assert!(visible(&state, &json!("d")).unwrap().get("qty").is_none());
    }

    #[test]
    fn with_a_pre_image_only_what_changed_in_mongodb_is_written() {
        let mut conn = stamps("connector", 0);
        let mut device = stamps("device", 100);
        let mut state = DocState::default();
        mirror(
            &mut state,
            json!({"_id": "d", "title": "t", "done": false, "qty": 1}),
            &mut conn,
        );
        // A device edits `title` (not yet written back to MongoDB).
        state.apply(
            &["title".to_owned()],
            &FieldChange::Set(json!("edited")),
            &device(),
            ObjectMode::Merge,
        );
        // MongoDB changes `done` and drops `qty`; its post-image still has the old `title`.
        let before = obj(json!({"_id": "d", "title": "t", "done": false, "qty": 1}));
        let after = obj(json!({"_id": "d", "title": "t", "done": true}));
        assert!(mirror_document(
            &mut state,
            MirrorWrite {
                keep: None,
                body: &after,
                counters: &[],
                metadata: None,
                before: Some(Before {
                    body: &before,
                    counters: &[]
                }),
            },
            ObjectMode::Merge,
            &mut conn,
        ));
        assert_eq!(
            Value::Object(visible(&state, &json!("d")).unwrap()),
            json!({"_id": "d", "title": "edited", "done": true})
        );
    }

    #[test]
    fn an_update_is_exact_only_when_the_edge_read_as_its_pre_image() {
        let mut conn = stamps("connector", 0);
        let mut state = DocState::default();
        mirror(&mut state, json!({"_id": "d", "a": 1, "b": 1}), &mut conn);
        let update =
            |state: &mut DocState, before: Value, after: Value, s: &mut dyn StampSource| {
                let (before, after) = (obj(before), obj(after));
                mirror_document_checked(
                    state,
                    MirrorWrite {
                        keep: None,
                        body: &after,
                        counters: &[],
                        metadata: None,
                        before: Some(Before {
                            body: &before,
                            counters: &[],
                        }),
                    },
                    ObjectMode::Merge,
                    s,
                )
            };
        // The edge reads as the pre-image (3.0 and 3 alike): the result is the post-image.
        let m = update(
            &mut state,
            json!({"a": 1, "b": 1.0}),
            json!({"a": 2, "b": 1}),
            &mut conn,
        );
        assert_eq!(
            m,
            Mirrored {
                changed: true,
                exact: true,
                kept: false
            }
        );
        assert!(reads_as(&state, Some(&obj(json!({"a": 2, "b": 1}))), &[]));
        // A device edit not yet in MongoDB: the update merges with it and is not exact.
        state.apply(
            &["b".to_owned()],
            &FieldChange::Set(json!(9)),
            &Stamp::new(Hlc::new(1000, 500), "device"),
            ObjectMode::Merge,
        );
        let m = update(
            &mut state,
            json!({"a": 2, "b": 1}),
            json!({"a": 3, "b": 1}),
            &mut conn,
        );
        assert_eq!(
            m,
            Mirrored {
                changed: true,
                exact: false,
                kept: false
            }
        );
        assert!(!reads_as(&state, Some(&obj(json!({"a": 3, "b": 1}))), &[]));
        // Without a pre-image (insert, replace) the document is stated whole: exact.
        let body = obj(json!({"a": 4, "b": 1}));
        let m = mirror_document_checked(
            &mut state,
            MirrorWrite {
                keep: None,
                body: &body,
                counters: &[],
                metadata: None,
                before: None,
            },
            ObjectMode::Merge,
            &mut stamps("connector", 900),
        );
        assert_eq!(
            m,
            Mirrored {
                changed: true,
                exact: true,
                kept: false
            }
        );
    }

    #[test]
    fn with_a_pre_image_counters_reset_only_when_mongodb_changed_them() {
        let mut conn = stamps("connector", 0);
        let mut state = DocState::default();
        let body = obj(json!({"_id": "d", "name": "x"}));
        let five = vec![(vec!["qty".to_owned()], 5.0)];
        mirror_document(
            &mut state,
            MirrorWrite {
                keep: None,
                body: &body,
                counters: &five,
                metadata: None,
                before: None,
            },
            ObjectMode::Merge,
            &mut conn,
        );
        // A device adds 2 (not yet in MongoDB).
        state.apply(
            &["qty".to_owned()],
            &FieldChange::Increment(2.0),
            &Stamp::new(Hlc::new(1000, 500), "device"),
            ObjectMode::Merge,
        );
        // MongoDB changes `name`; its qty is still 5: the increment survives.
        let renamed = obj(json!({"_id": "d", "name": "y"}));
        let before = Before {
            body: &body,
            counters: &five,
        };
        mirror_document(
            &mut state,
            MirrorWrite {
                keep: None,
                body: &renamed,
                counters: &five,
                metadata: None,
                before: Some(before),
            },
            ObjectMode::Merge,
            &mut conn,
        );
        let doc = visible(&state, &json!("d")).unwrap();
        assert_eq!(doc["qty"], 7.0);
        assert_eq!(doc["name"], "y");
        // MongoDB unsets the counter: it goes (stamped after the device's increment, as the
        // api stamps after everything the document holds).
        let mut conn = stamps("connector", 600);
        let before = Before {
            body: &renamed,
            counters: &five,
        };
        mirror_document(
            &mut state,
            MirrorWrite {
                keep: None,
                body: &renamed,
                counters: &[],
                metadata: None,
                before: Some(before),
            },
            ObjectMode::Merge,
            &mut conn,
        );
        assert!(visible(&state, &json!("d")).unwrap().get("qty").is_none());
    }

    #[test]
    fn a_replayed_update_changes_nothing() {
        let mut conn = stamps("connector", 0);
        let mut state = DocState::default();
        mirror(&mut state, json!({"_id": "d", "a": 1, "b": 1}), &mut conn);
        let before = obj(json!({"_id": "d", "a": 1, "b": 1}));
        let after = obj(json!({"_id": "d", "a": 2, "b": 1}));
        let write = MirrorWrite {
            keep: None,
            body: &after,
            counters: &[],
            metadata: None,
            before: Some(Before {
                body: &before,
                counters: &[],
            }),
        };
        assert!(mirror_document(
            &mut state,
            write,
            ObjectMode::Merge,
            &mut conn
        ));
        let once = state.clone();
        assert!(!mirror_document(
            &mut state,
            write,
            ObjectMode::Merge,
            &mut conn
        ));
        assert_eq!(state, once);
    }

    #[test]
    fn delete_then_revive() {
        let mut s = stamps("connector", 0);
        let mut state = DocState::default();
        write_document(
            &mut state,
            &obj(json!({"_id": "d", "old": 1})),
            ObjectMode::Merge,
            &mut s,
        );
        assert!(mirror_delete(&mut state, &mut s));
        assert!(!mirror_delete(&mut state, &mut s));
        assert!(visible(&state, &json!("d")).is_none());
        assert!(mirror(&mut state, json!({"_id": "d", "new": 2}), &mut s));
        assert_eq!(
            Value::Object(visible(&state, &json!("d")).unwrap()),
            json!({"_id": "d", "new": 2})
        );
    }

    #[test]
    fn strict_mode_replaces_changed_objects_whole() {
        let mut s = stamps("connector", 0);
        let mut state = DocState::default();
        let body = obj(json!({"_id": "d", "n": {"x": 1, "y": 2}}));
        let w = |b| MirrorWrite {
            keep: None,
            body: b,
            counters: &[],
            metadata: None,
            before: None,
        };
        mirror_document(&mut state, w(&body), ObjectMode::Whole, &mut s);
        let body = obj(json!({"_id": "d", "n": {"x": 1}}));
        assert!(mirror_document(
            &mut state,
            w(&body),
            ObjectMode::Whole,
            &mut s
        ));
        assert_eq!(visible(&state, &json!("d")).unwrap()["n"], json!({"x": 1}));
    }

    #[test]
    fn reads_as_compares_the_view_with_mongodbs_copy() {
        let mut s = stamps("connector:c", 0);
        let mut state = DocState::default();
        assert!(reads_as(&state, None, &[]), "neither side has it");
        mirror(
            &mut state,
            json!({"_id": "a", "n": 3, "o": {"x": [1, 2.5]}}),
            &mut s,
        );
        let same = obj(json!({"_id": "a", "n": 3.0, "o": {"x": [1.0, 2.5]}}));
        assert!(
            reads_as(&state, Some(&same), &[]),
            "numbers compare by value"
        );
        let other = obj(json!({"_id": "a", "n": 4, "o": {"x": [1, 2.5]}}));
        assert!(!reads_as(&state, Some(&other), &[]));
        let fewer = obj(json!({"_id": "a", "n": 3}));
        assert!(
            !reads_as(&state, Some(&fewer), &[]),
            "a field MongoDB lacks"
        );
        assert!(!reads_as(&state, None, &[]), "MongoDB deleted it");
        // Counters are compared at their paths.
        let body = obj(json!({"_id": "a", "o": {"x": [1, 2.5]}}));
        assert!(reads_as(&state, Some(&body), &[(vec!["n".into()], 3.0)]));
        assert!(!reads_as(&state, Some(&body), &[(vec!["n".into()], 2.0)]));
    }

    /// Stamps of `actor` at wall time `wall`.
    fn at(actor: &'static str, wall: u64) -> impl FnMut() -> Stamp {
        let mut n = 0;
        move || {
            n += 1;
            Stamp::new(Hlc::new(wall, n), actor)
        }
    }

    #[test]
    fn a_copy_keeps_what_others_edited_since_it_began() {
        let p = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
        let mut state = DocState::default();
        let counters = vec![(p("n"), 5.0)];
        let first = obj(json!({"_id": "d", "a": 1, "b": 1, "c": {"x": 1, "y": 1}}));
        mirror_document(
            &mut state,
            MirrorWrite {
                keep: None,
                body: &first,
                counters: &counters,
                metadata: None,
                before: None,
            },
            ObjectMode::Merge,
            &mut at("connector:c", 1000),
        );
        // A device edit before the copy began, and some after it.
        let device = |wall: u64, n: u32| Stamp::new(Hlc::new(wall, n), "phone");
        let merge = ObjectMode::Merge;
        let set = |v: Value| FieldChange::Set(v);
        state.apply(&p("b"), &set(json!(7)), &device(1200, 0), merge);
        state.apply(&p("a"), &set(json!(2)), &device(2000, 0), merge);
        state.apply(&p("c.x"), &set(json!(9)), &device(2000, 1), merge);
        state.apply(&p("e"), &set(json!("new")), &device(2000, 2), merge);
        state.apply(
            &p("n"),
            &FieldChange::Increment(1.0),
            &device(2000, 3),
            merge,
        );

        // The copy began at 1500 and read MongoDB's older state.
        let copied = obj(json!({"_id": "d", "a": 1, "b": 3, "c": {"x": 1, "y": 3}}));
        let keep = Keep {
            since_ms: 1500,
            actor: "connector:c",
        };
        let copy_counters = vec![(p("n"), 7.0)];
        let done = mirror_document_checked(
            &mut state,
            MirrorWrite {
                keep: Some(keep),
                body: &copied,
                counters: &copy_counters,
                metadata: None,
                before: None,
            },
            merge,
            &mut at("connector:c", 3000),
        );
        assert!(done.changed && !done.exact && done.kept);
        assert_eq!(
            visible(&state, &json!("d")).unwrap(),
            obj(json!({"_id": "d", "a": 2, "b": 3, "c": {"x": 9, "y": 3}, "e": "new", "n": 6})),
            "edits since 1500 kept (the counter's increment too); the older edit of b is not"
        );

        // The connector's own writes since are not edits: a replayed copy batch overwrites them.
        let mut own = DocState::default();
        mirror(
            &mut own,
            json!({"_id": "d", "a": 1}),
            &mut at("connector:c", 2000),
        );
        let body = obj(json!({"_id": "d", "a": 5}));
        mirror_document(
            &mut own,
            MirrorWrite {
                keep: Some(keep),
                body: &body,
                counters: &[],
                metadata: None,
                before: None,
            },
            merge,
            &mut at("connector:c", 3000),
        );
        assert_eq!(visible(&own, &json!("d")).unwrap(), body);
    }

    #[test]
    fn a_copy_does_not_bring_back_a_document_deleted_since_it_began() {
        let body = obj(json!({"_id": "d", "a": 1}));
        let write = |keep| MirrorWrite {
            keep,
            body: &body,
            counters: &[],
            metadata: None,
            before: None,
        };
        let deleted = |wall| {
            let mut state = DocState::default();
            mirror(
                &mut state,
                json!({"_id": "d", "a": 1}),
                &mut at("connector:c", 1000),
            );
            state.join(&DocState::delete_delta(&Stamp::new(
                Hlc::new(wall, 0),
                "phone",
            )));
            state
        };
        let keep = Some(Keep {
            since_ms: 1500,
            actor: "connector:c",
        });
        let mut since = deleted(2000);
        let done = mirror_document_checked(
            &mut since,
            write(keep),
            ObjectMode::Merge,
            &mut at("connector:c", 3000),
        );
        assert!(!done.changed && done.kept && !since.exists());
        // Deleted before the copy began: MongoDB's document comes back.
        let mut before = deleted(1200);
        let done = mirror_document_checked(
            &mut before,
            write(keep),
            ObjectMode::Merge,
            &mut at("connector:c", 3000),
        );
        assert!(done.changed && !done.kept && before.exists());
        // A stream's write (with a pre-image) is not a copy: nothing is kept.
        let mut streamed = deleted(2000);
        let pre = obj(json!({"_id": "d", "a": 0}));
        let done = mirror_document_checked(
            &mut streamed,
            MirrorWrite {
                before: Some(Before {
                    body: &pre,
                    counters: &[],
                }),
                ..write(keep)
            },
            ObjectMode::Merge,
            &mut at("connector:c", 3000),
        );
        assert!(done.changed && streamed.exists());
    }
}
