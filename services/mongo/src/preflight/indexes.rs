//! The unique index on a collection's ID fields. A mapping keyed by fields other than `_id` makes
//! the write-back upsert by a filter on those fields: without an index on them each upsert
//! scans the collection, and without a *unique* one a document another application inserts at
//! the same moment becomes a duplicate the connector cannot tell apart. The connector still
//! runs without it, so a missing index is a warning; `autoConfigure` creates it.

use std::time::Instant;

use super::checks::cause;
use super::collections::find;
use super::recorder::Run;
use super::remedy::{remedy_id_index, remedy_id_index_unverified};
use super::{PreflightOptions, PreflightRequest, bounded};
use crate::port::{CollectionInfo, IndexInfo, MongoPort};

const CHECK: &str = "id_index";

pub(super) async fn id_index(
    port: &dyn MongoPort,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
    available: &[&CollectionInfo],
) {
    let db = request.database.as_str();
    for name in &request.collections {
        if find(available, name).is_none() {
            run.skip_unavailable(CHECK, name);
            continue;
        }
        let t = Instant::now();
        let fields = match request.id_fields.get(name) {
            Some(fields) if !fields.is_empty() && *fields != ["_id"] => fields,
            _ => {
                run.pass(
                    CHECK,
                    Some(name),
                    format!(
                        "Collection {name} is keyed by _id, which MongoDB always indexes uniquely."
                    ),
                    t,
                );
                continue;
            }
        };
        let shown = fields.join(", ");
        let command = create_index_command(name, fields);
        let indexes = match bounded(
            options.step_timeout,
            "listIndexes",
            port.list_indexes(db, name),
        )
        .await
        {
            Ok(indexes) => indexes,
            Err(e) => {
                run.warn(
                    CHECK,
                    Some(name),
                    "id_index_unverified",
                    format!(
                        "The indexes of collection {name} could not be listed, so whether a unique index covers its ID fields ({shown}) is unknown: {}.",
                        cause(&e)
                    ),
                    remedy_id_index_unverified(&command),
                    t,
                );
                continue;
            }
        };
        if let Some(index) = indexes.iter().find(|i| keeps_unique(i, fields)) {
            run.pass(
                CHECK,
                Some(name),
                format!(
                    "Collection {name} has the unique index {} on its ID fields ({shown}).",
                    index.name
                ),
                t,
            );
            continue;
        }
        let missing = format!(
            "Collection {name} has no unique index on its ID fields ({shown}): each write-back upsert by them scans the collection, and a document another application inserts at the same time can duplicate one."
        );
        if !request.auto_configure {
            run.warn(
                CHECK,
                Some(name),
                "id_index_missing",
                missing,
                remedy_id_index(&command),
                t,
            );
            continue;
        }
        match bounded(
            options.step_timeout,
            "createIndexes",
            port.create_index(db, name, fields, true),
        )
        .await
        {
            Ok(()) => {
                run.changes.push(format!(
                    "Created the unique index {} on collection {db}.{name}.",
                    key_document(fields)
                ));
                run.pass(
                    CHECK,
                    Some(name),
                    format!(
                        "Collection {name} had no unique index on its ID fields ({shown}); autoConfigure created one."
                    ),
                    t,
                );
            }
            Err(e) => run.warn(
                CHECK,
                Some(name),
                "id_index_missing",
                format!(
                    "{missing} autoConfigure could not create one: {}.",
                    cause(&e)
                ),
                remedy_id_index(&command),
                t,
            ),
        }
    }
}

/// Whether `index` alone keeps the ID fields' values unique: a unique index on some of them
/// (two documents equal on all of them are equal on those too), over the whole collection.
fn keeps_unique(index: &IndexInfo, id_fields: &[String]) -> bool {
    index.unique
        && !index.partial
        && !index.keys.is_empty()
        && index.keys.iter().all(|key| id_fields.contains(key))
}

/// `db.orders.createIndex({tenant: 1, sku: 1}, {unique: true})`, quoted where mongosh needs it.
fn create_index_command(collection: &str, fields: &[String]) -> String {
    let target = if is_identifier(collection) {
        format!("db.{collection}")
    } else {
        format!("db.getCollection({})", quoted(collection))
    };
    format!(
        "{target}.createIndex({}, {{unique: true}})",
        key_document(fields)
    )
}

/// `{tenant: 1, sku: 1}`.
fn key_document(fields: &[String]) -> String {
    let keys: Vec<String> = fields
        .iter()
        .map(|field| {
            if is_identifier(field) {
                format!("{field}: 1")
            } else {
                format!("{}: 1", quoted(field))
            }
        })
        .collect();
    format!("{{{}}}", keys.join(", "))
}

/// A name JavaScript takes as it is (property access, object key).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn quoted(name: &str) -> String {
    serde_json::Value::String(name.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::{create_index_command, keeps_unique};
    use crate::port::IndexInfo;

    fn index(keys: &[&str], unique: bool, partial: bool) -> IndexInfo {
        IndexInfo {
            name: keys.join("_"),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            unique,
            partial,
        }
    }

    #[test]
    fn a_unique_index_on_some_of_the_id_fields_keeps_them_unique() {
        let fields = ["tenant".to_owned(), "sku".to_owned()];
        assert!(keeps_unique(
            &index(&["sku", "tenant"], true, false),
            &fields
        ));
        assert!(keeps_unique(&index(&["tenant"], true, false), &fields));
        assert!(keeps_unique(
            &index(&["_id"], true, false),
            &["_id".to_owned()]
        ));
        // Not unique, unique only among some documents, or on a field beyond the ID fields.
        assert!(!keeps_unique(
            &index(&["tenant", "sku"], false, false),
            &fields
        ));
        assert!(!keeps_unique(
            &index(&["tenant", "sku"], true, true),
            &fields
        ));
        assert!(!keeps_unique(
            &index(&["tenant", "region"], true, false),
            &fields
        ));
    }

    #[test]
    fn the_command_is_what_mongosh_runs() {
        let fields = ["tenant".to_owned(), "sku".to_owned()];
        assert_eq!(
            create_index_command("orders", &fields),
            "db.orders.createIndex({tenant: 1, sku: 1}, {unique: true})"
        );
        assert_eq!(
            create_index_command("order-lines", &["line no".to_owned()]),
            r#"db.getCollection("order-lines").createIndex({"line no": 1}, {unique: true})"#
        );
    }
}
