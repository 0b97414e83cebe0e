//! Unit tests of the document CRDT: last-writer-wins, object modes, counters, deletion and JSON.

use super::{DocState, FieldChange, ObjectMode, Stamp};
use crate::hlc::Hlc;
use serde_json::Value;

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
fn counter_paths_name_the_fields_that_read_as_counters() {
    let mut doc = DocState::default();
    let mut apply = |path: &str, change: FieldChange, wall: u64| {
        doc.apply(&p(path), &change, &st(wall, "x"), ObjectMode::Merge);
    };
    apply("qty", FieldChange::Restart(3.0), 1);
    apply("order.qty", FieldChange::Increment(2.0), 1);
    apply("order.note", FieldChange::Set(json!("x")), 1);
    // A counter overwritten by a whole value reads as that value; one under an object that a
    // whole value replaced is hidden with it.
    apply("was", FieldChange::Increment(1.0), 1);
    apply("was", FieldChange::Set(json!(4)), 2);
    apply("gone.n", FieldChange::Increment(1.0), 1);
    apply("gone", FieldChange::Set(json!(7)), 2);
    assert_eq!(doc.counter_paths(), [p("order.qty"), p("qty")]);
    assert_eq!(
        view(&doc),
        json!({"qty": 3, "order": {"qty": 2, "note": "x"}, "was": 4, "gone": 7})
    );
    // A deleted document has none.
    doc.join(&DocState::delete_delta(&st(3, "x")));
    assert!(doc.counter_paths().is_empty());
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
