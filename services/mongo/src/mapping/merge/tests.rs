use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, doc};
use edgebridge_domain::spec::SyncMode;
use serde_json::json;

use super::{MAX_EXPRESSION_DEPTH, carried_document};
use crate::mapping::{IdFields, MappingConfig, MongoDocument, to_edge, to_mongo};

fn native(id: IdFields) -> MappingConfig {
    MappingConfig {
        id,
        mode: SyncMode::Json,
        counters: Vec::new(),
    }
}

fn bin() -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![1, 2, 3],
    })
}

/// MongoDB's document as the edge holds it, edited by `edit`, and back.
fn edited(
    stored: &Document,
    config: &MappingConfig,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> MongoDocument {
    let edge = to_edge(stored, config).unwrap();
    let mut body = edge.body.clone();
    edit(&mut body);
    to_mongo(&body, edge.types.as_ref(), config).unwrap()
}

/// The `$replaceWith` expression with each value in place of its `$literal` and `"<kept>"` in
/// place of each read of a kept value.
fn shape(expression: &Bson) -> Bson {
    match expression {
        Bson::Document(d) => match d.keys().next() {
            Some(op) if op == "$literal" => d.get("$literal").cloned().unwrap(),
            Some(op) if op.starts_with('$') => Bson::String("<kept>".to_owned()),
            _ => Bson::Document(d.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        },
        Bson::Array(items) => Bson::Array(items.iter().map(shape).collect()),
        other => other.clone(),
    }
}

fn shape_of(pipeline: &[Document]) -> Bson {
    assert_eq!(pipeline.len(), 1, "{pipeline:?}");
    shape(
        pipeline[0]
            .get("$replaceWith")
            .expect("a $replaceWith stage"),
    )
}

#[test]
fn a_field_deleted_on_the_edge_is_not_written_and_kept_fields_go_last() {
    let stored = doc! {"_id": 1, "blob": bin(), "gone": 1, "keep": 2};
    let back = edited(&stored, &native(IdFields::MatchId), |body| {
        body.remove("gone");
    });
    let pipeline = back.merge_update().unwrap();
    assert_eq!(
        shape_of(&pipeline),
        Bson::Document(doc! {"_id": 1, "keep": 2, "blob": "<kept>"})
    );
    assert_eq!(
        carried_document(&pipeline),
        Some(doc! {"_id": 1, "keep": 2})
    );
}

#[test]
fn kept_array_elements_are_read_by_index_and_objects_in_arrays_member_by_member() {
    let stored = doc! {"_id": 1, "list": [1, bin(), {"x": bin(), "y": 1}]};
    let back = edited(&stored, &native(IdFields::MatchId), |body| {
        body["list"][2]["y"] = json!(2);
    });
    let pipeline = back.merge_update().unwrap();
    assert_eq!(
        shape_of(&pipeline),
        Bson::Document(doc! {"_id": 1, "list": [1, "<kept>", {"y": 2, "x": "<kept>"}]})
    );
    let list = pipeline[0]
        .get_document("$replaceWith")
        .unwrap()
        .get_array("list")
        .unwrap();
    // The element is read only from an array: another writer's object there gives nothing.
    assert_eq!(
        list[1],
        Bson::Document(doc! {"$let": {
            "vars": {"parent": {"$getField": {"field": {"$literal": "list"}, "input": "$$ROOT"}}},
            "in": {"$cond": {
                "if": {"$eq": [{"$type": "$$parent"}, "array"]},
                "then": {"$arrayElemAt": ["$$parent", 1]},
                "else": "$$REMOVE",
            }},
        }})
    );
    assert_eq!(
        carried_document(&pipeline),
        Some(doc! {"_id": 1, "list": [1, Bson::Null, {"y": 2}]})
    );
}

#[test]
fn a_container_the_edge_deleted_or_replaced_takes_its_kept_values_with_it() {
    let stored = doc! {"_id": 1, "a": {"b": bin(), "c": 1}, "d": {"e": bin()}, "blob": bin()};
    let back = edited(&stored, &native(IdFields::MatchId), |body| {
        body.remove("a");
        body.insert("d".into(), json!("now a string"));
    });
    assert_eq!(
        shape_of(&back.merge_update().unwrap()),
        Bson::Document(doc! {"_id": 1, "d": "now a string", "blob": "<kept>"})
    );
}

#[test]
fn mongodb_keeps_its_own_id_when_the_mapping_builds_the_edge_id_from_other_fields() {
    let stored = doc! {"_id": 9, "orderId": "o-1", "blob": bin(), "qty": 1};
    let back = edited(&stored, &native(IdFields::Single("orderId".into())), |_| {});
    let pipeline = back.merge_update().unwrap();
    let root = pipeline[0].get_document("$replaceWith").unwrap();
    assert_eq!(root.keys().next().map(String::as_str), Some("_id"));
    assert_eq!(
        root.get("_id"),
        Some(&Bson::Document(
            doc! {"$getField": {"field": {"$literal": "_id"}, "input": "$$ROOT"}}
        ))
    );
    assert_eq!(
        shape_of(&pipeline),
        Bson::Document(doc! {"_id": "<kept>", "orderId": "o-1", "qty": 1, "blob": "<kept>"})
    );
    assert_eq!(
        carried_document(&pipeline),
        Some(doc! {"orderId": "o-1", "qty": 1})
    );
}

#[test]
fn kept_values_too_deep_to_read_under_mongodbs_nesting_limit_are_refused() {
    let mut deep = bin();
    for _ in 0..60 {
        deep = Bson::Document(doc! {"a": deep, "n": 1});
    }
    let stored = doc! {"_id": 1, "deep": deep};
    let back = edited(&stored, &native(IdFields::MatchId), |_| {});
    assert_eq!(back.preserve[0].len(), 61);
    let refused = back.merge_update().unwrap_err();
    assert_eq!(refused.code, "too_deep");
    assert!(
        refused.message.contains(&MAX_EXPRESSION_DEPTH.to_string()),
        "{refused:?}"
    );
    // Ten levels down is fine.
    let mut shallow = bin();
    for _ in 0..10 {
        shallow = Bson::Document(doc! {"a": shallow});
    }
    let back = edited(
        &doc! {"_id": 1, "deep": shallow},
        &native(IdFields::MatchId),
        |_| {},
    );
    assert!(back.merge_update().is_ok());
}

#[test]
fn carried_document_reads_only_merge_updates() {
    assert_eq!(carried_document(&[]), None);
    assert_eq!(carried_document(&[doc! {"$set": {"a": 1}}]), None);
    assert_eq!(
        carried_document(&[doc! {"$replaceWith": {"a": {"$literal": "$x"}}}]),
        Some(doc! {"a": "$x"})
    );
}

#[test]
fn merge_update_refuses_names_an_expression_object_cannot_hold() {
    let cfg = native(IdFields::MatchId);
    let bin = Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![7],
    });
    let edge = to_edge(&doc! {"_id": 1, "a.b": 1, "c": {"d.e": bin, "f": 2}}, &cfg).unwrap();
    let back = to_mongo(&edge.body, edge.types.as_ref(), &cfg).unwrap();
    let refused = back.merge_update().unwrap_err();
    assert_eq!(refused.code, "field_not_addressable");
    assert_eq!(refused.path, "a.b");
}

#[test]
fn merge_update_writes_whole_values_unless_something_inside_is_kept() {
    let cfg = native(IdFields::MatchId);
    let bin = Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![7],
    });
    let doc = doc! {"_id": 1, "a": {"b": bin, "c": 2}, "d": {"e": 1}};
    let edge = to_edge(&doc, &cfg).unwrap();
    let mut body = edge.body.clone();
    body["a"]["c"] = json!(5);
    let back = to_mongo(&body, edge.types.as_ref(), &cfg).unwrap();
    assert_eq!(back.preserve, vec![vec!["a".to_owned(), "b".to_owned()]]);
    let kept = doc! {"$let": {
        "vars": {"parent": {"$getField": {"field": {"$literal": "a"}, "input": "$$ROOT"}}},
        "in": {"$cond": {
            "if": {"$eq": [{"$type": "$$parent"}, "object"]},
            "then": {"$getField": {"field": {"$literal": "b"}, "input": "$$parent"}},
            "else": "$$REMOVE",
        }},
    }};
    assert_eq!(
        back.merge_update(),
        Ok(vec![doc! {"$replaceWith": {
            "_id": {"$literal": 1},
            "a": {"c": {"$literal": 5}, "b": kept},
            "d": {"$literal": {"e": 1}},
        }}])
    );
}
