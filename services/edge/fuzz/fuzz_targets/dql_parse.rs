//! Fuzzes the DQL parser and evaluator: any input either parses or returns a ParseError with a
//! position inside the input; a statement that parses evaluates against a sample document
//! without panicking.

#![no_main]

use edgebridge_edge::dql::ast::Statement;
use edgebridge_edge::dql::eval::{Scope, eval};
use edgebridge_edge::dql::{arguments, parse};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    match parse(src) {
        Err(e) => {
            assert!(e.position <= src.len(), "position {} past the end", e.position);
            assert!(e.line >= 1 && e.column >= 1);
        }
        Ok(statement) => {
            let doc = json!({"_id": "d", "a": 1, "b": "x", "c": [1, {"d": null}], "e": {"f": 2.5}});
            let doc = doc.as_object().cloned().unwrap_or_default();
            let mut args = Map::new();
            for name in arguments(&statement) {
                args.insert(name, Value::from(3));
            }
            let scope = Scope { doc: Some(&doc), args: &args };
            let exprs = match &statement {
                Statement::Select(s) => s.filter.iter().chain(s.limit.iter()).chain(s.offset.iter()).collect::<Vec<_>>(),
                Statement::Insert(s) => s.documents.iter().collect(),
                Statement::Update(s) => vec![&s.filter],
                Statement::Delete(s) => vec![&s.filter],
            };
            for e in exprs {
                let _ = eval(e, &scope);
            }
        }
    }
});
