//! A collection's `filter` (a MongoDB query document) evaluated on documents, so the initial
//! scan and the change stream sync exactly the matching documents. The operators are the ones
//! the connector spec accepts (see `edgebridge_domain::filter`), with MongoDB's semantics:
//! dotted paths reach into embedded documents and arrays, a condition on an array field holds
//! when the array or any element satisfies it, comparisons only match values of the same
//! type bracket (numbers with numbers), and `null` equality also matches a missing field.
//!
//! Operand values may use Extended JSON (`{"$oid": ...}`, `{"$date": ...}`).

use crate::order::compare;
use bson::{Bson, Document};
use regex::Regex;
use serde_json::{Map, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone)]
enum Cond {
    Eq(Bson),
    Ne(Bson),
    Cmp(Ordering, bool, Bson),
    In(Vec<Bson>),
    Nin(Vec<Bson>),
    Exists(bool),
    Type(Vec<String>),
    Regex(Regex),
    Not(Vec<Cond>),
    All(Vec<Bson>),
    ElemMatch(Box<Filter>, Vec<Cond>),
    Size(usize),
    Mod(i64, i64),
}

#[derive(Debug, Clone)]
enum Clause {
    Field(Vec<String>, Vec<Cond>),
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Nor(Vec<Filter>),
}

/// A parsed query document.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    clauses: Vec<Clause>,
}

fn operand(value: &Value) -> Result<Bson, String> {
    Bson::try_from(value.clone())
        .map_err(|e| format!("{value} is not a value MongoDB accepts: {e}"))
}

fn operands(value: &Value, op: &str) -> Result<Vec<Bson>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("`{op}` takes an array"))?
        .iter()
        .map(operand)
        .collect()
}

fn is_operator_object(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.keys().all(|k| k.starts_with('$')) && !is_ejson(m))
}

/// `{"$oid": ...}` and the like are values, not operators.
fn is_ejson(m: &Map<String, Value>) -> bool {
    m.len() <= 2
        && m.keys().all(|k| {
            matches!(
                k.as_str(),
                "$oid"
                    | "$date"
                    | "$numberLong"
                    | "$numberInt"
                    | "$numberDouble"
                    | "$numberDecimal"
                    | "$binary"
                    | "$timestamp"
                    | "$minKey"
                    | "$maxKey"
                    | "$symbol"
                    | "$code"
                    | "$uuid"
            )
        })
}

fn regex(pattern: &str, options: &str) -> Result<Regex, String> {
    let mut flags = String::new();
    for c in options.chars() {
        match c {
            'i' | 'm' | 's' | 'x' => flags.push(c),
            'u' => {}
            other => return Err(format!("regex option `{other}` is not supported")),
        }
    }
    let source = if flags.is_empty() {
        pattern.to_owned()
    } else {
        format!("(?{flags}){pattern}")
    };
    Regex::new(&source).map_err(|e| format!("bad regular expression: {e}"))
}

fn conditions(ops: &Map<String, Value>) -> Result<Vec<Cond>, String> {
    let mut out = Vec::new();
    for (op, value) in ops {
        out.push(match op.as_str() {
            "$eq" => Cond::Eq(operand(value)?),
            "$ne" => Cond::Ne(operand(value)?),
            "$gt" => Cond::Cmp(Ordering::Greater, false, operand(value)?),
            "$gte" => Cond::Cmp(Ordering::Greater, true, operand(value)?),
            "$lt" => Cond::Cmp(Ordering::Less, false, operand(value)?),
            "$lte" => Cond::Cmp(Ordering::Less, true, operand(value)?),
            "$in" => Cond::In(operands(value, op)?),
            "$nin" => Cond::Nin(operands(value, op)?),
            "$exists" => Cond::Exists(match value {
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => return Err("`$exists` takes true or false".into()),
            }),
            "$type" => Cond::Type(match value {
                Value::Array(items) => items.iter().map(type_name).collect::<Result<_, _>>()?,
                single => vec![type_name(single)?],
            }),
            "$regex" => {
                let pattern = value.as_str().ok_or("`$regex` takes a string")?;
                let options = ops.get("$options").and_then(Value::as_str).unwrap_or("");
                Cond::Regex(regex(pattern, options)?)
            }
            "$options" => continue,
            "$not" => match value {
                Value::Object(inner) => Cond::Not(conditions(inner)?),
                _ => return Err("`$not` takes an operator expression".into()),
            },
            "$all" => Cond::All(operands(value, op)?),
            "$elemMatch" => {
                let inner = value.as_object().ok_or("`$elemMatch` takes a query")?;
                if is_operator_object(value) {
                    Cond::ElemMatch(Box::default(), conditions(inner)?)
                } else {
                    Cond::ElemMatch(Box::new(Filter::parse(inner)?), Vec::new())
                }
            }
            "$size" => Cond::Size(
                value
                    .as_u64()
                    .ok_or("`$size` takes a non-negative integer")? as usize,
            ),
            "$mod" => match value.as_array().map(Vec::as_slice) {
                Some([d, r]) => {
                    // MongoDB truncates fractional arguments.
                    let int = |v: &Value| {
                        v.as_i64().or_else(|| {
                            v.as_f64()
                                .filter(|f| f.is_finite())
                                .map(|f| f.trunc() as i64)
                        })
                    };
                    let d = int(d).ok_or("`$mod` takes [divisor, remainder]")?;
                    if d == 0 {
                        return Err("`$mod` divisor cannot be 0".into());
                    }
                    Cond::Mod(d, int(r).ok_or("`$mod` takes [divisor, remainder]")?)
                }
                _ => return Err("`$mod` takes [divisor, remainder]".into()),
            },
            other => return Err(format!("operator `{other}` is not supported in a filter")),
        });
    }
    Ok(out)
}

fn type_name(value: &Value) -> Result<String, String> {
    let name = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_i64() {
            Some(1) => "double".into(),
            Some(2) => "string".into(),
            Some(3) => "object".into(),
            Some(4) => "array".into(),
            Some(5) => "binData".into(),
            Some(7) => "objectId".into(),
            Some(8) => "bool".into(),
            Some(9) => "date".into(),
            Some(10) => "null".into(),
            Some(11) => "regex".into(),
            Some(16) => "int".into(),
            Some(17) => "timestamp".into(),
            Some(18) => "long".into(),
            Some(19) => "decimal".into(),
            _ => return Err(format!("`$type` {n} is not a type MongoDB knows")),
        },
        _ => return Err("`$type` takes a type name or number".into()),
    };
    Ok(name)
}

fn bson_type(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        _ => "other",
    }
}

fn is_number(v: &Bson) -> bool {
    matches!(
        v,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
    )
}

fn same_bracket(a: &Bson, b: &Bson) -> bool {
    (is_number(a) && is_number(b))
        || std::mem::discriminant(a) == std::mem::discriminant(b)
        || matches!(
            (a, b),
            (Bson::String(_), Bson::Symbol(_)) | (Bson::Symbol(_), Bson::String(_))
        )
}

fn equal(a: &Bson, b: &Bson) -> bool {
    same_bracket(a, b) && compare(a, b) == Ordering::Equal
}

/// The values at `path`: several when the path crosses arrays (each element is tried).
fn values_at<'d>(doc: &'d Document, path: &[String], out: &mut Vec<&'d Bson>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(value) = doc.get(first) {
        descend(value, rest, out);
    }
}

fn descend<'d>(value: &'d Bson, rest: &[String], out: &mut Vec<&'d Bson>) {
    if rest.is_empty() {
        out.push(value);
        return;
    }
    match value {
        Bson::Document(d) => values_at(d, rest, out),
        Bson::Array(items) => {
            // A numeric step indexes the array; otherwise every element is tried.
            if let Ok(i) = rest[0].parse::<usize>() {
                if let Some(item) = items.get(i) {
                    descend(item, &rest[1..], out);
                }
            } else {
                for item in items {
                    if let Bson::Document(d) = item {
                        values_at(d, rest, out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Whether one value (or, for arrays, any element) satisfies `test`.
fn any_of(value: &Bson, test: &dyn Fn(&Bson) -> bool) -> bool {
    test(value) || matches!(value, Bson::Array(items) if items.iter().any(test))
}

impl Cond {
    fn holds(&self, values: &[&Bson]) -> bool {
        match self {
            // `null` matches a missing field, a null, and an array holding a null.
            Cond::Eq(Bson::Null) => {
                values.is_empty()
                    || values
                        .iter()
                        .any(|v| any_of(v, &|e| matches!(e, Bson::Null)))
            }
            Cond::Eq(x) => values.iter().any(|v| any_of(v, &|e| equal(e, x))),
            Cond::Ne(x) => !Cond::Eq(x.clone()).holds(values),
            // `$gte`/`$lte` null also match a missing field, as equality with null does.
            Cond::Cmp(_, true, Bson::Null) if values.is_empty() => true,
            Cond::Cmp(order, or_equal, x) => values.iter().any(|v| {
                any_of(v, &|e| {
                    same_bracket(e, x) && {
                        let c = compare(e, x);
                        c == *order || (*or_equal && c == Ordering::Equal)
                    }
                })
            }),
            Cond::In(xs) => xs.iter().any(|x| Cond::Eq(x.clone()).holds(values)),
            Cond::Nin(xs) => !Cond::In(xs.clone()).holds(values),
            Cond::Exists(want) => values.is_empty() != *want,
            Cond::Type(names) => values.iter().any(|v| {
                any_of(v, &|e| {
                    let t = bson_type(e);
                    names
                        .iter()
                        .any(|n| n == t || (n == "number" && is_number(e)))
                })
            }),
            Cond::Regex(re) => values
                .iter()
                .any(|v| any_of(v, &|e| matches!(e, Bson::String(s) if re.is_match(s)))),
            Cond::Not(inner) => !inner.iter().all(|c| c.holds(values)),
            Cond::All(xs) => !xs.is_empty() && xs.iter().all(|x| Cond::Eq(x.clone()).holds(values)),
            Cond::ElemMatch(query, conds) => values.iter().any(|v| match v {
                Bson::Array(items) => items.iter().any(|item| {
                    if conds.is_empty() {
                        matches!(item, Bson::Document(d) if query.matches(d))
                    } else {
                        conds.iter().all(|c| c.holds(&[item]))
                    }
                }),
                _ => false,
            }),
            Cond::Size(n) => values
                .iter()
                .any(|v| matches!(v, Bson::Array(items) if items.len() == *n)),
            Cond::Mod(d, r) => values.iter().any(|v| {
                any_of(v, &|e| {
                    let n = match e {
                        Bson::Int32(i) => Some(i64::from(*i)),
                        Bson::Int64(i) => Some(*i),
                        Bson::Double(f) if f.is_finite() => Some(f.trunc() as i64),
                        _ => None,
                    };
                    n.is_some_and(|n| n.wrapping_rem(*d) == *r)
                })
            }),
        }
    }
}

impl Filter {
    /// Parses a query document; an error names what is wrong.
    pub fn parse(query: &Map<String, Value>) -> Result<Filter, String> {
        let mut clauses = Vec::new();
        for (key, value) in query {
            let subs = |op: &str| -> Result<Vec<Filter>, String> {
                value
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| format!("`{op}` takes a non-empty array of queries"))?
                    .iter()
                    .map(|q| {
                        q.as_object()
                            .ok_or_else(|| format!("`{op}` takes queries"))
                            .and_then(Filter::parse)
                    })
                    .collect()
            };
            clauses.push(match key.as_str() {
                "$and" => Clause::And(subs("$and")?),
                "$or" => Clause::Or(subs("$or")?),
                "$nor" => Clause::Nor(subs("$nor")?),
                "$comment" => continue,
                op if op.starts_with('$') => {
                    return Err(format!("`{op}` is not supported at the top of a filter"));
                }
                field => {
                    let path = field.split('.').map(str::to_owned).collect();
                    let conds = match value {
                        Value::Object(ops) if is_operator_object(value) => conditions(ops)?,
                        other => vec![Cond::Eq(operand(other)?)],
                    };
                    Clause::Field(path, conds)
                }
            });
        }
        Ok(Filter { clauses })
    }

    pub fn matches(&self, doc: &Document) -> bool {
        self.clauses.iter().all(|clause| match clause {
            Clause::Field(path, conds) => {
                let mut values = Vec::new();
                values_at(doc, path, &mut values);
                conds.iter().all(|c| c.holds(&values))
            }
            Clause::And(fs) => fs.iter().all(|f| f.matches(doc)),
            Clause::Or(fs) => fs.iter().any(|f| f.matches(doc)),
            Clause::Nor(fs) => !fs.iter().any(|f| f.matches(doc)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;
    use serde_json::json;

    fn f(q: Value) -> Filter {
        Filter::parse(q.as_object().unwrap()).unwrap()
    }

    #[test]
    fn equality_null_and_missing() {
        let d = doc! {"a": 1, "b": null, "s": "x"};
        assert!(f(json!({"a": 1})).matches(&d));
        assert!(
            f(json!({"a": 1.0})).matches(&d),
            "numbers compare across types"
        );
        assert!(!f(json!({"a": "1"})).matches(&d), "no cross-type equality");
        assert!(f(json!({"b": null})).matches(&d));
        assert!(f(json!({"missing": null})).matches(&d));
        assert!(!f(json!({"missing": {"$ne": null}})).matches(&d));
        assert!(f(json!({"deleted": {"$ne": true}})).matches(&d));
        assert!(!f(json!({"a": 1, "s": "y"})).matches(&d));
    }

    #[test]
    fn comparisons_stay_within_their_type() {
        let d = doc! {"n": 5_i64, "s": "m", "at": bson::DateTime::from_millis(1_000)};
        assert!(f(json!({"n": {"$gt": 4, "$lte": 5}})).matches(&d));
        assert!(!f(json!({"n": {"$gt": "a"}})).matches(&d));
        assert!(f(json!({"s": {"$gte": "a", "$lt": "z"}})).matches(&d));
        assert!(f(json!({"at": {"$gt": {"$date": "1970-01-01T00:00:00Z"}}})).matches(&d));
    }

    #[test]
    fn arrays_paths_and_array_operators() {
        let d =
            doc! {"tags": ["a", "b"], "items": [{"sku": "x", "qty": 2}, {"sku": "y", "qty": 9}]};
        assert!(f(json!({"tags": "a"})).matches(&d));
        assert!(f(json!({"items.sku": "y"})).matches(&d));
        assert!(f(json!({"items.1.qty": 9})).matches(&d));
        assert!(f(json!({"tags": {"$all": ["b", "a"]}, "tags.1": "b"})).matches(&d));
        assert!(f(json!({"tags": {"$size": 2}})).matches(&d));
        assert!(f(json!({"items": {"$elemMatch": {"sku": "x", "qty": {"$lt": 5}}}})).matches(&d));
        assert!(!f(json!({"items": {"$elemMatch": {"sku": "x", "qty": {"$gt": 5}}}})).matches(&d));
        assert!(f(json!({"items.qty": {"$in": [9, 10]}})).matches(&d));
        assert!(f(json!({"tags": {"$nin": ["c"]}})).matches(&d));
    }

    #[test]
    fn logic_exists_type_regex_not_mod() {
        let d = doc! {"name": "Widget", "qty": 7, "oid": bson::oid::ObjectId::new()};
        assert!(
            f(json!({"$or": [{"qty": 1}, {"name": {"$regex": "^wid", "$options": "i"}}]}))
                .matches(&d)
        );
        assert!(f(json!({"$nor": [{"qty": 1}]})).matches(&d));
        assert!(
            f(json!({"$and": [{"qty": {"$exists": true}}, {"gone": {"$exists": false}}]}))
                .matches(&d)
        );
        assert!(f(json!({"qty": {"$type": "number"}, "oid": {"$type": 7}})).matches(&d));
        assert!(f(json!({"qty": {"$not": {"$gt": 10}}})).matches(&d));
        assert!(f(json!({"qty": {"$mod": [4, 3]}})).matches(&d));
    }

    #[test]
    fn null_inside_arrays_comments_fractional_mod_and_no_overflow() {
        let d = doc! {"a": [1, null], "n": i64::MIN};
        assert!(f(json!({"a": null})).matches(&d));
        assert!(!f(json!({"a": {"$ne": null}})).matches(&d));
        assert!(f(json!({"gone": {"$gte": null}})).matches(&d));
        assert!(f(json!({"$comment": "why", "n": {"$mod": [-1.5, 0]}})).matches(&d));
    }

    #[test]
    fn bad_filters_are_refused_with_a_reason() {
        for (q, needle) in [
            (json!({"$where": "1"}), "$where"),
            (json!({"a": {"$near": 1}}), "$near"),
            (json!({"$or": []}), "$or"),
            (json!({"a": {"$mod": [0, 1]}}), "divisor"),
            (json!({"a": {"$regex": "("}}), "regular expression"),
        ] {
            let e = Filter::parse(q.as_object().unwrap()).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }
}
