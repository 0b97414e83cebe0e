//! The committed OpenAPI document matches the code, and is usable for generating clients.

use serde_json::Value;
use std::collections::HashSet;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");

#[test]
fn committed_document_matches_the_code() {
    let generated = edgebridge_api::openapi::document_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p edgebridge --test e2e openapi` \
         (or `cargo run -p edgebridge -- openapi > openapi/openapi.json`) and commit it"
    );
}

#[test]
fn every_operation_is_documented_for_sdk_generation() {
    let doc: Value = serde_json::from_str(&edgebridge_api::openapi::document_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut operation_ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(
                operation_ids.insert(id.to_owned()),
                "duplicate operationId {id}"
            );
            assert!(
                id.chars().next().unwrap().is_ascii_lowercase(),
                "{id} is not camelCase"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id}: no tag"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{id}: no summary"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|c| c.starts_with('2')),
                "{id}: no success response"
            );
            if path.starts_with("/v1/") {
                for code in ["400", "401", "403", "429", "500"] {
                    assert!(responses.contains_key(code), "{id}: no {code} response");
                }
            }
        }
    }
    for expected in [
        "listApps",
        "createApp",
        "getApp",
        "updateApp",
        "deleteApp",
        "listApiKeys",
        "createApiKey",
        "revokeApiKey",
        "createAccessToken",
        "listConnectors",
        "createConnector",
        "validateConnector",
        "getConnector",
        "replaceConnector",
        "updateConnector",
        "deleteConnector",
        "pauseConnector",
        "resumeConnector",
        "getHealth",
        "getReadiness",
    ] {
        assert!(
            operation_ids.contains(expected),
            "missing operation {expected}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ConnectorIn",
        "ConnectorOut",
        "ConnectorUpdate",
        "ReconfigurationPlan",
        "Problem",
        "Violation",
        "ApiKeyCreated",
    ] {
        assert!(schemas.contains_key(name), "missing schema {name}");
    }
}
