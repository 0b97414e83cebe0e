//! Checks that a collection's `filter` is a MongoDB query document the connector can use, so a
//! typo fails when the connector is saved rather than when it starts.

use crate::violation::{Pointer, Violations};
use serde_json::{Map, Value};

/// Top-level operators that combine sub-queries.
const LOGICAL: &[&str] = &["$and", "$or", "$nor"];
/// Field-level query operators the connector's change-stream `$match` can carry.
const FIELD_OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$type",
    "$regex",
    "$options",
    "$not",
    "$all",
    "$elemMatch",
    "$size",
    "$mod",
];

pub fn validate_filter(value: &Value, at: &Pointer, out: &mut Violations) {
    match value {
        Value::Object(query) => validate_query(query, at, out, 0),
        _ => out.add(
            at,
            "must be a query document (a JSON object such as {\"deleted\": false})",
        ),
    }
}

const MAX_DEPTH: usize = 32;

fn validate_query(query: &Map<String, Value>, at: &Pointer, out: &mut Violations, depth: usize) {
    if depth > MAX_DEPTH {
        out.add(at, format!("is nested more than {MAX_DEPTH} levels deep"));
        return;
    }
    for (key, value) in query {
        let here = at.push(key);
        if let Some(op) = key.strip_prefix('$') {
            match key.as_str() {
                k if LOGICAL.contains(&k) => match value {
                    Value::Array(items) if !items.is_empty() => {
                        for (i, item) in items.iter().enumerate() {
                            match item {
                                Value::Object(sub) => {
                                    validate_query(sub, &here.index(i), out, depth + 1)
                                }
                                _ => out.add(&here.index(i), "must be a query document"),
                            }
                        }
                    }
                    _ => out.add(&here, format!("`{key}` takes a non-empty array of query documents")),
                },
                // The connector evaluates filters on documents itself (scan and stream alike),
                // so aggregation expressions are out.
                "$expr" => out.add(
                    &here,
                    "`$expr` is not supported in a connector filter; express the condition with field operators ($eq, $gt, $in, ...)",
                ),
                "$comment" => {
                    if !value.is_string() {
                        out.add(&here, "`$comment` takes a string");
                    }
                }
                _ => out.add(
                    &here,
                    format!(
                        "`${op}` is not a top-level query operator; use one of $and, $or, $nor, $comment, or a field name"
                    ),
                ),
            }
            continue;
        }
        if key.is_empty() {
            out.add(&here, "a field name must not be empty");
            continue;
        }
        if key.split('.').any(str::is_empty) {
            out.add(&here, "a dotted field path must not have empty segments");
            continue;
        }
        if let Value::Object(condition) = value {
            validate_condition(condition, &here, out, depth + 1);
        }
    }
}

/// A field's condition: either a literal document to match exactly, or an object of operators.
fn validate_condition(
    condition: &Map<String, Value>,
    at: &Pointer,
    out: &mut Violations,
    depth: usize,
) {
    let operators = condition.keys().filter(|k| k.starts_with('$')).count();
    if operators == 0 {
        return; // an embedded document matched exactly
    }
    if operators != condition.len() {
        out.add(
            at,
            "mixes query operators ($...) with plain field names; use either operators or a literal document",
        );
        return;
    }
    for (op, arg) in condition {
        let here = at.push(op);
        if !FIELD_OPERATORS.contains(&op.as_str()) {
            out.add(
                &here,
                format!(
                    "`{op}` is not a supported query operator; use one of {}",
                    FIELD_OPERATORS.join(", ")
                ),
            );
            continue;
        }
        match op.as_str() {
            "$in" | "$nin" | "$all" if !arg.is_array() => {
                out.add(&here, format!("`{op}` takes an array"))
            }
            "$exists" if !arg.is_boolean() && !arg.is_number() => {
                out.add(&here, "`$exists` takes true or false")
            }
            "$size" if arg.as_u64().is_none() => {
                out.add(&here, "`$size` takes a non-negative integer")
            }
            "$mod" => {
                let ok = arg.as_array().is_some_and(|a| {
                    a.len() == 2
                        && a.iter().all(Value::is_number)
                        && a[0].as_f64().is_some_and(|d| d != 0.0)
                });
                if !ok {
                    out.add(
                        &here,
                        "`$mod` takes [divisor, remainder] with a divisor other than 0",
                    );
                }
            }
            "$regex" if !arg.is_string() && !arg.is_object() => {
                out.add(&here, "`$regex` takes a pattern string")
            }
            "$options" if !arg.is_string() => out.add(&here, "`$options` takes a string of flags"),
            "$options" if !condition.contains_key("$regex") => {
                out.add(&here, "`$options` needs a `$regex` beside it")
            }
            // Elements that are documents take a query; scalar elements take operators.
            "$elemMatch" => match arg {
                Value::Object(sub) if !sub.is_empty() && sub.keys().all(|k| k.starts_with('$')) => {
                    validate_condition(sub, &here, out, depth + 1)
                }
                Value::Object(sub) => validate_query(sub, &here, out, depth + 1),
                _ => out.add(&here, "`$elemMatch` takes a query document"),
            },
            "$not" => match arg {
                Value::Object(sub) => validate_condition(sub, &here, out, depth + 1),
                _ => out.add(
                    &here,
                    "`$not` takes an operator document such as {\"$gt\": 5}",
                ),
            },
            "$type" if !arg.is_string() && !arg.is_number() && !arg.is_array() => {
                out.add(&here, "`$type` takes a BSON type name or number")
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Vec<String> {
        let mut out = Violations::new();
        validate_filter(&v, &Pointer::root().push("filter"), &mut out);
        out.into_vec().into_iter().map(|v| v.path).collect()
    }

    #[test]
    fn accepts_common_queries() {
        assert!(check(json!({"deleted": false})).is_empty());
        assert!(check(json!({"qty": {"$gt": 5, "$lte": 10}, "tags": {"$in": ["a"]}})).is_empty());
        assert!(check(json!({"$or": [{"a": 1}, {"b.c": {"$exists": true}}]})).is_empty());
        assert!(check(json!({"addr": {"city": "Oslo"}})).is_empty());
        assert!(check(json!({"a": {"$not": {"$eq": 3}}})).is_empty());
        assert!(check(json!({"scores": {"$elemMatch": {"$gte": 80, "$lt": 85}}})).is_empty());
        assert!(
            check(json!({"items": {"$elemMatch": {"sku": "a", "qty": {"$gt": 1}}}})).is_empty()
        );
        assert!(check(json!({"a": {"$regex": "^x", "$options": "i"}})).is_empty());
    }

    #[test]
    fn reports_each_problem_with_its_path() {
        assert_eq!(check(json!([1])), ["/filter"]);
        assert_eq!(check(json!({"$where": "x"})), ["/filter/$where"]);
        assert_eq!(check(json!({"a": {"$gtt": 1}})), ["/filter/a/$gtt"]);
        assert_eq!(check(json!({"a": {"$in": 1}})), ["/filter/a/$in"]);
        assert_eq!(check(json!({"$or": []})), ["/filter/$or"]);
        assert_eq!(
            check(json!({"$and": [{"a": {"$size": -1}}, 3]})),
            ["/filter/$and/0/a/$size", "/filter/$and/1"]
        );
        assert_eq!(check(json!({"a": {"$eq": 1, "b": 2}})), ["/filter/a"]);
        assert_eq!(check(json!({"a..b": 1})), ["/filter/a..b"]);
        assert_eq!(
            check(json!({"a": {"$options": "i"}})),
            ["/filter/a/$options"]
        );
        assert_eq!(check(json!({"a": {"$mod": [0, 1]}})), ["/filter/a/$mod"]);
    }
}
