//! Property tests of the document CRDT: merge is a join (commutative, associative, idempotent),
//! and replicas that receive the same writes in any order, with duplicates, converge to the same
//! state and the same visible document.

use edgebridge_edge::{DocState, FieldChange, Hlc, ObjectMode, Stamp};
use proptest::prelude::*;
use serde_json::{Value, json};

/// One write as a replica receives it.
#[derive(Debug, Clone)]
enum Write {
    Change(Vec<String>, FieldChange, ObjectMode),
    Delete,
}

fn path() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just(vec!["a".to_owned()]),
        Just(vec!["b".to_owned()]),
        Just(vec!["addr".to_owned(), "city".to_owned()]),
        Just(vec!["addr".to_owned(), "zip".to_owned()]),
        Just(vec!["addr".to_owned()]),
        Just(vec!["qty".to_owned()]),
        Just(vec!["order".to_owned(), "qty".to_owned()]),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(|n| json!(n)),
        "[a-c]{0,3}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(json!(["x", 1])),
        Just(json!({"city": "Oslo", "zip": "0150"})),
        Just(json!({"city": "Bergen", "geo": {"lat": 60}})),
        Just(json!({})),
    ]
}

fn change() -> impl Strategy<Value = FieldChange> {
    prop_oneof![
        4 => value().prop_map(FieldChange::Set),
        1 => Just(FieldChange::Unset),
        2 => (-5i32..5).prop_map(|n| FieldChange::Increment(f64::from(n))),
        1 => (0i32..50).prop_map(|n| FieldChange::Restart(f64::from(n))),
    ]
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        12 => (path(), change(), prop_oneof![Just(ObjectMode::Merge), Just(ObjectMode::Whole)])
            .prop_map(|(p, c, m)| Write::Change(p, c, m)),
        1 => Just(Write::Delete),
    ]
}

/// Writes with unique stamps: (random wall time, index as counter, random actor).
fn history() -> impl Strategy<Value = Vec<DocState>> {
    prop::collection::vec(
        (
            write(),
            0u64..8,
            prop::sample::select(vec!["phone", "tablet", "mongo"]),
        ),
        1..24,
    )
    .prop_map(|writes| {
        writes
            .into_iter()
            .enumerate()
            .map(|(i, (w, wall, actor))| {
                let stamp = Stamp::new(Hlc::new(wall, i as u32), actor);
                match w {
                    Write::Change(p, c, m) => DocState::change_delta(&p, &c, &stamp, m),
                    Write::Delete => DocState::delete_delta(&stamp),
                }
            })
            .collect()
    })
}

fn fold(deltas: &[DocState]) -> DocState {
    let mut doc = DocState::default();
    for d in deltas {
        doc.join(d);
    }
    doc
}

fn joined(a: &DocState, b: &DocState) -> DocState {
    let mut x = a.clone();
    x.join(b);
    x
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES raises it for a longer run.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        // The minimal failing input is printed; no regression file next to a test crate.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_whatever_the_order_and_duplicates(
        deltas in history(),
        seed in any::<u64>(),
        dup in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let reference = fold(&deltas);
        // A shuffled copy with some writes delivered twice.
        let mut shuffled = deltas.clone();
        for d in &dup {
            shuffled.push(deltas[d.index(deltas.len())].clone());
        }
        let mut rng = seed;
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = (rng >> 33) as usize % (i + 1);
            shuffled.swap(i, j);
        }
        let other = fold(&shuffled);
        prop_assert_eq!(&other, &reference);
        prop_assert_eq!(other.view(), reference.view());
        prop_assert_eq!(other.exists(), reference.exists());
    }

    #[test]
    fn join_is_commutative_associative_and_idempotent(
        a in history(), b in history(), c in history(),
    ) {
        let (a, b, c) = (fold(&a), fold(&b), fold(&c));
        prop_assert_eq!(joined(&a, &b), joined(&b, &a));
        prop_assert_eq!(joined(&joined(&a, &b), &c), joined(&a, &joined(&b, &c)));
        prop_assert_eq!(joined(&a, &a), a.clone());
    }

    #[test]
    fn joining_by_value_is_joining(a in history(), b in history(), deltas in history()) {
        let (a, b) = (fold(&a), fold(&b));
        let mut owned = a.clone();
        owned.join_owned(b.clone());
        prop_assert_eq!(owned, joined(&a, &b));
        // Deltas applied by value, one by one, as `DocState::apply` does.
        let mut by_value = DocState::default();
        for d in &deltas {
            by_value.join_owned(d.clone());
        }
        prop_assert_eq!(by_value, fold(&deltas));
    }

    #[test]
    fn state_survives_serialization(deltas in history()) {
        let doc = fold(&deltas);
        let text = serde_json::to_string(&doc).unwrap();
        let back: DocState = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &doc);
        prop_assert_eq!(back.view(), doc.view());
    }
}
