//! `/v1/apps/{appId}/connectors`: MongoDB connectors of an app.

pub mod checks;
pub mod edge_collections;
pub mod handlers;
pub mod lifecycle;
pub mod model;
pub mod repo;
pub mod stats;
pub mod unsynced;
pub mod validate;
pub mod view;

use crate::state::AppState;
use checks::*;
use handlers::*;
use lifecycle::*;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use validate::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connectors, create_connector))
        .routes(routes!(validate_connector))
        .routes(routes!(test_connector_spec))
        .routes(routes!(preview_mapping))
        .routes(routes!(test_connector))
        .routes(routes!(
            get_connector,
            replace_connector,
            update_connector,
            delete_connector
        ))
        .routes(routes!(pause_connector))
        .routes(routes!(resume_connector))
        .routes(routes!(restart_connector))
        .routes(routes!(resync_collection))
        .merge(unsynced::router())
}
