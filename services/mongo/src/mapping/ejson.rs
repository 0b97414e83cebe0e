//! EJSON mode: every value is stored on the edge as canonical Extended JSON and parsed back
//! exactly (relaxed forms written by devices, such as plain numbers, are accepted too).

use bson::Bson;
use serde_json::Value;

use super::Diagnostic;

pub fn to_bson(value: &Value, path: &[String]) -> Result<Bson, Diagnostic> {
    Bson::try_from(value.clone()).map_err(|e| {
        Diagnostic::new(
            "invalid_ejson",
            path,
            format!("the value is not valid Extended JSON: {e}"),
        )
    })
}

/// A number in canonical or relaxed Extended JSON (`{"$numberInt": "5"}`, `5`, ...).
pub fn number(value: &Value) -> Option<f64> {
    match Bson::try_from(value.clone()).ok()? {
        Bson::Int32(i) => Some(f64::from(i)),
        Bson::Int64(i) => Some(i as f64),
        Bson::Double(f) => Some(f),
        _ => None,
    }
}
