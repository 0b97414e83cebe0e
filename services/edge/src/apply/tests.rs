//! Writes turned into CRDT changes.

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

#[test]
fn counter_overflow_is_refused_never_null_or_rounded() {
    // A refused statement may leave part of its work in the state it was given (the caller
    // throws it away): each refused one runs on a copy.
    let update_one = |state: &mut DocState, src: &str, s: &mut dyn StampSource| {
        let mut copy = state.clone();
        update(&mut copy, src, ObjectMode::Merge, s)?;
        *state = copy;
        Ok::<(), ApplyError>(())
    };
    let mut s = stamps();
    let mut state = DocState::default();
    write_document(
        &mut state,
        json!({"n": 0, "m": 0, "v": 1}).as_object().unwrap(),
        ObjectMode::Merge,
        &mut s,
    );
    // Floats: the second increment would be infinite.
    update_one(
        &mut state,
        "UPDATE t APPLY n INCREMENT BY 1.7e308 WHERE true",
        &mut s,
    )
    .unwrap();
    let e = update_one(
        &mut state,
        "UPDATE t APPLY n INCREMENT BY 1.7e308 WHERE true",
        &mut s,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ApplyError::NumericOverflow { path, detail } if path == "n" && detail.contains("64-bit float")),
        "{e:?}"
    );
    // Whole numbers: beyond 2^53 − 1 a double is no longer exact.
    let e = update_one(
        &mut state,
        "UPDATE t APPLY m INCREMENT BY 9223372036854775807 WHERE true",
        &mut s,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ApplyError::NumericOverflow { path, .. } if path == "m"),
        "{e:?}"
    );
    update_one(
        &mut state,
        "UPDATE t APPLY m INCREMENT BY 9007199254740991 WHERE true",
        &mut s,
    )
    .unwrap();
    assert_eq!(
        visible(&state, &json!("d")).unwrap()["m"],
        json!(9007199254740991i64)
    );
    let e = update_one(
        &mut state,
        "UPDATE t APPLY m INCREMENT BY 1 WHERE true",
        &mut s,
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with("`m`: the counter would reach"),
        "{e}"
    );
    assert!(matches!(
        update_one(
            &mut state,
            "UPDATE t APPLY m RESTART WITH -9007199254740992 WHERE true",
            &mut s
        ),
        Err(ApplyError::NumericOverflow { .. })
    ));
    // Writing a large whole number over a counter resets it: refused as well.
    assert!(matches!(
        update_one(
            &mut state,
            "UPDATE t SET m = 9007199254740993 WHERE true",
            &mut s
        ),
        Err(ApplyError::NumericOverflow { .. })
    ));
    // Arithmetic in SET names the field it was for.
    let e = update_one(
        &mut state,
        "UPDATE t SET v = 1.7e308 * 10 WHERE true",
        &mut s,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ApplyError::NumericOverflow { path, detail } if path == "v" && detail.contains("* 10 is beyond the range of a 64-bit float")),
        "{e:?}"
    );
    let e = update_one(
        &mut state,
        "UPDATE t SET v = 9223372036854775807 + 9223372036854775807 + 9223372036854775807 WHERE true",
        &mut s,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ApplyError::NumericOverflow { path, .. } if path == "v"),
        "{e:?}"
    );
    // Nothing of the refused writes is visible.
    assert_eq!(
        Value::Object(visible(&state, &json!("d")).unwrap()),
        json!({"_id": "d", "n": 1.7e308, "m": 9007199254740991i64, "v": 1})
    );
}
