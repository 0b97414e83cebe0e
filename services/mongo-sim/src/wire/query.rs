//! Query filters as the server evaluates them, for `find`, `count`, `update` and `delete`:
//! dotted paths through sub-documents and arrays, the comparison operators with type
//! bracketing, `$in`/`$nin`, `$exists`, `$and`/`$or`/`$nor`/`$not`. Other operators are refused
//! with the server's "unknown operator" error rather than matched wrongly.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::errors::CommandError;
use crate::order;

/// Checks a filter once, before it is used: unknown operators fail the command.
pub(crate) fn validate(filter: &Document) -> Result<(), CommandError> {
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Bson::Array(items) = value else {
                    return Err(CommandError::bad_value(format!("{key} must be an array")));
                };
                if items.is_empty() {
                    return Err(CommandError::bad_value(
                        "$and/$or/$nor must be a nonempty array",
                    ));
                }
                for item in items {
                    let Bson::Document(inner) = item else {
                        return Err(CommandError::bad_value(
                            "$or/$and/$nor entries need to be full objects",
                        ));
                    };
                    validate(inner)?;
                }
            }
            "$comment" => {}
            op if op.starts_with('$') => {
                return Err(CommandError::bad_value(format!(
                    "unknown top level operator: {op}"
                )));
            }
            _ => {
                if let Bson::Document(ops) = value
                    && ops.keys().next().is_some_and(|k| k.starts_with('$'))
                {
                    validate_operators(ops)?;
                }
            }
        }
    }
    Ok(())
}

fn validate_operators(ops: &Document) -> Result<(), CommandError> {
    for (op, value) in ops {
        match op.as_str() {
            "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" | "$exists" => {}
            "$in" | "$nin" => {
                if !matches!(value, Bson::Array(_)) {
                    return Err(CommandError::bad_value("$in needs an array"));
                }
            }
            "$not" => match value {
                Bson::Document(inner) => validate_operators(inner)?,
                _ => return Err(CommandError::bad_value("$not needs a regex or a document")),
            },
            other => {
                return Err(CommandError::bad_value(format!(
                    "unknown operator: {other}"
                )));
            }
        }
    }
    Ok(())
}

/// Whether `doc` matches `filter` (already validated).
pub(crate) fn matches(doc: &Document, filter: &Document) -> bool {
    filter.iter().all(|(key, value)| match key.as_str() {
        "$and" => items(value).all(|f| matches(doc, f)),
        "$or" => items(value).any(|f| matches(doc, f)),
        "$nor" => !items(value).any(|f| matches(doc, f)),
        "$comment" => true,
        path => {
            let found = lookup(doc, path);
            match value {
                Bson::Document(ops) if ops.keys().next().is_some_and(|k| k.starts_with('$')) => {
                    ops.iter().all(|(op, arg)| operator(&found, op, arg))
                }
                _ => equals_any(&found, value),
            }
        }
    })
}

fn items(value: &Bson) -> impl Iterator<Item = &Document> {
    let list: &[Bson] = match value {
        Bson::Array(items) => items,
        _ => &[],
    };
    list.iter().filter_map(|item| match item {
        Bson::Document(doc) => Some(doc),
        _ => None,
    })
}

/// The values a dotted path reaches: through arrays, each element is looked into (and an array
/// itself is a value too, as MongoDB matches both the array and its elements).
fn lookup<'a>(doc: &'a Document, path: &str) -> Vec<&'a Bson> {
    let mut out = Vec::new();
    let segments: Vec<&str> = path.split('.').collect();
    walk_document(doc, &segments, &mut out);
    out
}

fn walk_document<'a>(doc: &'a Document, segments: &[&str], out: &mut Vec<&'a Bson>) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    if let Some(value) = doc.get(*first) {
        walk_value(value, rest, out);
    }
}

fn walk_value<'a>(value: &'a Bson, segments: &[&str], out: &mut Vec<&'a Bson>) {
    if segments.is_empty() {
        out.push(value);
        return;
    }
    match value {
        Bson::Document(inner) => walk_document(inner, segments, out),
        Bson::Array(elements) => {
            let (first, rest) = (segments[0], &segments[1..]);
            if let Ok(index) = first.parse::<usize>()
                && let Some(element) = elements.get(index)
            {
                walk_value(element, rest, out);
            }
            for element in elements {
                if let Bson::Document(inner) = element {
                    walk_document(inner, segments, out);
                }
            }
        }
        _ => {}
    }
}

fn same(a: &Bson, b: &Bson) -> bool {
    order::compare(a, b) == Ordering::Equal
}

/// Equality as a query means it: a value equals the field, or an element of an array field;
/// `null` also matches a missing field.
fn equals_any(found: &[&Bson], value: &Bson) -> bool {
    if found.is_empty() {
        return matches!(value, Bson::Null);
    }
    found.iter().any(|have| {
        same(have, value)
            || matches!(have, Bson::Array(elements) if elements.iter().any(|e| same(e, value)))
    })
}

/// Comparison within one type class (numbers with numbers, strings with strings...).
fn compare_bracketed(found: &[&Bson], arg: &Bson, accept: fn(Ordering) -> bool) -> bool {
    let candidates = found.iter().flat_map(|have| match have {
        Bson::Array(elements) => {
            let mut all: Vec<&Bson> = elements.iter().collect();
            all.push(have);
            all
        }
        _ => vec![*have],
    });
    candidates
        .into_iter()
        .any(|have| order::rank(have) == order::rank(arg) && accept(order::compare(have, arg)))
}

fn operator(found: &[&Bson], op: &str, arg: &Bson) -> bool {
    match op {
        "$eq" => equals_any(found, arg),
        "$ne" => !equals_any(found, arg),
        "$gt" => compare_bracketed(found, arg, |o| o == Ordering::Greater),
        "$gte" => compare_bracketed(found, arg, |o| o != Ordering::Less),
        "$lt" => compare_bracketed(found, arg, |o| o == Ordering::Less),
        "$lte" => compare_bracketed(found, arg, |o| o != Ordering::Greater),
        "$in" => match arg {
            Bson::Array(values) => values.iter().any(|v| equals_any(found, v)),
            _ => false,
        },
        "$nin" => match arg {
            Bson::Array(values) => !values.iter().any(|v| equals_any(found, v)),
            _ => true,
        },
        "$exists" => {
            let wanted = match arg {
                Bson::Boolean(b) => *b,
                Bson::Null => false,
                other => super::dispatch::integer(other).is_none_or(|i| i != 0),
            };
            wanted != found.is_empty()
        }
        "$not" => match arg {
            Bson::Document(ops) => !ops.iter().all(|(op, arg)| operator(found, op, arg)),
            _ => true,
        },
        _ => false,
    }
}

/// The equality conditions of a filter: the fields an upsert inserts when nothing matched.
pub(crate) fn equality_fields(filter: &Document) -> Document {
    let mut out = Document::new();
    for (key, value) in filter {
        if key == "$and" {
            for inner in items(value) {
                out.extend(equality_fields(inner));
            }
            continue;
        }
        if key.starts_with('$') || key.contains('.') {
            continue;
        }
        match value {
            Bson::Document(ops) if ops.keys().next().is_some_and(|k| k.starts_with('$')) => {
                if let Some(eq) = ops.get("$eq") {
                    out.insert(key.clone(), eq.clone());
                }
            }
            other => {
                out.insert(key.clone(), other.clone());
            }
        }
    }
    out
}

/// A `projection`: inclusion (`{a: 1}`, `_id` kept unless excluded) or exclusion (`{a: 0}`) of
/// top-level and dotted fields.
pub(crate) fn project(doc: &Document, projection: &Document) -> Result<Document, CommandError> {
    if projection.is_empty() {
        return Ok(doc.clone());
    }
    let include = |v: &Bson| {
        !matches!(v, Bson::Boolean(false) | Bson::Int32(0) | Bson::Int64(0))
            && !matches!(v, Bson::Double(d) if *d == 0.0)
    };
    let inclusive = projection.iter().any(|(k, v)| k != "_id" && include(v));
    let exclusive = projection.iter().any(|(k, v)| k != "_id" && !include(v));
    if inclusive && exclusive {
        return Err(CommandError::new(
            31254,
            "Cannot do exclusion on a field in inclusion projection",
        ));
    }
    if inclusive {
        let mut out = Document::new();
        let keep_id = projection.get("_id").is_none_or(include);
        if keep_id && let Some(id) = doc.get("_id") {
            out.insert("_id", id.clone());
        }
        for (key, value) in projection {
            if key == "_id" || !include(value) {
                continue;
            }
            let top = key.split('.').next().unwrap_or(key);
            if let Some(found) = doc.get(top) {
                out.insert(top.to_owned(), found.clone());
            }
        }
        Ok(out)
    } else {
        let mut out = doc.clone();
        for (key, value) in projection {
            if !include(value) {
                out.remove(key.split('.').next().unwrap_or(key));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn filters_match_as_the_server_does() {
        let d = doc! {"_id": 1, "n": 5, "tags": ["a", "b"], "sub": {"x": 2}, "s": "5"};
        assert!(matches(&d, &doc! {"n": 5.0}));
        assert!(matches(&d, &doc! {"tags": "a"}));
        assert!(matches(&d, &doc! {"sub.x": {"$gte": 2}}));
        assert!(!matches(&d, &doc! {"n": {"$gt": "4"}}), "type bracketing");
        assert!(matches(&d, &doc! {"n": {"$in": [1, 5]}}));
        assert!(matches(&d, &doc! {"missing": null}));
        assert!(matches(&d, &doc! {"missing": {"$exists": false}}));
        assert!(matches(&d, &doc! {"$or": [{"n": 1}, {"s": "5"}]}));
        assert!(!matches(&d, &doc! {"n": {"$not": {"$gt": 1}}}));
        assert!(validate(&doc! {"n": {"$where": 1}}).is_err());
        assert!(validate(&doc! {"$where": "1"}).is_err());
    }

    #[test]
    fn upserts_take_the_equality_fields() {
        let filter = doc! {"_id": 7, "a": {"$eq": 1}, "b": {"$gt": 2}, "c.d": 3};
        assert_eq!(equality_fields(&filter), doc! {"_id": 7, "a": 1});
    }

    #[test]
    fn projections_include_or_exclude() {
        let d = doc! {"_id": 1, "a": 1, "b": 2};
        assert_eq!(
            project(&d, &doc! {"a": 1}).unwrap(),
            doc! {"_id": 1, "a": 1}
        );
        assert_eq!(
            project(&d, &doc! {"a": 0}).unwrap(),
            doc! {"_id": 1, "b": 2}
        );
        assert!(project(&d, &doc! {"a": 1, "b": 0}).is_err());
    }
}
