//! Which connector writes each edge collection of an app. An edge collection has the name of the
//! MongoDB collection it mirrors, so two connectors of one app mapping the same name would each
//! copy the other's edge writes into its own MongoDB database. The table's primary key (one
//! connector per app and collection) refuses the second one, also when both are saved at once.

use crate::error::{ApiError, Result};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

/// Another connector's collection, named in a refusal.
#[derive(Debug, sqlx::FromRow)]
pub struct TakenCollection {
    pub collection: String,
    pub connector_id: Uuid,
    pub connector_name: String,
}

/// Makes `collections` the connector's edge collections, in its transaction: releases the ones it
/// no longer maps and claims the new ones. 409 `edge_collection_taken` when another connector of
/// the app holds one (a concurrent claim waits for the other transaction, then sees its row).
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    connector_id: Uuid,
    collections: &[String],
) -> Result<()> {
    sqlx::query(
        "delete from connector_edge_collections
         where connector_id = $1 and not (collection = any($2))",
    )
    .bind(connector_id)
    .bind(collections)
    .execute(&mut **tx)
    .await?;
    // A row held by this connector is "updated" to itself and returned; one held by another
    // is left alone and not returned.
    let claimed: Vec<String> = sqlx::query_scalar(
        "insert into connector_edge_collections (app_id, collection, connector_id)
         select $1, c, $2 from unnest($3::text[]) as c
         on conflict (app_id, collection) do update set connector_id = excluded.connector_id
             where connector_edge_collections.connector_id = excluded.connector_id
         returning collection",
    )
    .bind(app_id)
    .bind(connector_id)
    .bind(collections)
    .fetch_all(&mut **tx)
    .await?;
    if claimed.len() == collections.len() {
        return Ok(());
    }
    let wanted: Vec<&String> = collections
        .iter()
        .filter(|c| !claimed.contains(c))
        .collect();
    let taken = taken_by_others(&mut **tx, app_id, connector_id, &wanted).await?;
    Err(taken_problem(&taken))
}

/// The collections among `collections` that other connectors of the app write.
pub async fn taken_by_others(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    connector_id: Uuid,
    collections: &[&String],
) -> Result<Vec<TakenCollection>> {
    Ok(sqlx::query_as(
        "select e.collection, c.connector_id, c.name as connector_name
         from connector_edge_collections e join connectors c on c.connector_id = e.connector_id
         where e.app_id = $1 and e.connector_id <> $2 and e.collection = any($3)
         order by e.collection",
    )
    .bind(app_id)
    .bind(connector_id)
    .bind(collections)
    .fetch_all(db)
    .await?)
}

/// What one taken collection says, for a validation report.
pub fn taken_message(taken: &TakenCollection) -> String {
    format!(
        "edge collection `{}` is already written by connector `{}` ({}) of this app; map each collection in one connector only, or remove it from `{}` first",
        taken.collection, taken.connector_name, taken.connector_id, taken.connector_name
    )
}

fn taken_problem(taken: &[TakenCollection]) -> ApiError {
    let Some(first) = taken.first() else {
        // The other connector was deleted in between: a retry succeeds.
        return ApiError::conflict(
            "edge_collection_taken",
            "Another connector of this app was writing one of these edge collections a moment ago; retry.",
        );
    };
    let mut detail = format!(
        "The edge collection `{}` is already written by connector `{}` ({}) of this app. An edge collection has its MongoDB collection's name, and two connectors writing one would copy each other's changes into their own MongoDB databases. Map the collection in one connector only, or remove it from `{}` first.",
        first.collection, first.connector_name, first.connector_id, first.connector_name
    );
    if taken.len() > 1 {
        let others: Vec<String> = taken[1..]
            .iter()
            .map(|t| format!("`{}` (connector `{}`)", t.collection, t.connector_name))
            .collect();
        detail.push_str(&format!(" Also taken: {}.", others.join(", ")));
    }
    ApiError::conflict("edge_collection_taken", detail)
}
