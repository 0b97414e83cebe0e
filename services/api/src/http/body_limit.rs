//! The request-body limit, applied together with what a 413 says about it: the limit in bytes
//! and the setting that changes it.

use crate::error::ApiError;
use axum::Extension;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;

/// The limit of the routes a request reached, for the 413 answer.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    pub bytes: usize,
    /// The environment variable that sets it, when an operator can change it.
    pub setting: Option<&'static str>,
}

/// Bounds request bodies to `bytes` and lets a 413 say so.
pub fn layer(
    bytes: usize,
    setting: Option<&'static str>,
) -> (Extension<BodyLimit>, DefaultBodyLimit) {
    (
        Extension(BodyLimit { bytes, setting }),
        DefaultBodyLimit::max(bytes),
    )
}

/// The 413 answer, naming the limit (and its setting) when the route has one.
pub fn too_large(limit: Option<&BodyLimit>) -> ApiError {
    let Some(limit) = limit else {
        return ApiError::PayloadTooLarge;
    };
    let mut detail = format!(
        "The request body is larger than the {} bytes this server accepts.",
        limit.bytes
    );
    match limit.setting {
        Some(setting) => detail.push_str(&format!(
            " Send less at once, or ask the operator to raise {setting} (in bytes; now {}).",
            limit.bytes
        )),
        None => detail.push_str(" Send less at once."),
    }
    ApiError::other(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail)
}
