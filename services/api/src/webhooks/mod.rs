//! `/v1/apps/{appId}/webhooks`: notifications of an app's alert transitions, signed the
//! Standard Webhooks way, retried with backoff for 24 hours, every attempt logged.
//!
//! Producers call [`enqueue`] inside the transaction that records the event; the dispatcher
//! ([`run`], in the scheduler role) sends what is due.

pub mod deliveries;
pub mod dispatch;
pub mod handlers;
pub mod keys;
pub mod log;
pub mod model;
pub mod queue;
pub mod repo;
pub mod send;
pub mod signature;
pub mod target;

pub use dispatch::{Dispatcher, dispatch_due, run};
pub use model::{EVENT_TYPES, TEST_EVENT};
pub use queue::enqueue;
pub use send::WebhookSender;

use crate::state::AppState;
use deliveries::*;
use handlers::*;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(test_webhook))
        .routes(routes!(list_webhook_deliveries))
        .routes(routes!(get_webhook_delivery))
        .routes(routes!(retry_webhook_delivery))
}
