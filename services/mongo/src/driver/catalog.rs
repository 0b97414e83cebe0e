//! Reply parsing: `listCollections` and `listIndexes` entries and `connectionStatus` privileges
//! as the port's types.

use std::collections::BTreeSet;

use bson::{Bson, Document};

use crate::port::{CollectionInfo, CollectionKind, IndexInfo, Privilege, Resource};

/// One `listCollections` entry. `None` for entries of a type this port does not know.
pub(super) fn parse_collection_info(doc: &Document) -> Option<CollectionInfo> {
    let name = doc.get_str("name").ok()?.to_owned();
    let kind = match doc.get("type") {
        // Servers before 3.4 did not send a type; everything was a collection.
        None => CollectionKind::Collection,
        Some(Bson::String(kind)) => match kind.as_str() {
            "collection" => CollectionKind::Collection,
            "view" => CollectionKind::View,
            "timeseries" => CollectionKind::Timeseries,
            _ => return None,
        },
        Some(_) => return None,
    };
    let options = doc.get_document("options").ok();
    let option = |key: &str| options.and_then(|o| o.get(key));
    let capped = matches!(option("capped"), Some(Bson::Boolean(true)));
    let pre_and_post_images = matches!(
        option("changeStreamPreAndPostImages"),
        Some(Bson::Document(images)) if matches!(images.get("enabled"), Some(Bson::Boolean(true)))
    );
    // `collMod` with `validator: {}` is how validation is switched off: an empty validator
    // validates nothing.
    let validator = match option("validator") {
        Some(Bson::Document(validator)) if !validator.is_empty() => Some(validator.clone()),
        _ => None,
    };
    Some(CollectionInfo {
        name,
        kind,
        capped,
        pre_and_post_images,
        validator,
    })
}

/// One `listIndexes` entry. `None` without a name or key.
pub(super) fn parse_index_info(doc: &Document) -> Option<IndexInfo> {
    let name = doc.get_str("name").ok()?.to_owned();
    let keys: Vec<String> = doc.get_document("key").ok()?.keys().cloned().collect();
    // The `_id` index is unique without saying so.
    let unique = doc.get("unique").is_some_and(truthy) || keys == ["_id"];
    Some(IndexInfo {
        name,
        keys,
        unique,
        partial: doc.contains_key("partialFilterExpression"),
    })
}

/// An index option as old servers and shells may store it: `true`, or `1`.
fn truthy(value: &Bson) -> bool {
    match value {
        Bson::Boolean(b) => *b,
        Bson::Int32(i) => *i != 0,
        Bson::Int64(i) => *i != 0,
        Bson::Double(d) => *d != 0.0,
        _ => false,
    }
}

/// `authInfo.authenticatedUserPrivileges` of a `connectionStatus` reply. Entries on resources
/// this port does not model (such as `system_buckets`) are left out: they grant nothing the
/// checks ask about.
pub(super) fn parse_privileges(reply: &Document) -> Vec<Privilege> {
    let Ok(list) = reply
        .get_document("authInfo")
        .and_then(|info| info.get_array("authenticatedUserPrivileges"))
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|entry| match entry {
            Bson::Document(entry) => parse_privilege(entry),
            _ => None,
        })
        .collect()
}

fn parse_privilege(entry: &Document) -> Option<Privilege> {
    let resource = parse_resource(entry.get_document("resource").ok()?)?;
    let actions: BTreeSet<String> = entry
        .get_array("actions")
        .ok()?
        .iter()
        .filter_map(Bson::as_str)
        .map(str::to_owned)
        .collect();
    Some(Privilege { resource, actions })
}

fn parse_resource(resource: &Document) -> Option<Resource> {
    if matches!(resource.get("anyResource"), Some(Bson::Boolean(true))) {
        return Some(Resource::AnyResource);
    }
    if matches!(resource.get("cluster"), Some(Bson::Boolean(true))) {
        return Some(Resource::Cluster);
    }
    let db = resource.get_str("db").ok()?;
    let collection = resource.get_str("collection").ok()?;
    Some(Resource::Namespace {
        db: db.to_owned(),
        collection: collection.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::parse_index_info;

    #[test]
    fn indexes_say_their_fields_and_whether_they_keep_them_unique() {
        let id = parse_index_info(&doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"}).unwrap();
        assert!(id.unique, "the _id index is unique without saying so");
        let compound = parse_index_info(
            &doc! {"v": 2, "key": {"tenant": 1, "sku": -1}, "name": "tenant_1_sku_-1", "unique": true},
        )
        .unwrap();
        assert_eq!(compound.keys, ["tenant", "sku"]);
        assert!(compound.unique && !compound.partial);
        let partial = parse_index_info(&doc! {
            "v": 2, "key": {"sku": 1}, "name": "sku_1", "unique": 1,
            "partialFilterExpression": {"deleted": false},
        })
        .unwrap();
        assert!(partial.unique && partial.partial);
        let plain =
            parse_index_info(&doc! {"v": 2, "key": {"sku": "hashed"}, "name": "sku_hashed"});
        assert!(!plain.unwrap().unique);
        assert_eq!(parse_index_info(&doc! {"key": {"a": 1}}), None);
    }
}
