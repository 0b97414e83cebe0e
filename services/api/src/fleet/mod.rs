//! The worker fleet as the api sees it: the internal API workers call (registration,
//! heartbeats, specs, fenced reports), diagnostics events, and the operator's routes.

pub mod admin;
pub mod auth;
pub mod event_store;
pub mod events;
pub mod internal;
pub mod report;
pub mod stats;
pub mod sync;
pub mod traces;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The documented routes: connector events (tenants) and the operator's worker routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events::list_events))
        .routes(routes!(admin::list_workers))
        .routes(routes!(admin::drain_worker))
}
