//! The catalog: `listCollections`, `create`, `collMod`, `drop`, `dropDatabase`,
//! `createIndexes` and `listIndexes`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, doc};

use super::cursors::open_documents;
use super::dispatch::{Ctx, integer, type_name};
use super::errors::{CommandError, CommandResult};
use super::query;
use crate::state::{Collection, CollectionOptions, UniqueIndex};

/// A collection's UUID: stable for its namespace under the seed.
fn uuid(seed: u64, db: &str, name: &str) -> Binary {
    let mut bytes = Vec::with_capacity(16);
    for salt in [1u8, 2] {
        let mut hasher = DefaultHasher::new();
        (seed, salt, db, name).hash(&mut hasher);
        bytes.extend(hasher.finish().to_be_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Binary {
        subtype: BinarySubtype::Uuid,
        bytes,
    }
}

fn id_index() -> Document {
    doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"}
}

/// The options document `listCollections` shows (what `create` was given).
fn options_document(options: &CollectionOptions) -> Document {
    let mut out = Document::new();
    if options.capped {
        out.insert("capped", true);
        out.insert("size", 1_i64 << 20);
    }
    if let Some(validator) = &options.validator {
        out.insert("validator", validator.clone());
        out.insert("validationLevel", "strict");
        out.insert("validationAction", "error");
    }
    if options.pre_and_post_images {
        out.insert("changeStreamPreAndPostImages", doc! {"enabled": true});
    }
    out
}

pub(crate) fn list_collections(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    ctx.require("listCollections", &db, None)?;
    let filter = match ctx.cmd.body.get("filter") {
        None | Some(Bson::Null) => Document::new(),
        Some(Bson::Document(filter)) => filter.clone(),
        Some(other) => {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'listCollections.filter' is the wrong type '{}', expected type 'object'",
                type_name(Some(other))
            )));
        }
    };
    query::validate(&filter)?;
    let name_only = ctx.cmd.flag("nameOnly");
    let seed = ctx.shared.sim.seed();
    let entries: Vec<Document> = {
        let state = ctx.shared.sim.lock();
        state
            .databases
            .get(&db)
            .map(|colls| {
                colls
                    .iter()
                    .map(|(name, coll)| {
                        doc! {
                            "name": name.clone(),
                            "type": "collection",
                            "options": options_document(&coll.options),
                            "info": {"readOnly": false, "uuid": uuid(seed, &db, name)},
                            "idIndex": id_index(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let entries = entries
        .into_iter()
        .filter(|entry| query::matches(entry, &filter))
        .map(|entry| {
            if name_only {
                doc! {"name": entry.get("name").cloned().unwrap_or(Bson::Null), "type": "collection"}
            } else {
                entry
            }
        })
        .collect::<Vec<_>>();
    let mut reply = open_documents(ctx, &db, "$cmd.listCollections", entries.into(), None, true);
    // listCollections answers in one batch with cursor id 0.
    if let Ok(cursor) = reply.get_document_mut("cursor") {
        cursor.insert("id", 0_i64);
    }
    Ok(reply)
}

fn images_option(body: &Document) -> Result<Option<bool>, CommandError> {
    match body.get("changeStreamPreAndPostImages") {
        None => Ok(None),
        Some(Bson::Document(option)) => match option.get("enabled") {
            Some(Bson::Boolean(enabled)) => Ok(Some(*enabled)),
            _ => Err(CommandError::new(
                40414,
                "BSON field 'changeStreamPreAndPostImages.enabled' is missing but a required field",
            )),
        },
        Some(other) => Err(CommandError::type_mismatch(format!(
            "BSON field 'changeStreamPreAndPostImages' is the wrong type '{}', expected type 'object'",
            type_name(Some(other))
        ))),
    }
}

fn validator_option(body: &Document) -> Result<Option<Document>, CommandError> {
    match body.get("validator") {
        None => Ok(None),
        Some(Bson::Document(validator)) => Ok(Some(validator.clone())),
        Some(other) => Err(CommandError::type_mismatch(format!(
            "BSON field 'validator' is the wrong type '{}', expected type 'object'",
            type_name(Some(other))
        ))),
    }
}

pub(crate) fn create(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let name = ctx.cmd.collection()?;
    ctx.require("createCollection", &db, Some(&name))?;
    let body = &ctx.cmd.body;
    for unsupported in ["viewOn", "timeseries", "clusteredIndex"] {
        if body.contains_key(unsupported) {
            return Err(CommandError::new(
                72,
                format!("the simulator does not create collections with {unsupported}"),
            ));
        }
    }
    let capped = ctx.cmd.flag("capped");
    if capped && body.get("size").and_then(integer).is_none_or(|s| s <= 0) {
        return Err(CommandError::new(
            72,
            "the 'size' field is required when 'capped' is true",
        ));
    }
    let options = CollectionOptions {
        capped,
        pre_and_post_images: images_option(body)?.unwrap_or(false),
        validator: validator_option(body)?.filter(|v| !v.is_empty()),
    };
    let mut state = ctx.shared.sim.lock();
    let colls = state.databases.entry(db.clone()).or_default();
    if let Some(existing) = colls.get(&name) {
        // Since MongoDB 7.0 `create` is idempotent: ok when the collection exists with the
        // options asked for, NamespaceExists when its options differ.
        if same_options(&existing.options, &options) {
            return Ok(Document::new());
        }
        return Err(CommandError::new(
            48,
            format!(
                "namespace {db}.{name} already exists, but with different options: {}",
                options_document(&existing.options)
            ),
        ));
    }
    colls.insert(name, Collection::new(options));
    Ok(Document::new())
}

fn same_options(a: &CollectionOptions, b: &CollectionOptions) -> bool {
    a.capped == b.capped
        && a.pre_and_post_images == b.pre_and_post_images
        && a.validator == b.validator
}

pub(crate) fn coll_mod(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let name = ctx.cmd.collection()?;
    ctx.require("collMod", &db, Some(&name))?;
    let images = images_option(&ctx.cmd.body)?;
    let validator = validator_option(&ctx.cmd.body)?;
    let mut state = ctx.shared.sim.lock();
    let coll = state
        .databases
        .get_mut(&db)
        .and_then(|d| d.get_mut(&name))
        .ok_or_else(|| CommandError::new(26, format!("ns does not exist: {db}.{name}")))?;
    if let Some(enabled) = images {
        coll.options.pre_and_post_images = enabled;
    }
    if let Some(validator) = validator {
        coll.options.validator = Some(validator).filter(|v| !v.is_empty());
    }
    Ok(Document::new())
}

pub(crate) fn drop(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let name = ctx.cmd.collection()?;
    ctx.require("dropCollection", &db, Some(&name))?;
    // Since MongoDB 7.0, dropping a collection that does not exist succeeds.
    let existed = ctx.shared.sim.collection_exists(&db, &name);
    ctx.shared.sim.drop_collection(&db, &name);
    let mut reply = Document::new();
    if existed {
        reply.insert("ns", format!("{db}.{name}"));
        reply.insert("nIndexesWas", 1);
    }
    Ok(reply)
}

pub(crate) fn drop_database(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    ctx.require("dropDatabase", &db, None)?;
    let names: Vec<String> = {
        let state = ctx.shared.sim.lock();
        state
            .databases
            .get(&db)
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default()
    };
    for name in &names {
        ctx.shared.sim.drop_collection(&db, name);
    }
    Ok(doc! {"dropped": db})
}

pub(crate) fn create_indexes(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let name = ctx.cmd.collection()?;
    ctx.require("createIndex", &db, Some(&name))?;
    let specs = ctx.cmd.documents("indexes")?;
    let mut state = ctx.shared.sim.lock();
    let created_collection = !state
        .databases
        .get(&db)
        .is_some_and(|d| d.contains_key(&name));
    let coll = state
        .databases
        .entry(db.clone())
        .or_default()
        .entry(name.clone())
        .or_insert_with(|| Collection::new(CollectionOptions::default()));
    let before = 1 + coll.unique.len() + coll.indexes.len();
    for spec in specs {
        let key = spec
            .get_document("key")
            .map_err(|_| {
                CommandError::new(
                    9,
                    "The 'key' field is a required property of an index specification",
                )
            })?
            .clone();
        let index_name = spec.get_str("name").map(str::to_owned).map_err(|_| {
            CommandError::new(
                9,
                "The 'name' field is a required property of an index specification",
            )
        })?;
        let unique = matches!(spec.get("unique"), Some(Bson::Boolean(true)));
        if unique {
            if spec.contains_key("partialFilterExpression") {
                return Err(CommandError::new(
                    67,
                    "the simulator does not model partial unique indexes",
                ));
            }
            let index = UniqueIndex {
                name: index_name,
                fields: key.keys().cloned().collect(),
            };
            // Refused while existing documents already collide, as the server does.
            coll.add_unique(&format!("{db}.{name}"), index)
                .map_err(|message| CommandError::new(11000, message))?;
        } else if !coll
            .indexes
            .iter()
            .any(|i| i.get_str("name").ok() == Some(index_name.as_str()))
        {
            coll.indexes
                .push(doc! {"v": 2, "key": key, "name": index_name});
        }
    }
    let after = 1 + coll.unique.len() + coll.indexes.len();
    Ok(doc! {
        "numIndexesBefore": i32::try_from(before).unwrap_or(i32::MAX),
        "numIndexesAfter": i32::try_from(after).unwrap_or(i32::MAX),
        "createdCollectionAutomatically": created_collection,
    })
}

pub(crate) fn list_indexes(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let name = ctx.cmd.collection()?;
    ctx.require("listIndexes", &db, Some(&name))?;
    let indexes: Vec<Document> = {
        let state = ctx.shared.sim.lock();
        let coll = state
            .databases
            .get(&db)
            .and_then(|d| d.get(&name))
            .ok_or_else(|| CommandError::new(26, format!("ns does not exist: {db}.{name}")))?;
        let mut all = vec![id_index()];
        all.extend(coll.unique.iter().map(|index| {
            let key: Document = index
                .fields
                .iter()
                .map(|f| (f.clone(), Bson::Int32(1)))
                .collect();
            doc! {"v": 2, "key": key, "name": index.name.clone(), "unique": true}
        }));
        all.extend(coll.indexes.iter().cloned());
        all
    };
    Ok(open_documents(ctx, &db, &name, indexes.into(), None, true))
}
