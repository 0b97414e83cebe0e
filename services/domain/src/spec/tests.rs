//! Unit tests of connector spec validation.

use super::*;
use serde_json::json;

fn paths(body: Value) -> Vec<String> {
    match parse_connector(&body, SecretRule::Required) {
        Ok(_) => Vec::new(),
        Err(v) => v.into_iter().map(|v| v.path).collect(),
    }
}

fn valid() -> Value {
    json!({
        "name": "retail",
        "connectionString": "mongodb+srv://user:pass@cluster.example.net/",
        "database": "retail-demo",
        "collections": {
            "tasks": {"fields": ["_id"], "initialSync": true, "mode": "ejson", "dqlStrictMode": false},
            "users": {"fields": ["userId"]},
            "orders": {"fields": ["orderId", "storeId"], "filter": {"deleted": false},
                       "settableCounters": ["quantity", "order.qty"], "dqlStrictMode": false}
        }
    })
}

#[test]
fn design_example_is_valid_and_defaults_are_filled() {
    let draft = parse_connector(&valid(), SecretRule::Required).unwrap();
    let users = &draft.spec.collections["users"];
    assert!(!users.initial_sync);
    assert_eq!(users.mode, SyncMode::Json);
    assert!(users.dql_strict_mode);
    assert_eq!(users.id_mapping(), IdMapping::SingleField("userId"));
    assert_eq!(
        draft.spec.collections["tasks"].id_mapping(),
        IdMapping::MatchId
    );
    assert!(
        matches!(draft.spec.collections["orders"].id_mapping(), IdMapping::Composite(f) if f.len() == 2)
    );
    assert_eq!(draft.spec.description, "");
}

#[test]
fn reference_spelling_of_settable_counters_is_accepted() {
    let mut body = valid();
    body["collections"]["inventory"] = json!({
        "fields": ["_id"], "dqlStrictMode": false, "dittoTypes": {"settableCounters": ["quantity"]}
    });
    let draft = parse_connector(&body, SecretRule::Required).unwrap();
    assert_eq!(
        draft.spec.collections["inventory"].settable_counters,
        ["quantity"]
    );
}

#[test]
fn every_violation_is_reported_at_once() {
    let body = json!({
        "name": "bad name",
        "connectionString": "http://x",
        "database": "admin",
        "colour": 1,
        "collections": {
            "system.users": {"fields": ["_id"]},
            "a": {"fields": ["_id", "x"], "mode": "bson"},
            "b": {"fields": ["x.y", "x.y"], "mode": "ejson"},
            "c": {"fields": [], "settableCounters": ["c..d", "n"], "filter": 3},
            "d": {"fields": ["k"], "settableCounters": ["k"], "dqlStrictMode": false},
            "e": "nope"
        }
    });
    let got = paths(body);
    for expected in [
        "/name",
        "/connectionString",
        "/database",
        "/colour",
        "/collections/system.users",
        "/collections/a/fields/0",
        "/collections/a/mode",
        "/collections/b/fields/0",
        "/collections/b/fields/1",
        "/collections/b/dqlStrictMode",
        "/collections/c/fields",
        "/collections/c/settableCounters/0",
        "/collections/c/filter",
        "/collections/c/dqlStrictMode",
        "/collections/d/settableCounters/0",
        "/collections/e",
    ] {
        assert!(
            got.contains(&expected.to_string()),
            "missing {expected} in {got:?}"
        );
    }
}

#[test]
fn connection_string_required_only_when_asked() {
    let mut body = valid();
    body.as_object_mut().unwrap().remove("connectionString");
    assert_eq!(paths(body.clone()), ["/connectionString"]);
    let draft = parse_connector(&body, SecretRule::Optional).unwrap();
    assert!(draft.connection_string.is_none());
}

#[test]
fn read_only_members_are_ignored_but_typos_are_not() {
    let mut body = valid();
    body["id"] = json!("x");
    body["status"] = json!("running");
    assert!(paths(body.clone()).is_empty());
    body["databse"] = json!("x");
    assert_eq!(paths(body), ["/databse"]);
}

#[test]
fn counters_given_twice_or_nested_in_each_other_are_refused() {
    let mut body = valid();
    body["collections"]["orders"]["dittoTypes"] = json!({"settableCounters": ["a"]});
    assert_eq!(
        paths(body),
        ["/collections/orders/dittoTypes/settableCounters"]
    );
    let mut body = valid();
    body["collections"]["orders"]["settableCounters"] = json!(["a", "a.b"]);
    assert_eq!(
        paths(body.clone()),
        ["/collections/orders/settableCounters/1"]
    );
    // Nothing under `_id` can be a counter, whatever the ID fields are.
    body["collections"]["orders"]["settableCounters"] = json!(["_id.a", "ok"]);
    assert_eq!(paths(body), ["/collections/orders/settableCounters/0"]);
}

#[test]
fn empty_collections_and_non_object_body() {
    let mut body = valid();
    body["collections"] = json!({});
    assert_eq!(paths(body), ["/collections"]);
    assert_eq!(paths(json!([1])), [""]);
}

#[test]
fn normalized_output_uses_canonical_spelling() {
    let mut body = valid();
    body["collections"] = json!({"inv": {"fields": ["_id"], "dqlStrictMode": false, "dittoTypes": {"settableCounters": ["q"]}}});
    let draft = parse_connector(&body, SecretRule::Required).unwrap();
    let out = serde_json::to_value(&draft.spec.collections["inv"]).unwrap();
    assert_eq!(
        out,
        json!({"fields": ["_id"], "initialSync": false, "mode": "json", "dqlStrictMode": false, "settableCounters": ["q"]})
    );
}

#[test]
fn every_read_only_member_of_a_read_connector_is_ignored() {
    let mut body = valid();
    for member in READ_ONLY {
        body[*member] = json!({"anything": [1, "x"]});
    }
    assert!(paths(body).is_empty());
}

#[test]
fn desired_state_is_read_and_checked() {
    let mut body = valid();
    assert_eq!(
        parse_connector(&body, SecretRule::Required)
            .unwrap()
            .desired_state,
        None
    );
    body["desiredState"] = json!("paused");
    assert_eq!(
        parse_connector(&body, SecretRule::Required)
            .unwrap()
            .desired_state,
        Some(DesiredState::Paused)
    );
    body["desiredState"] = json!("stopped");
    assert_eq!(paths(body), ["/desiredState"]);
}
