//! Property tests of the MongoDB <-> edge mapping: random BSON documents (every supported type,
//! nested) round-trip unchanged in both modes, and no input makes the mapping panic.

use std::str::FromStr;

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Decimal128, Document, Regex, Timestamp};
use edgebridge_domain::spec::SyncMode;
use edgebridge_mongo::mapping::{IdFields, MappingConfig, to_edge, to_mongo};
use proptest::prelude::*;
use serde_json::Value;

fn key() -> impl Strategy<Value = String> {
    // No NUL (BSON forbids it) and no leading `$` (Extended JSON reserves it).
    "[a-zA-Z_][a-zA-Z0-9_ .é-]{0,8}"
}

fn decimal() -> impl Strategy<Value = Decimal128> {
    (any::<i64>(), -20i32..20).prop_map(|(digits, exp)| {
        Decimal128::from_str(&format!("{digits}E{exp}")).expect("a valid decimal")
    })
}

fn regex() -> impl Strategy<Value = Regex> {
    (
        "[^\u{0}]{0,12}",
        proptest::sample::subsequence(vec!['i', 'm', 's', 'u', 'x'], 0..=5),
    )
        .prop_map(|(pattern, options)| Regex {
            pattern: pattern.try_into().expect("no NUL"),
            options: options
                .into_iter()
                .collect::<String>()
                .try_into()
                .expect("no NUL"),
        })
}

/// Dates in years 0-9999 (the native mode's ISO-8601 range).
fn iso_date() -> impl Strategy<Value = DateTime> {
    (-62_167_219_200_000i64..253_402_300_799_999).prop_map(DateTime::from_millis)
}

/// The BSON types native mode replicates.
fn supported_leaf() -> BoxedStrategy<Bson> {
    prop_oneof![
        any::<f64>().prop_map(Bson::Double),
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(3.0),
            Just(1e300),
            Just(f64::NAN)
        ]
        .prop_map(Bson::Double),
        ".{0,16}".prop_map(Bson::String),
        any::<bool>().prop_map(Bson::Boolean),
        Just(Bson::Null),
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        iso_date().prop_map(Bson::DateTime),
        regex().prop_map(Bson::RegularExpression),
        (any::<u32>(), any::<u32>())
            .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        decimal().prop_map(Bson::Decimal128),
    ]
    .boxed()
}

/// Every BSON type (for Extended JSON mode and the no-panic property).
fn any_leaf() -> BoxedStrategy<Bson> {
    prop_oneof![
        4 => supported_leaf(),
        1 => any::<i64>().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
        1 => proptest::collection::vec(any::<u8>(), 0..8).prop_map(|bytes| Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes })),
        1 => ".{0,8}".prop_map(Bson::JavaScriptCode),
        1 => ".{0,8}".prop_map(Bson::Symbol),
        1 => Just(Bson::MinKey),
        1 => Just(Bson::MaxKey),
        1 => Just(Bson::Undefined),
    ]
    .boxed()
}

fn tree(leaf: impl Strategy<Value = Bson> + Clone + 'static) -> impl Strategy<Value = Bson> {
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Bson::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|members| { Bson::Document(members.into_iter().collect::<Document>()) }),
        ]
    })
}

fn document(
    leaf: impl Strategy<Value = Bson> + Clone + 'static,
) -> impl Strategy<Value = Document> {
    (
        prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            "[a-z0-9]{1,12}".prop_map(Bson::String),
            any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        ],
        proptest::collection::vec((key(), tree(leaf)), 0..10),
    )
        .prop_map(|(id, fields)| {
            let mut doc = Document::new();
            doc.insert("_id", id);
            for (name, value) in fields {
                if name != "_id" {
                    doc.insert(name, value);
                }
            }
            doc
        })
}

fn canonical(doc: &Document) -> Value {
    Bson::Document(doc.clone()).into_canonical_extjson()
}

fn config(mode: SyncMode) -> MappingConfig {
    MappingConfig {
        id: IdFields::MatchId,
        mode,
        counters: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn native_mode_round_trips_supported_types(doc in document(supported_leaf())) {
        let cfg = config(SyncMode::Json);
        let edge = to_edge(&doc, &cfg).expect("maps");
        prop_assert!(edge.warnings.is_empty(), "{:?}", edge.warnings);
        // The edge body goes through JSON text on its way to the store and back.
        let stored: Value = serde_json::from_str(&Value::Object(edge.body.clone()).to_string()).unwrap();
        let types: Option<Value> = edge.types.as_ref().map(|t| serde_json::from_str(&t.to_string()).unwrap());
        let back = to_mongo(stored.as_object().unwrap(), types.as_ref(), &cfg).expect("maps back");
        prop_assert!(back.warnings.is_empty(), "{:?}", back.warnings);
        prop_assert_eq!(canonical(&back.document), canonical(&doc));
    }

    #[test]
    fn ejson_mode_round_trips_every_type(doc in document(any_leaf())) {
        let cfg = config(SyncMode::Ejson);
        let edge = to_edge(&doc, &cfg).expect("maps");
        prop_assert!(edge.warnings.is_empty());
        let stored: Value = serde_json::from_str(&Value::Object(edge.body.clone()).to_string()).unwrap();
        let back = to_mongo(stored.as_object().unwrap(), None, &cfg).expect("maps back");
        prop_assert_eq!(canonical(&back.document), canonical(&doc));
    }

    #[test]
    fn composite_ids_round_trip(a in supported_leaf(), b in supported_leaf(), rest in document(supported_leaf())) {
        let cfg = MappingConfig {
            id: IdFields::Composite(vec!["a".into(), "b".into()]),
            mode: SyncMode::Json,
            counters: Vec::new(),
        };
        let mut doc = rest.clone();
        doc.insert("a", a);
        doc.insert("b", b);
        match to_edge(&doc, &cfg) {
            Ok(edge) => {
                let back = to_mongo(&edge.body, edge.types.as_ref(), &cfg).expect("maps back");
                let mut expected = doc.clone();
                expected.remove("_id");
                // ID fields come first on the way back.
                let mut ordered = Document::new();
                ordered.insert("a", expected.remove("a").unwrap());
                ordered.insert("b", expected.remove("b").unwrap());
                ordered.extend(expected);
                prop_assert_eq!(canonical(&back.document), canonical(&ordered));
                prop_assert_eq!(back.filter.len(), 2);
            }
            Err(rejected) => {
                // Only values with no edge ID form are refused, and the `_id` is reported.
                prop_assert!(["id_value_forbidden"].contains(&rejected.diagnostic.code));
                prop_assert_eq!(rejected.mongo_id.map(|id| *id), doc.get("_id").map(|id| id.clone().into_canonical_extjson()));
            }
        }
    }

    #[test]
    fn mapping_never_panics_on_any_document(
        doc in document(any_leaf()),
        id in prop_oneof![Just(IdFields::MatchId), key().prop_map(IdFields::Single), proptest::collection::vec(key(), 1..3).prop_map(IdFields::Composite)],
        ejson in any::<bool>(),
        counters in proptest::collection::vec(proptest::collection::vec(key(), 1..3), 0..3),
    ) {
        let cfg = MappingConfig { id, mode: if ejson { SyncMode::Ejson } else { SyncMode::Json }, counters };
        if let Ok(edge) = to_edge(&doc, &cfg) {
            let _ = to_mongo(&edge.body, edge.types.as_ref(), &cfg);
        }
    }

    #[test]
    fn mapping_back_never_panics_on_any_json(body in arbitrary_json(), types in arbitrary_json(), ejson in any::<bool>()) {
        let cfg = config(if ejson { SyncMode::Ejson } else { SyncMode::Json });
        if let Value::Object(body) = body {
            let _ = to_mongo(&body, Some(&types), &cfg);
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let tags = prop_oneof![
        Just("objectId"),
        Just("date"),
        Just("long"),
        Just("int"),
        Just("double"),
        Just("decimal"),
        Just("timestamp:5"),
        Just("timestamp:x"),
        Just("regex"),
        Just("dropped:binary"),
        Just("$oid"),
        Just("$numberLong"),
        Just("$date"),
        Just("$regularExpression"),
        Just("_id"),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        tags.clone().prop_map(|t| Value::String(t.to_owned())),
        ".{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        tags.clone().prop_map(str::to_owned),
                        key(),
                        Just("0".to_owned())
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
