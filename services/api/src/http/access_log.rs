//! The one log line per answered request: INFO, except the workers' routine traffic (a
//! heartbeat every few seconds per worker, status reports, sync batches), which logs at DEBUG
//! when it succeeds. Failures log at INFO wherever they come from.

use crate::state::AppState;
use axum::Router;
use axum::response::Response;
use std::time::Duration;
use tower_http::trace::{DefaultOnResponse, OnResponse};
use tracing::{Level, Span};

/// Set on the responses of routine routes.
#[derive(Clone, Copy)]
struct Routine;

/// Marks every response of `router` as routine.
pub fn routine(router: Router<AppState>) -> Router<AppState> {
    router.layer(axum::middleware::map_response(
        |mut response: Response| async move {
            response.extensions_mut().insert(Routine);
            response
        },
    ))
}

/// The access-log line of `tower_http`'s trace layer, at the level the response calls for.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLog;

impl<B> OnResponse<B> for AccessLog {
    fn on_response(self, response: &http::Response<B>, latency: Duration, span: &Span) {
        DefaultOnResponse::new()
            .level(level(response))
            .on_response(response, latency, span)
    }
}

fn level<B>(response: &http::Response<B>) -> Level {
    let status = response.status();
    let failed = status.is_client_error() || status.is_server_error();
    if response.extensions().get::<Routine>().is_some() && !failed {
        Level::DEBUG
    } else {
        Level::INFO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn response(status: StatusCode, routine: bool) -> http::Response<()> {
        let mut response = http::Response::new(());
        *response.status_mut() = status;
        if routine {
            response.extensions_mut().insert(Routine);
        }
        response
    }

    #[test]
    fn routine_successes_log_at_debug_and_everything_else_at_info() {
        assert_eq!(level(&response(StatusCode::OK, true)), Level::DEBUG);
        assert_eq!(level(&response(StatusCode::NO_CONTENT, true)), Level::DEBUG);
        assert_eq!(level(&response(StatusCode::CONFLICT, true)), Level::INFO);
        assert_eq!(
            level(&response(StatusCode::INTERNAL_SERVER_ERROR, true)),
            Level::INFO
        );
        assert_eq!(level(&response(StatusCode::OK, false)), Level::INFO);
    }
}
