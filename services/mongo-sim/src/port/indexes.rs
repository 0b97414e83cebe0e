//! A collection's indexes in process: `listIndexes` and `createIndexes` as the wire front serves
//! them (the same state: unique indexes enforced on every write, others listed only).

use bson::{Bson, Document, doc};
use edgebridge_mongo::PortError;
use edgebridge_mongo::port::{IndexInfo, PortResult};

use super::SimPort;
use crate::state::{Collection, CollectionOptions, UniqueIndex};

/// `_id_` first, then the unique indexes, then the others, as the wire front lists them.
pub(super) async fn list(port: &SimPort, db: &str, collection: &str) -> PortResult<Vec<IndexInfo>> {
    port.require(
        format!("listIndexes {db}.{collection}"),
        "listIndexes",
        db,
        Some(collection),
    )
    .await?;
    let mut state = port.sim.lock();
    let coll = state.collection(db, collection)?;
    let mut out = vec![IndexInfo {
        name: "_id_".to_owned(),
        keys: vec!["_id".to_owned()],
        unique: true,
        partial: false,
    }];
    out.extend(coll.unique.iter().map(|index| IndexInfo {
        name: index.name.clone(),
        keys: index.fields.clone(),
        unique: true,
        partial: false,
    }));
    out.extend(coll.indexes.iter().map(|spec| {
        IndexInfo {
            name: spec.get_str("name").unwrap_or_default().to_owned(),
            keys: spec
                .get_document("key")
                .map(|key| key.keys().cloned().collect())
                .unwrap_or_default(),
            unique: false,
            partial: spec.contains_key("partialFilterExpression"),
        }
    }));
    Ok(out)
}

/// One ascending index on `keys`, named as MongoDB names it by default. A unique one is refused
/// (11000) while documents already share its values; one on the same fields is left as it is.
pub(super) async fn create(
    port: &SimPort,
    db: &str,
    collection: &str,
    keys: &[String],
    unique: bool,
) -> PortResult<()> {
    port.require(
        format!("createIndexes {db}.{collection}"),
        "createIndex",
        db,
        Some(collection),
    )
    .await?;
    let mut state = port.sim.lock();
    // Like the server (and the wire front), creating an index creates its collection.
    let coll = state
        .databases
        .entry(db.to_owned())
        .or_default()
        .entry(collection.to_owned())
        .or_insert_with(|| Collection::new(CollectionOptions::default()));
    let index = UniqueIndex::on(keys.to_vec());
    if unique {
        coll.add_unique(&format!("{db}.{collection}"), index)
            .map_err(|message| PortError::server(11000, message))?;
    } else if !coll
        .indexes
        .iter()
        .any(|i| i.get_str("name").ok() == Some(index.name.as_str()))
    {
        let key: Document = keys.iter().map(|k| (k.clone(), Bson::Int32(1))).collect();
        coll.indexes
            .push(doc! {"v": 2, "key": key, "name": index.name});
    }
    Ok(())
}
