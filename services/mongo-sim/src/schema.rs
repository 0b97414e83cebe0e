//! The part of `$jsonSchema` the simulator enforces: `bsonType`, `required`, `properties`,
//! `additionalProperties: false`, `enum`, `minimum`/`maximum`, `minLength`/`maxLength`, `items`,
//! `minItems`/`maxItems`. Enough to make MongoDB reject a document the way a real validator does.

use bson::{Bson, Document};

/// `Err(reason)` naming the first field that fails.
pub fn validate(validator: &Document, doc: &Document) -> Result<(), String> {
    match validator.get_document("$jsonSchema") {
        Ok(schema) => check(schema, &Bson::Document(doc.clone()), ""),
        Err(_) => Ok(()),
    }
}

fn type_matches(name: &str, value: &Bson) -> bool {
    matches!(
        (name, value),
        ("object", Bson::Document(_))
            | ("array", Bson::Array(_))
            | ("string", Bson::String(_))
            | ("int", Bson::Int32(_))
            | ("long", Bson::Int64(_))
            | ("double", Bson::Double(_))
            | ("decimal", Bson::Decimal128(_))
            | (
                "number",
                Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
            )
            | ("bool", Bson::Boolean(_))
            | ("date", Bson::DateTime(_))
            | ("objectId", Bson::ObjectId(_))
            | ("null", Bson::Null)
            | ("timestamp", Bson::Timestamp(_))
            | ("regex", Bson::RegularExpression(_))
            | ("binData", Bson::Binary(_))
    )
}

fn as_f64(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(f) => Some(*f),
        Bson::Decimal128(d) => d.to_string().parse().ok(),
        _ => None,
    }
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "the document".to_owned()
    } else {
        format!("`{path}`")
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn check(schema: &Document, value: &Bson, path: &str) -> Result<(), String> {
    if let Some(expected) = schema.get("bsonType") {
        let names: Vec<&str> = match expected {
            Bson::String(one) => vec![one.as_str()],
            Bson::Array(many) => many.iter().filter_map(Bson::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.iter().any(|name| type_matches(name, value)) {
            return Err(format!("{} must be of bsonType {names:?}", at(path)));
        }
    }
    if let Ok(options) = schema.get_array("enum")
        && !options.contains(value)
    {
        return Err(format!("{} is not one of the allowed values", at(path)));
    }
    if let Some(n) = as_f64(value) {
        if let Some(min) = schema.get("minimum").and_then(as_f64)
            && n < min
        {
            return Err(format!("{} must be at least {min}", at(path)));
        }
        if let Some(max) = schema.get("maximum").and_then(as_f64)
            && n > max
        {
            return Err(format!("{} must be at most {max}", at(path)));
        }
    }
    if let Bson::String(s) = value {
        let len = s.chars().count() as f64;
        if let Some(min) = schema.get("minLength").and_then(as_f64)
            && len < min
        {
            return Err(format!("{} must be at least {min} characters", at(path)));
        }
        if let Some(max) = schema.get("maxLength").and_then(as_f64)
            && len > max
        {
            return Err(format!("{} must be at most {max} characters", at(path)));
        }
    }
    if let Bson::Array(items) = value {
        let len = items.len() as f64;
        if schema
            .get("minItems")
            .and_then(as_f64)
            .is_some_and(|min| len < min)
        {
            return Err(format!("{} has too few items", at(path)));
        }
        if schema
            .get("maxItems")
            .and_then(as_f64)
            .is_some_and(|max| len > max)
        {
            return Err(format!("{} has too many items", at(path)));
        }
        if let Ok(item_schema) = schema.get_document("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &join(path, &i.to_string()))?;
            }
        }
    }
    if let Bson::Document(doc) = value {
        if let Ok(required) = schema.get_array("required") {
            for name in required.iter().filter_map(Bson::as_str) {
                if !doc.contains_key(name) {
                    return Err(format!("{} is required", at(&join(path, name))));
                }
            }
        }
        let properties = schema.get_document("properties").ok();
        for (name, member) in doc {
            match properties.and_then(|p| p.get_document(name).ok()) {
                Some(member_schema) => check(member_schema, member, &join(path, name))?,
                None => {
                    if name != "_id" && schema.get_bool("additionalProperties").ok() == Some(false)
                    {
                        return Err(format!("{} is not an allowed field", at(&join(path, name))));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn enforces_the_common_keywords() {
        let validator = doc! {"$jsonSchema": {
            "bsonType": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": {
                "name": {"bsonType": "string", "minLength": 2},
                "qty": {"bsonType": ["int", "long"], "minimum": 0},
                "tags": {"bsonType": "array", "items": {"enum": ["a", "b"]}},
            },
        }};
        assert!(
            validate(
                &validator,
                &doc! {"_id": 1, "name": "ok", "qty": 3, "tags": ["a"]}
            )
            .is_ok()
        );
        assert_eq!(
            validate(&validator, &doc! {"qty": 1}).unwrap_err(),
            "`name` is required"
        );
        assert!(
            validate(&validator, &doc! {"name": "x"})
                .unwrap_err()
                .contains("at least 2")
        );
        assert!(
            validate(&validator, &doc! {"name": "ok", "qty": -1})
                .unwrap_err()
                .contains("`qty`")
        );
        assert!(
            validate(&validator, &doc! {"name": "ok", "qty": 1.5})
                .unwrap_err()
                .contains("bsonType")
        );
        assert!(
            validate(&validator, &doc! {"name": "ok", "tags": ["c"]})
                .unwrap_err()
                .contains("`tags.0`")
        );
        assert!(
            validate(&validator, &doc! {"name": "ok", "extra": 1})
                .unwrap_err()
                .contains("not an allowed")
        );
        assert!(validate(&doc! {}, &doc! {"anything": 1}).is_ok());
    }
}
