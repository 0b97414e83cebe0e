//! `$set` and `$unset` on a document, with MongoDB's path rules; update pipelines in
//! [`pipeline`].

mod expressions;
pub(crate) mod pipeline;

use bson::{Bson, Document};
use edgebridge_mongo::PortError;
use edgebridge_mongo::port::PortResult;

/// `$set` and `$unset` with dotted paths (through sub-documents and array indexes).
pub(crate) fn apply_operators(doc: &mut Document, update: &Document) -> PortResult<()> {
    // MongoDB refuses an update whose paths overlap ("a" and "a.b"), and empty or `$` segments.
    let mut paths: Vec<&str> = Vec::new();
    for (_, fields) in update {
        if let Bson::Document(fields) = fields {
            for (path, _) in fields {
                if path.split('.').any(|s| s.is_empty() || s.starts_with('$')) {
                    return Err(PortError::server(
                        56,
                        format!("the update path '{path}' is not valid"),
                    ));
                }
                let overlaps = paths.iter().any(|p| {
                    p == path
                        || path.starts_with(&format!("{p}."))
                        || p.starts_with(&format!("{path}."))
                });
                if overlaps {
                    return Err(PortError::server(
                        40,
                        format!("Updating the path '{path}' would create a conflict"),
                    ));
                }
                paths.push(path);
            }
        }
    }
    for (operator, fields) in update {
        let Bson::Document(fields) = fields else {
            return Err(PortError::server(9, format!("{operator} needs a document")));
        };
        for (path, value) in fields {
            let segments: Vec<&str> = path.split('.').collect();
            match operator.as_str() {
                "$set" => set_path(doc, &segments, value.clone())?,
                "$unset" => unset_path(doc, &segments),
                other => {
                    return Err(PortError::server(
                        9,
                        format!("the simulator does not support the update operator {other}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn set_path(doc: &mut Document, segments: &[&str], value: Bson) -> PortResult<()> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        doc.insert(*first, value);
        return Ok(());
    }
    let entry = doc
        .entry((*first).to_owned())
        .or_insert_with(|| Bson::Document(Document::new()));
    set_in(entry, rest, value)
}

pub(crate) fn set_in(target: &mut Bson, segments: &[&str], value: Bson) -> PortResult<()> {
    match target {
        Bson::Document(inner) => set_path(inner, segments, value),
        Bson::Array(items) => {
            let (first, rest) = segments.split_first().expect("segments are not empty");
            // Digits only ("+1" is a field name to MongoDB), and no padding past 1,500,000.
            let index: usize = first
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| first.parse().ok())
                .flatten()
                .filter(|i| *i <= 1_500_000)
                .ok_or_else(|| {
                    PortError::server(28, format!("cannot create field '{first}' in an array"))
                })?;
            while items.len() <= index {
                items.push(Bson::Null);
            }
            if rest.is_empty() {
                items[index] = value;
                Ok(())
            } else {
                set_in(&mut items[index], rest, value)
            }
        }
        _ => Err(PortError::server(
            28,
            "cannot create a field inside a value that is not a document",
        )),
    }
}

pub(crate) fn unset_path(doc: &mut Document, segments: &[&str]) {
    match segments {
        [] => {}
        [only] => {
            doc.remove(*only);
        }
        [first, rest @ ..] => match doc.get_mut(*first) {
            Some(Bson::Document(inner)) => unset_path(inner, rest),
            Some(Bson::Array(items)) => unset_in_array(items, rest),
            _ => {}
        },
    }
}

/// `$unset` of an array element sets it to null (the array keeps its length), as MongoDB does.
pub(crate) fn unset_in_array(items: &mut [Bson], segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let Some(item) = first
        .parse::<usize>()
        .ok()
        .filter(|_| first.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|i| items.get_mut(i))
    else {
        return;
    };
    match (rest.is_empty(), item) {
        (true, item) => *item = Bson::Null,
        (false, Bson::Document(inner)) => unset_path(inner, rest),
        (false, Bson::Array(inner)) => unset_in_array(inner, rest),
        _ => {}
    }
}
