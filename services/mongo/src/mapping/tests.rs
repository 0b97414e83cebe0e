use std::str::FromStr;

use bson::oid::ObjectId;
use bson::{
    Binary, Bson, DateTime, Decimal128, Document, Regex, Timestamp, doc, spec::BinarySubtype,
};
use edgebridge_domain::spec::SyncMode;
use serde_json::json;

use super::*;

fn config(id: IdFields, mode: SyncMode) -> MappingConfig {
    MappingConfig {
        id,
        mode,
        counters: Vec::new(),
    }
}

fn native(id: IdFields) -> MappingConfig {
    config(id, SyncMode::Json)
}

fn oid() -> ObjectId {
    ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60718").unwrap()
}

fn canonical(doc: &Document) -> serde_json::Value {
    Bson::Document(doc.clone()).into_canonical_extjson()
}

#[test]
fn match_id_keeps_the_id_and_restores_an_object_id() {
    let cfg = native(IdFields::MatchId);
    let doc = doc! {"_id": oid(), "title": "buy milk"};
    let edge = to_edge(&doc, &cfg).unwrap();
    assert_eq!(edge.id, json!("64b7f0c2a1b2c3d4e5f60718"));
    assert_eq!(edge.key, "\"64b7f0c2a1b2c3d4e5f60718\"");
    assert_eq!(
        serde_json::Value::Object(edge.body.clone()),
        json!({"_id": "64b7f0c2a1b2c3d4e5f60718", "title": "buy milk"})
    );
    assert_eq!(edge.types, Some(json!({"_id": "objectId"})));
    let back = to_mongo(&edge.body, edge.types.as_ref(), &cfg).unwrap();
    assert_eq!(back.document, doc);
    assert_eq!(back.filter, doc! {"_id": oid()});
    assert!(back.warnings.is_empty());
}

#[test]
fn match_id_refuses_null_arrays_objects_and_booleans() {
    let cfg = native(IdFields::MatchId);
    for (id, what) in [
        (Bson::Null, "null"),
        (Bson::Array(vec![Bson::Int32(1)]), "an array"),
        (Bson::Document(doc! {"a": 1}), "an object"),
        (Bson::Boolean(true), "a boolean"),
    ] {
        let doc = doc! {"_id": id.clone(), "x": 1};
        let rejected = to_edge(&doc, &cfg).unwrap_err();
        assert_eq!(rejected.diagnostic.code, "id_value_forbidden");
        assert_eq!(rejected.diagnostic.path, "_id");
        assert!(rejected.diagnostic.message.contains(what), "{rejected:?}");
        assert_eq!(
            rejected.mongo_id.as_deref(),
            Some(&id.into_canonical_extjson())
        );
    }
    let binary = Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![1, 2],
    });
    let rejected = to_edge(&doc! {"_id": binary}, &cfg).unwrap_err();
    assert!(
        rejected.diagnostic.message.contains("binary"),
        "{rejected:?}"
    );
}

#[test]
fn single_field_maps_that_field_and_drops_mongo_id() {
    let cfg = native(IdFields::Single("orderId".into()));
    let doc = doc! {"_id": oid(), "orderId": "o-17", "qty": 3};
    let edge = to_edge(&doc, &cfg).unwrap();
    assert_eq!(edge.id, json!("o-17"));
    assert_eq!(
        serde_json::Value::Object(edge.body.clone()),
        json!({"_id": "o-17", "orderId": "o-17", "qty": 3})
    );
    assert_eq!(edge.types, None);
    let back = to_mongo(&edge.body, edge.types.as_ref(), &cfg).unwrap();
    assert_eq!(back.filter, doc! {"orderId": "o-17"});
    assert_eq!(back.document, doc! {"orderId": "o-17", "qty": 3});
}

#[test]
fn single_field_missing_or_null_is_reported_with_the_mongo_id() {
    let cfg = native(IdFields::Single("orderId".into()));
    let missing = to_edge(&doc! {"_id": oid(), "qty": 3}, &cfg).unwrap_err();
    assert_eq!(missing.diagnostic.code, "id_field_missing");
    assert_eq!(missing.diagnostic.path, "orderId");
    assert_eq!(
        missing.mongo_id.as_deref(),
        Some(&json!({"$oid": "64b7f0c2a1b2c3d4e5f60718"}))
    );
    let null = to_edge(&doc! {"_id": 1, "orderId": Bson::Null}, &cfg).unwrap_err();
    assert_eq!(null.diagnostic.code, "id_value_forbidden");
}

#[test]
fn composite_ids_are_objects_of_the_fields_and_restore_their_types() {
    let cfg = native(IdFields::Composite(vec![
        "storeId".into(),
        "orderId".into(),
    ]));
    let doc = doc! {"_id": oid(), "storeId": oid(), "orderId": 42_i64, "total": 9.5};
    let edge = to_edge(&doc, &cfg).unwrap();
    assert_eq!(
        edge.id,
        json!({"storeId": "64b7f0c2a1b2c3d4e5f60718", "orderId": 42})
    );
    assert_eq!(
        edge.key,
        r#"{"orderId":42,"storeId":"64b7f0c2a1b2c3d4e5f60718"}"#
    );
    assert_eq!(
        edge.types,
        Some(json!({"storeId": "objectId", "orderId": "long", "total": "double"}))
    );
    let back = to_mongo(&edge.body, edge.types.as_ref(), &cfg).unwrap();
    assert_eq!(back.filter, doc! {"storeId": oid(), "orderId": 42_i64});
    assert_eq!(
        back.document,
        doc! {"storeId": oid(), "orderId": 42_i64, "total": 9.5}
    );
    let missing = to_edge(&doc! {"_id": 1, "storeId": "s"}, &cfg).unwrap_err();
    assert_eq!(missing.diagnostic.code, "id_field_missing");
    assert_eq!(missing.diagnostic.path, "orderId");
}

#[test]
fn edge_documents_without_id_fields_in_the_body_get_them_from_the_id() {
    let cfg = native(IdFields::Composite(vec!["a".into(), "b".into()]));
    let body = json!({"_id": {"a": "x", "b": 2}, "n": 1});
    let back = to_mongo(body.as_object().unwrap(), None, &cfg).unwrap();
    assert_eq!(back.document, doc! {"a": "x", "b": 2, "n": 1});
    let changed = json!({"_id": {"a": "x", "b": 2}, "a": "y"});
    let back = to_mongo(changed.as_object().unwrap(), None, &cfg).unwrap();
    assert_eq!(back.document.get_str("a").unwrap(), "x");
    assert_eq!(back.warnings[0].code, "id_field_changed");
    let not_object = json!({"_id": "x"});
    assert_eq!(
        to_mongo(not_object.as_object().unwrap(), None, &cfg)
            .unwrap_err()
            .code,
        "id_value_forbidden"
    );
}

#[test]
fn native_type_table() {
    let cfg = native(IdFields::MatchId);
    let date = DateTime::from_millis(1_700_000_000_123);
    let decimal = Decimal128::from_str("1234.5678").unwrap();
    let doc = doc! {
        "_id": 1,
        "double": 2.5,
        "whole_double": 3.0,
        "string": "s",
        "object": {"inner": 1_i64},
        "array": [1, "two", oid()],
        "oid": oid(),
        "bool": true,
        "date": date,
        "null": Bson::Null,
        "regex": Regex { pattern: "^a.*".to_owned().try_into().unwrap(), options: "i".to_owned().try_into().unwrap() },
        "int": 7,
        "long": 8_i64,
        "ts": Timestamp { time: 1_700_000_000, increment: 3 },
        "decimal": decimal,
    };
    let edge = to_edge(&doc, &cfg).unwrap();
    assert_eq!(
        serde_json::Value::Object(edge.body.clone()),
        json!({
            "_id": 1,
            "double": 2.5,
            "whole_double": 3.0,
            "string": "s",
            "object": {"inner": 1},
            "array": [1, "two", "64b7f0c2a1b2c3d4e5f60718"],
            "oid": "64b7f0c2a1b2c3d4e5f60718",
            "bool": true,
            "date": "2023-11-14T22:13:20.123Z",
            "null": null,
            "regex": {"$regularExpression": {"pattern": "^a.*", "options": "i"}},
            "int": 7,
            "long": 8,
            "ts": 1_700_000_000,
            "decimal": "1234.5678",
        })
    );
    assert_eq!(
        edge.types,
        Some(json!({
            "double": "double",
            "whole_double": "double",
            "object": {"inner": "long"},
            "array": {"2": "objectId"},
            "oid": "objectId",
            "date": "date",
            "regex": "regex",
            "long": "long",
            "ts": "timestamp:3",
            "decimal": "decimal",
        }))
    );
    assert!(edge.warnings.is_empty());
    let back = to_mongo(&edge.body, edge.types.as_ref(), &cfg).unwrap();
    assert_eq!(canonical(&back.document), canonical(&doc));
}

#[test]
fn dates_have_milliseconds_and_out_of_range_dates_are_dropped() {
    let cfg = native(IdFields::MatchId);
    let doc =
        doc! {"_id": 1, "at": DateTime::from_millis(0), "far": DateTime::from_millis(i64::MAX)};
    let edge = to_edge(&doc, &cfg).unwrap();
    assert_eq!(edge.body["at"], json!("1970-01-01T00:00:00.000Z"));
    assert!(!edge.body.contains_key("far"));
    assert_eq!(edge.warnings.len(), 1);
    assert_eq!(edge.warnings[0].code, "unsupported_type");
    assert_eq!(edge.warnings[0].path, "far");
}

#[test]
fn non_finite_doubles_round_trip_as_strings() {
    let cfg = native(IdFields::MatchId);
    let doc = doc! {"_id": 1, "nan": f64::NAN, "inf": f64::INFINITY, "ninf": f64::NEG_INFINITY, "nz": -0.0};
    let edge = to_edge(&doc, &cfg).unwrap();
    assert_eq!(edge.body["nan"], json!("NaN"));
    assert_eq!(edge.body["inf"], json!("Infinity"));
    let back = to_mongo(&edge.body, edge.types.as_ref(), &cfg).unwrap();
    assert_eq!(canonical(&back.document), canonical(&doc));
}

#[test]
fn unsupported_types_are_dropped_reported_and_preserved() {
    let cfg = native(IdFields::MatchId);
    let bin = Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![1, 2, 3],
    });
    let doc = doc! {
        "_id": 1,
        "blob": bin.clone(),
        "code": Bson::JavaScriptCode("x".into()),
        "list": [1, bin, 3],
        "min": Bson::MinKey,
        "keep": "yes",
    };
    let edge = to_edge(&doc, &cfg).unwrap();
    assert_eq!(
        serde_json::Value::Object(edge.body.clone()),
        json!({"_id": 1, "list": [1, null, 3], "keep": "yes"})
    );
    let paths: Vec<&str> = edge.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["blob", "code", "list.1", "min"]);
    assert!(edge.warnings.iter().all(|w| w.code == "unsupported_type"));
    assert!(edge.warnings[0].message.contains("binary"));
    let back = to_mongo(&edge.body, edge.types.as_ref(), &cfg).unwrap();
    let preserve: Vec<String> = back.preserve.iter().map(|p| p.join(".")).collect();
    assert_eq!(preserve, ["blob", "code", "list.1", "min"]);
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    // The update a writer sends writes the edge's fields and keeps MongoDB's values of those.
    let pipeline = back.merge_update().unwrap();
    assert_eq!(
        merge::carried_document(&pipeline),
        Some(doc! {"_id": 1, "list": [1, Bson::Null, 3], "keep": "yes"})
    );
    // The array shrank on the edge: its kept element cannot be written around any more.
    let mut shrunk = edge.body.clone();
    shrunk["list"] = json!([1, null]);
    let back = to_mongo(&shrunk, edge.types.as_ref(), &cfg).unwrap();
    assert!(
        !back
            .preserve
            .contains(&vec!["list".to_owned(), "1".to_owned()])
    );
    assert_eq!(back.warnings[0].code, "unsupported_value_lost");
    assert_eq!(back.warnings[0].path, "list");
    let pipeline = back.merge_update().unwrap();
    assert_eq!(
        pipeline[0]
            .get_document("$replaceWith")
            .unwrap()
            .get("list"),
        Some(&Bson::Document(doc! {"$literal": [1, Bson::Null]}))
    );
}

#[test]
fn doubles_stay_doubles_when_the_edge_writes_a_whole_number() {
    let cfg = native(IdFields::MatchId);
    let edge = to_edge(&doc! {"_id": 1, "price": 2.5, "n": 4}, &cfg).unwrap();
    assert_eq!(edge.types, Some(json!({"price": "double"})));
    let edited = json!({"_id": 1, "price": 3, "n": 5.0});
    let back = to_mongo(edited.as_object().unwrap(), edge.types.as_ref(), &cfg).unwrap();
    assert_eq!(back.document.get("price"), Some(&Bson::Double(3.0)));
    assert!(back.warnings.is_empty());
}

#[test]
fn timestamp_ids_are_refused_because_the_increment_would_be_lost() {
    let cfg = native(IdFields::MatchId);
    let ts = Bson::Timestamp(Timestamp {
        time: 100,
        increment: 1,
    });
    let rejected = to_edge(&doc! {"_id": ts}, &cfg).unwrap_err();
    assert_eq!(rejected.diagnostic.code, "id_value_forbidden");
    assert!(rejected.diagnostic.message.contains("timestamp"));
}

#[test]
fn counters_are_taken_through_objects_only() {
    let cfg = MappingConfig {
        id: IdFields::MatchId,
        mode: SyncMode::Json,
        counters: vec![vec!["items".into(), "0".into()]],
    };
    let edge = to_edge(&doc! {"_id": 1, "items": [3, 4]}, &cfg).unwrap();
    assert!(edge.counters.is_empty());
    assert_eq!(edge.body["items"], json!([3, 4]));
}

#[test]
fn ejson_counters_come_back_as_their_original_integer_type() {
    let cfg = MappingConfig {
        id: IdFields::MatchId,
        mode: SyncMode::Ejson,
        counters: vec![vec!["qty".into()], vec!["o".into(), "n".into()]],
    };
    let edge = to_edge(&doc! {"_id": 1, "qty": 7_i64, "o": {"n": 2}}, &cfg).unwrap();
    assert_eq!(edge.counters.len(), 2);
    assert_eq!(edge.types, Some(json!({"qty": "long", "o": {"n": "int"}})));
    let view = json!({"_id": {"$numberInt": "1"}, "qty": 8.0, "o": {"n": 3.0}});
    let back = to_mongo(view.as_object().unwrap(), edge.types.as_ref(), &cfg).unwrap();
    assert_eq!(back.document, doc! {"_id": 1, "qty": 8_i64, "o": {"n": 3}});
}

#[test]
fn ejson_mode_warns_about_dollar_prefixed_field_names() {
    let cfg = config(IdFields::MatchId, SyncMode::Ejson);
    let edge = to_edge(&doc! {"_id": 1, "x": {"$oid": "not really"}}, &cfg).unwrap();
    assert_eq!(edge.warnings[0].code, "dollar_prefixed_field");
    assert_eq!(edge.warnings[0].path, "x.$oid");
}

#[test]
fn values_that_no_longer_fit_their_type_take_the_natural_mapping_with_a_warning() {
    let cfg = native(IdFields::MatchId);
    let types = json!({"at": "date", "oid": "objectId", "n": "long", "d": "decimal"});
    let body = json!({"_id": 1, "at": "not a date", "oid": 5, "n": 2.5, "d": "12.5"});
    let back = to_mongo(body.as_object().unwrap(), Some(&types), &cfg).unwrap();
    assert_eq!(back.document.get_str("at").unwrap(), "not a date");
    assert_eq!(back.document.get_i32("oid").unwrap(), 5);
    assert_eq!(back.document.get_f64("n").unwrap(), 2.5);
    assert_eq!(
        back.document.get("d"),
        Some(&Bson::Decimal128(Decimal128::from_str("12.5").unwrap()))
    );
    let paths: Vec<&str> = back.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["at", "oid", "n"]);
    assert!(back.warnings.iter().all(|w| w.code == "type_not_restored"));
}

#[test]
fn device_written_values_use_the_natural_mapping() {
    let cfg = native(IdFields::MatchId);
    let body = json!({"_id": "abc", "small": 5, "big": 5_000_000_000_i64, "f": 1.5, "o": {"k": [true, null]}});
    let back = to_mongo(body.as_object().unwrap(), None, &cfg).unwrap();
    assert_eq!(
        back.document,
        doc! {"_id": "abc", "small": 5, "big": 5_000_000_000_i64, "f": 1.5, "o": {"k": [true, Bson::Null]}}
    );
}

#[test]
fn settable_counters_become_resets_and_come_back_as_their_integer_type() {
    let cfg = MappingConfig {
        id: IdFields::MatchId,
        mode: SyncMode::Json,
        counters: vec![
            vec!["qty".into()],
            vec!["order".into(), "n".into()],
            vec!["label".into()],
        ],
    };
    let doc = doc! {"_id": 1, "qty": 5, "order": {"n": 7_i64, "x": 1}, "label": "not a number"};
    let edge = to_edge(&doc, &cfg).unwrap();
    assert_eq!(
        edge.counters,
        vec![
            (vec!["qty".to_owned()], 5.0),
            (vec!["order".to_owned(), "n".to_owned()], 7.0)
        ]
    );
    assert_eq!(
        serde_json::Value::Object(edge.body.clone()),
        json!({"_id": 1, "order": {"x": 1}, "label": "not a number"})
    );
    assert_eq!(edge.warnings[0].code, "counter_not_number");
    assert_eq!(edge.warnings[0].path, "label");
    // The edge view shows counters as floats after increments.
    let view = json!({"_id": 1, "qty": 8.0, "order": {"n": 9.0, "x": 1}, "label": "not a number"});
    let back = to_mongo(view.as_object().unwrap(), edge.types.as_ref(), &cfg).unwrap();
    assert_eq!(
        back.document,
        doc! {"_id": 1, "qty": 8, "order": {"n": 9_i64, "x": 1}, "label": "not a number"}
    );
}

#[test]
fn ejson_mode_is_canonical_and_exact() {
    let cfg = config(IdFields::MatchId, SyncMode::Ejson);
    let doc = doc! {"_id": oid(), "n": 1, "l": 2_i64, "d": 1.5, "at": DateTime::from_millis(5), "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![9] }};
    let edge = to_edge(&doc, &cfg).unwrap();
    assert_eq!(edge.id, json!({"$oid": "64b7f0c2a1b2c3d4e5f60718"}));
    assert_eq!(edge.body["n"], json!({"$numberInt": "1"}));
    assert_eq!(edge.body["at"], json!({"$date": {"$numberLong": "5"}}));
    assert_eq!(edge.types, None);
    assert!(edge.warnings.is_empty());
    let back = to_mongo(&edge.body, None, &cfg).unwrap();
    assert_eq!(back.document, doc);
    let bad = json!({"_id": "x", "v": {"$oid": 5}});
    assert_eq!(
        to_mongo(bad.as_object().unwrap(), None, &cfg)
            .unwrap_err()
            .code,
        "invalid_ejson"
    );
}

#[test]
fn nesting_beyond_the_limit_is_refused_not_a_crash() {
    let cfg = native(IdFields::MatchId);
    let mut value = serde_json::Value::from(1);
    for _ in 0..150 {
        value = json!({ "a": value });
    }
    let body = json!({"_id": 1, "deep": value});
    assert_eq!(
        to_mongo(body.as_object().unwrap(), None, &cfg)
            .unwrap_err()
            .code,
        "too_deep"
    );
    let mut deep = Bson::Int32(1);
    for _ in 0..150 {
        deep = Bson::Document(doc! {"a": deep});
    }
    let rejected = to_edge(&doc! {"_id": 1, "deep": deep}, &cfg).unwrap_err();
    assert_eq!(rejected.diagnostic.code, "too_deep");
    assert_eq!(
        rejected.mongo_id.as_deref(),
        Some(&json!({"$numberInt": "1"}))
    );
}
