//! What users watch beside a connector's GET: its metrics history, the per-document trace,
//! debug mode, and alerts (rules, evaluation, history). Totals and lag are kept from workers'
//! reports by [`crate::fleet::stats`].

pub mod alerts;
pub mod debug;
pub mod history;
pub mod trace;

use crate::auth::AuthContext;
use crate::error::Result;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history::connector_metrics))
        .routes(routes!(trace::document_trace))
        .routes(routes!(debug::start_debug, debug::stop_debug))
        .routes(routes!(alerts::routes::list_alerts))
        .routes(routes!(
            alerts::routes::list_rules,
            alerts::routes::create_rule
        ))
        .routes(routes!(
            alerts::routes::get_rule,
            alerts::routes::update_rule,
            alerts::routes::delete_rule
        ))
}

/// The connector, if the caller's organization has it in `app_id` (else 404).
pub(crate) async fn visible(
    state: &AppState,
    auth: &AuthContext,
    app_id: Uuid,
    connector_id: Uuid,
) -> Result<()> {
    auth.check_app(app_id)?;
    crate::connectors::handlers::connector_visible(state, auth, app_id, connector_id).await
}
