//! The one error type of the api: every failure becomes `application/problem+json` (RFC 9457) with
//! a stable machine `code`. Server errors answer a generic body; the cause goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edgebridge_domain::Violation;
use serde::Serialize;
use utoipa::ToSchema;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request has {} invalid value(s)", .0.len())]
    Validation(Vec<Violation>),
    #[error("{detail}")]
    BadRequest {
        code: &'static str,
        detail: String,
        path: Option<String>,
    },
    /// One value the server cannot take (422), with its own stable code and JSON pointer.
    #[error("{detail}")]
    InvalidField {
        code: &'static str,
        path: String,
        detail: String,
    },
    #[error("authentication required")]
    Unauthenticated,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the resource changed since it was read")]
    PreconditionFailed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The caller's address failed authentication too often (see `auth::failures`).
    #[error("too many failed authentications")]
    TooManyFailedAuthentications { retry_after_secs: u64 },
    #[error("request timed out")]
    Timeout,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A statement that does not parse: where, and what was expected.
    #[error("{0}")]
    DqlParse(edgebridge_edge::dql::ParseError),
    /// Any other refusal with its own status and stable code.
    #[error("{detail}")]
    Other {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The problem document every error answers with.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A URI naming the problem type: `urn:edgebridge:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:edgebridge:problem:validation_failed")]
    pub problem_type: String,
    #[schema(example = "Validation failed")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "The request has 1 invalid value(s); see `errors`.")]
    pub detail: String,
    /// Stable machine-readable code; branch on this, not on the text.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// For validation failures: every problem found, with its JSON pointer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<Violation>>,
    /// For DQL parse errors: where in the statement, and what was expected there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_error: Option<StatementError>,
}

/// Where a DQL statement stopped parsing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatementError {
    /// Byte offset into the statement.
    pub position: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub expected: Vec<String>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
            path: None,
        }
    }

    pub fn bad_field(code: &'static str, path: &str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
            path: Some(path.to_owned()),
        }
    }

    pub fn invalid_field(code: &'static str, path: &str, detail: impl Into<String>) -> Self {
        Self::InvalidField {
            code,
            path: path.to_owned(),
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(detail.into())
    }

    pub fn other(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self::Other {
            status,
            code,
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } | Self::TooManyFailedAuthentications { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::DqlParse(_) => StatusCode::BAD_REQUEST,
            Self::Other { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::InvalidField { code, .. } => code,
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::PreconditionFailed => "precondition_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyFailedAuthentications { .. } => "too_many_failed_authentications",
            Self::Timeout => "request_timeout",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unavailable(_) => "unavailable",
            Self::DqlParse(e) if e.unsupported => "dql_unsupported",
            Self::DqlParse(_) => "dql_syntax_error",
            Self::Other { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Validation(_) | Self::InvalidField { .. } => "Validation failed",
            Self::BadRequest { .. } => "Bad request",
            Self::Unauthenticated => "Authentication required",
            Self::InvalidCredentials => "Invalid credentials",
            Self::Forbidden(_) => "Forbidden",
            Self::NotFound(_) => "Not found",
            Self::Conflict { .. } => "Conflict",
            Self::PreconditionFailed => "Precondition failed",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::RateLimited { .. } => "Too many requests",
            Self::TooManyFailedAuthentications { .. } => "Too many failed authentications",
            Self::Timeout => "Request timed out",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Unavailable(_) => "Service unavailable",
            Self::DqlParse(e) if e.unsupported => "Statement uses something not supported",
            Self::DqlParse(_) => "Statement does not parse",
            Self::Other { status, .. } => status.canonical_reason().unwrap_or("Error"),
            Self::Internal(_) => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Validation(v) => format!(
                "The request has {} invalid value(s); see `errors` for each path and how to fix it.",
                v.len()
            ),
            Self::BadRequest { detail, .. }
            | Self::Conflict { detail, .. }
            | Self::InvalidField { detail, .. } => detail.clone(),
            Self::Forbidden(detail) => detail.clone(),
            Self::Unauthenticated => {
                "Send `Authorization: Bearer <API key or access token>`.".to_owned()
            }
            Self::InvalidCredentials => {
                "The API key or access token is unknown, revoked or expired. Create a new key or exchange your key for a fresh token at POST /v1/auth/token.".to_owned()
            }
            Self::NotFound(what) => format!("The {what} does not exist or is not visible to you."),
            Self::PreconditionFailed => "The resource changed since you read it (If-Match does not match its ETag). GET it again, re-apply your change and retry.".to_owned(),
            Self::PayloadTooLarge => "The request body is larger than this server accepts.".to_owned(),
            Self::UnsupportedMediaType => "Send the body as JSON with `Content-Type: application/json`.".to_owned(),
            Self::RateLimited { retry_after_secs } => format!(
                "This API key sent more requests than its rate limit allows; retry after {retry_after_secs} s."
            ),
            Self::TooManyFailedAuthentications { retry_after_secs } => format!(
                "Too many failed authentication attempts from this address; wait {retry_after_secs} s. Requests with a valid API key or access token are still served."
            ),
            Self::Timeout => "The request took longer than the server allows; retry later.".to_owned(),
            Self::MethodNotAllowed => "This path does not support that HTTP method.".to_owned(),
            Self::Unavailable(what) => format!("A dependency is unavailable: {what}."),
            Self::DqlParse(e) if e.unsupported => format!("At {e}."),
            Self::DqlParse(e) => format!("The statement does not parse at {e}."),
            Self::Other { detail, .. } => detail.clone(),
            Self::Internal(_) => "Something went wrong on our side. Retry later; if it persists, report the x-request-id of this response.".to_owned(),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let errors = match self {
            Self::Validation(v) => Some(v.clone()),
            Self::BadRequest {
                path: Some(path),
                detail,
                ..
            }
            | Self::InvalidField { path, detail, .. } => Some(vec![Violation {
                path: path.clone(),
                message: detail.clone(),
            }]),
            _ => None,
        };
        let statement_error = match self {
            Self::DqlParse(e) => Some(StatementError {
                position: e.position,
                line: e.line,
                column: e.column,
                expected: e.expected.clone(),
            }),
            _ => None,
        };
        Problem {
            problem_type: format!("urn:edgebridge:problem:{}", self.code()),
            title: self.title().to_owned(),
            status: self.status().as_u16(),
            detail: self.detail(),
            code: self.code().to_owned(),
            errors,
            statement_error,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            Self::RateLimited { retry_after_secs }
            | Self::TooManyFailedAuthentications { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::Unauthenticated | Self::InvalidCredentials => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"edgebridge\""),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database error"))
    }
}

/// The name of the constraint a database error violated, if any.
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
