//! Connector CRUD: validation, defaults, redaction, encryption at rest, ETags, plans, pagination,
//! pause and resume.

mod operations;
mod specs;
mod updates;

use serde_json::Value;

fn plan_entry<'a>(update: &'a Value, collection: &str) -> &'a Value {
    update["plan"]["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collection"] == collection)
        .unwrap_or_else(|| panic!("no plan entry for {collection} in {update}"))
}
