//! Every operation of the adapter is bounded in time: the driver has no socket timeout by
//! default, so a server that accepts a connection and never answers (a half-dead network path,
//! a majority write that cannot be acknowledged) would hold the caller forever.

use std::future::IntoFuture;
use std::time::Duration;

use crate::error::{ErrorKind, PortError};
use crate::port::PortResult;

/// Runs a driver operation for at most `limit` and gives its answer (for the caller to
/// classify); past the limit the operation is dropped (the driver closes its connection) and
/// reported as a timeout.
pub(super) async fn deadline<T, F>(
    limit: Duration,
    what: &str,
    operation: F,
) -> PortResult<Result<T, mongodb::error::Error>>
where
    F: IntoFuture<Output = Result<T, mongodb::error::Error>>,
{
    tokio::time::timeout(limit, operation.into_future())
        .await
        .map_err(|_| stuck(limit, what))
}

/// The error of an operation that did not answer in time (transient: the connector retries).
pub(super) fn stuck(limit: Duration, what: &str) -> PortError {
    PortError::new(
        ErrorKind::Timeout,
        format!(
            "MongoDB did not answer {what} within {} s; the operation was abandoned",
            limit.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_operation_that_never_answers_is_reported_stuck() {
        let never = std::future::pending::<Result<(), mongodb::error::Error>>();
        let err = deadline(Duration::from_secs(5), "a ping", never)
            .await
            .unwrap_err();
        // Never a driver error: the caller's classification does not apply.
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert!(err.is_transient());
        assert!(err.message.contains("a ping within 5 s"), "{err}");
    }
}
