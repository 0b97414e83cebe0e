//! Document identity: which `_id` values are allowed, and the canonical key that makes
//! `{"a":1,"b":2}` and `{"b":2,"a":1}` (or `1` and `1.0`) the same document.

use serde_json::{Map, Value};

/// Why an `_id` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError(pub &'static str);

impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The canonical key of an `_id`: a string, a number, or an object of those (composite IDs from
/// multi-field mappings), with members sorted and integral numbers written as integers.
pub fn document_key(id: &Value) -> Result<String, IdError> {
    let mut out = String::new();
    write_key(id, &mut out, 0)?;
    Ok(out)
}

fn write_key(id: &Value, out: &mut String, depth: usize) -> Result<(), IdError> {
    if depth > 8 {
        return Err(IdError("an `_id` may nest objects at most 8 levels deep"));
    }
    match id {
        Value::String(_) => out.push_str(&id.to_string()),
        // Integers exactly (64-bit IDs must not collide through f64); other numbers by value,
        // with integral floats written as integers (1.0 is 1).
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                out.push_str(&(f as i64).to_string())
            }
            (_, _, Some(f)) if f.is_finite() => out.push_str(&Value::from(f).to_string()),
            _ => return Err(IdError("an `_id` number must be finite")),
        },
        Value::Object(members) => {
            if members.is_empty() {
                return Err(IdError("an `_id` object must have at least one member"));
            }
            let mut names: Vec<&String> = members.keys().collect();
            names.sort();
            out.push('{');
            for (i, name) in names.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                write_key(&members[name], out, depth + 1)?;
            }
            out.push('}');
        }
        Value::Null => return Err(IdError("`_id` must not be null")),
        Value::Bool(_) => {
            return Err(IdError(
                "`_id` must be a string, a number or an object, not a boolean",
            ));
        }
        Value::Array(_) => {
            return Err(IdError(
                "`_id` must be a string, a number or an object, not an array",
            ));
        }
    }
    Ok(())
}

/// The `_id` value back from its canonical key.
pub fn id_from_key(key: &str) -> Value {
    serde_json::from_str(key).unwrap_or_else(|_| Value::String(key.to_owned()))
}

/// A document's fields without `_id`.
pub fn without_id(doc: &Map<String, Value>) -> Map<String, Value> {
    doc.iter()
        .filter(|(k, _)| k.as_str() != "_id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn member_order_and_number_spelling_do_not_matter() {
        assert_eq!(
            document_key(&json!({"a": 1, "b": 2})).unwrap(),
            document_key(&json!({"b": 2.0, "a": 1})).unwrap()
        );
        assert_eq!(
            document_key(&json!(1)).unwrap(),
            document_key(&json!(1.0)).unwrap()
        );
        assert_ne!(
            document_key(&json!("1")).unwrap(),
            document_key(&json!(1)).unwrap()
        );
        assert_eq!(
            id_from_key(&document_key(&json!({"b": "x", "a": 1})).unwrap()),
            json!({"a": 1, "b": "x"})
        );
    }

    #[test]
    fn large_integers_stay_distinct() {
        assert_ne!(
            document_key(&json!(9007199254740993u64)).unwrap(),
            document_key(&json!(9007199254740992u64)).unwrap()
        );
        assert_eq!(
            document_key(&json!(u64::MAX)).unwrap(),
            u64::MAX.to_string()
        );
    }

    #[test]
    fn forbidden_ids() {
        for id in [json!(null), json!(true), json!([1]), json!({})] {
            assert!(document_key(&id).is_err(), "{id}");
        }
    }
}
