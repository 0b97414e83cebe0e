//! Every answer the end-to-end tests get through `TestApp`'s request helpers is checked against
//! the committed OpenAPI document, as a client generated from it would read it: the status must
//! be documented for the operation, and the body must validate against its schema. A wrong
//! `$ref` (a schema name two types share) or an undocumented status fails the test that met it.

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

static DOCUMENT: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(COMMITTED).expect("openapi/openapi.json parses"));

type Validators = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;
static VALIDATORS: LazyLock<Validators> = LazyLock::new(Default::default);

/// The document's path template for a concrete path (literal segments win over parameters),
/// whatever the method.
fn any_template_for(path: &str) -> Option<String> {
    ["get", "post", "put", "patch", "delete"]
        .iter()
        .find_map(|m| {
            template_for(
                &Method::from_bytes(m.to_uppercase().as_bytes()).unwrap(),
                path,
            )
        })
}

/// The document's path template for a concrete path (literal segments win over parameters).
fn template_for(method: &Method, path: &str) -> Option<String> {
    let method = method.as_str().to_ascii_lowercase();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let paths = DOCUMENT["paths"].as_object()?;
    let mut best: Option<(usize, &String)> = None;
    for (template, operations) in paths {
        if operations.get(&method).is_none() {
            continue;
        }
        let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literals = 0;
        let fits = parts.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty()
            } else {
                literals += 1;
                t == s
            }
        });
        if fits && best.is_none_or(|(n, _)| literals > n) {
            best = Some((literals, template));
        }
    }
    best.map(|(_, t)| t.clone())
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    if let Some(v) = VALIDATORS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(pointer)
    {
        return v.clone();
    }
    // The whole document is the schema resource, so `#/components/...` references resolve;
    // the response schema sits in its `$defs`, and its own `$ref` points there.
    let schema = DOCUMENT
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no schema at {pointer}"))
        .clone();
    let mut root = DOCUMENT.clone();
    let object = root.as_object_mut().unwrap();
    object.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    object.insert("$defs".into(), json!({ "response": schema }));
    object.insert("$ref".into(), json!("#/$defs/response"));
    let validator = Arc::new(
        jsonschema::options()
            // `uuid`, `date-time` and the like are checked, not just annotations.
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}")),
    );
    VALIDATORS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pointer.to_owned(), validator.clone());
    validator
}

/// Panics when the answer does not conform to the committed document. Paths the document does
/// not describe (the workers' internal routes, unknown routes) are not checked.
pub fn check(method: &Method, path: &str, status: u16, content_type: &str, body: &[u8]) {
    let path = path.split('?').next().unwrap_or(path);
    let Some(template) = template_for(method, path) else {
        // A documented path called with a method it does not take must answer 405; paths the
        // document does not describe (the workers' routes, unknown ones) are not checked.
        if let Some(template) = any_template_for(path) {
            assert!(
                status == 405 || status == 404,
                "{method} {path} answered {status}, but {template} has no {method} operation"
            );
        }
        return;
    };
    let operation = &DOCUMENT["paths"][&template][method.as_str().to_ascii_lowercase()];
    let responses = &operation["responses"];
    let code = status.to_string();
    let documented = responses.get(&code).is_some();
    assert!(
        documented,
        "{method} {path} answered {status}, which {template} does not document (it documents {:?}); body: {}",
        responses.as_object().map(|r| r.keys().collect::<Vec<_>>()),
        String::from_utf8_lossy(body)
    );
    let media = content_type.split(';').next().unwrap_or("").trim();
    let content = &responses[&code]["content"];
    if content.is_null() {
        assert!(
            body.is_empty(),
            "{method} {path} {status}: the document says no body, got {}",
            String::from_utf8_lossy(body)
        );
        return;
    }
    if content.get(media).is_none() {
        panic!(
            "{method} {path} {status}: content type {media:?} is not documented ({:?})",
            content.as_object().map(|c| c.keys().collect::<Vec<_>>())
        );
    }
    if content[media].get("schema").is_none() {
        return;
    }
    let instance: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!("{method} {path} {status}: the body is not JSON ({e})");
    });
    let pointer = format!(
        "/paths/{}/{}/responses/{code}/content/{}/schema",
        pointer_escape(&template),
        method.as_str().to_ascii_lowercase(),
        pointer_escape(media)
    );
    let validator = validator(&pointer);
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not match the committed document ({template}): {errors:#?}\nbody: {instance}"
    );
}

/// Sends `request`, checks its answer, and hands it back as if untouched.
pub async fn send_checked(request: reqwest::RequestBuilder) -> reqwest::Response {
    let (client, request) = request.build_split();
    let request = request.expect("request builds");
    let method = request.method().clone();
    let path = request.url().path().to_owned();
    let res = client.execute(request).await.expect("request sent");
    let status = res.status();
    let version = res.version();
    let headers = res.headers().clone();
    let body = res.bytes().await.expect("body read");
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    check(&method, &path, status.as_u16(), content_type, &body);
    let mut rebuilt = http::Response::builder().status(status).version(version);
    *rebuilt.headers_mut().unwrap() = headers;
    reqwest::Response::from(rebuilt.body(body).unwrap())
}

#[test]
fn templates_prefer_literal_segments() {
    let app = "0190f3a4-0000-7000-8000-000000000000";
    assert_eq!(
        template_for(&Method::POST, &format!("/v1/apps/{app}/connectors/preview")).as_deref(),
        Some("/v1/apps/{appId}/connectors/preview")
    );
    assert_eq!(
        template_for(&Method::GET, &format!("/v1/apps/{app}/connectors/{app}")).as_deref(),
        Some("/v1/apps/{appId}/connectors/{connectorId}")
    );
    assert_eq!(template_for(&Method::GET, "/nowhere"), None);
}

#[test]
#[should_panic(expected = "does not match the committed document")]
fn a_body_off_its_schema_fails() {
    check(
        &Method::GET,
        "/healthz",
        200,
        "application/json",
        br#"{"status": 7}"#,
    );
}

#[test]
#[should_panic(expected = "does not document")]
fn an_undocumented_status_fails() {
    check(&Method::GET, "/healthz", 418, "application/json", b"{}");
}
