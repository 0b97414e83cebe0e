-- Which connector writes each edge collection of an app (issue 15). An edge collection has the
-- name of the MongoDB collection it mirrors, so two connectors of one app mapping the same name
-- would each copy the other's edge writes into its own MongoDB database. The primary key lets
-- one connector per app hold a name; the api claims a connector's names in the transaction
-- that saves it, so two connectors saved at once cannot both get one.
create table connector_edge_collections (
    app_id uuid not null,
    collection text collate "C" not null,
    connector_id uuid not null references connectors (connector_id) on delete cascade,
    primary key (app_id, collection)
);

create index connector_edge_collections_connector_idx on connector_edge_collections (connector_id);

-- Existing connectors: where two already map one name, the older keeps it and the other is
-- refused (409 edge_collection_taken, naming the older) at its next change until it drops it.
insert into connector_edge_collections (app_id, collection, connector_id)
select c.app_id, k.collection, c.connector_id
from connectors c cross join lateral json_object_keys(c.collections) as k(collection)
order by c.created_at, c.connector_id
on conflict do nothing;
