//! Extractors that answer bad input in the same problem format as everything else, plus the
//! small request-level helpers shared by the resources (pagination, ETags).

use super::body_limit::{self, BodyLimit};
use super::json::{NulRule, nul_problem, parse_json_with};
use crate::error::{ApiError, Result};
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request};
use axum::http::header::{CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use uuid::Uuid;

/// A JSON body. Wrong content type answers 415, a too-large body 413 (naming the limit), broken
/// JSON 400, a body of the wrong shape 422 with the JSON pointer of the offending value, and a
/// NUL character in any string or key 422 `invalid_character` (see [`super::json`]).
pub struct ApiJson<T>(pub T);

/// Like [`ApiJson`], but strings may hold NUL: only for worker batches of MongoDB documents,
/// where U+0000 is a legal character (the edge store keeps documents as bytes).
pub struct ApiJsonKeepingNul<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn json_body<S: Send + Sync, T: DeserializeOwned>(
    req: Request,
    state: &S,
    nul: NulRule,
) -> Result<T> {
    if !is_json(req.headers()) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let limit = req.extensions().get::<BodyLimit>().copied();
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            body_limit::too_large(limit.as_ref())
        } else {
            ApiError::bad_request("invalid_body", "The request body could not be read.")
        }
    })?;
    parse_json_with(&bytes, nul)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        json_body(req, state, NulRule::Refuse).await.map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJsonKeepingNul<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        json_body(req, state, NulRule::Allow)
            .await
            .map(ApiJsonKeepingNul)
    }
}

/// Path parameters; a malformed one (e.g. not a UUID) answers 400 naming it, one holding a NUL
/// character 422 `invalid_character`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await
            && let Some((name, _)) = raw.iter().find(|(_, value)| value.contains('\0'))
        {
            return Err(nul_problem(format!("/{name}")));
        }
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|rejection: PathRejection| {
                ApiError::bad_request(
                    "invalid_path_parameter",
                    format!("{}. Identifiers in paths are UUIDs.", rejection.body_text()),
                )
            })
    }
}

/// Query parameters; bad ones answer 400 (`unknown_query_parameter` for one the operation does
/// not take), one holding a NUL character 422 `invalid_character`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        if let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            && let Some((name, _)) = pairs
                .iter()
                .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            return Err(nul_problem(format!("/{name}")));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|rejection: QueryRejection| {
                let text = rejection.body_text();
                let code = if text.contains("unknown field") {
                    "unknown_query_parameter"
                } else {
                    "invalid_query_parameter"
                };
                ApiError::bad_request(code, text)
            })
    }
}

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// Cursor pagination: pass `nextCursor` from one page as `cursor` to get the next.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A resolved page request.
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Uuid>,
}

impl PageParams {
    pub fn resolve(&self) -> Result<PageRequest> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::bad_field(
                "invalid_query_parameter",
                "/limit",
                format!("`limit` must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
                ApiError::bad_field(
                    "invalid_cursor",
                    "/cursor",
                    "`cursor` is not a cursor this API returned; pass `nextCursor` from the previous page unchanged",
                )
            })?),
        };
        Ok(PageRequest {
            limit: i64::from(limit),
            after,
        })
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The id a cursor from [`encode_cursor`] names; `None` for anything else.
pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Trims a `limit + 1` fetch to a page and its next cursor.
pub fn paginate<T>(
    mut rows: Vec<T>,
    page: &PageRequest,
    id: impl Fn(&T) -> Uuid,
) -> (Vec<T>, Option<String>) {
    let limit = page.limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| encode_cursor(id(r)));
        (rows, next)
    } else {
        (rows, None)
    }
}

/// The strong ETag of a resource version.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header value")
}

/// What `If-Match` asks for.
enum IfMatch {
    Any,
    Versions(Vec<i64>),
}

/// Parses `If-Match`: `*` or a list of strong ETags (`"3"`). Weak ETags never match (RFC 9110
/// requires strong comparison); a malformed header answers 400.
fn parse_if_match(headers: &HeaderMap) -> Result<Option<IfMatch>> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::bad_request(
            "invalid_if_match",
            "`If-Match` must be * or a list of ETags as returned in the ETag header, e.g. \"3\"",
        )
    };
    let text = value.to_str().map_err(|_| malformed())?.trim();
    if text == "*" {
        return Ok(Some(IfMatch::Any));
    }
    let mut versions = Vec::new();
    for tag in text.split(',').map(str::trim) {
        if tag.starts_with("W/") {
            continue;
        }
        let inner = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .ok_or_else(malformed)?;
        // An ETag that is not one of ours can never match.
        if let Ok(v) = inner.parse::<i64>() {
            versions.push(v);
        }
    }
    Ok(Some(IfMatch::Versions(versions)))
}

/// Checks `If-Match` against the current version: 412 when stale, nothing when absent.
pub fn check_if_match(headers: &HeaderMap, version: i64) -> Result<()> {
    match parse_if_match(headers)? {
        None | Some(IfMatch::Any) => Ok(()),
        Some(IfMatch::Versions(v)) if v.contains(&version) => Ok(()),
        Some(IfMatch::Versions(_)) => Err(ApiError::PreconditionFailed),
    }
}

/// The versions `If-Match` accepts, for conditional statements; `None` = any.
pub fn if_match_versions(headers: &HeaderMap) -> Result<Option<Vec<i64>>> {
    Ok(match parse_if_match(headers)? {
        None | Some(IfMatch::Any) => None,
        Some(IfMatch::Versions(v)) => Some(v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("not a cursor"), None);
        assert_eq!(decode_cursor("AAAA"), None);
    }

    #[test]
    fn if_match_forms() {
        let mut h = HeaderMap::new();
        assert!(check_if_match(&h, 3).is_ok());
        h.insert(IF_MATCH, HeaderValue::from_static("\"3\""));
        assert!(check_if_match(&h, 3).is_ok());
        assert!(matches!(
            check_if_match(&h, 4),
            Err(ApiError::PreconditionFailed)
        ));
        h.insert(IF_MATCH, HeaderValue::from_static("\"1\", \"4\""));
        assert!(check_if_match(&h, 4).is_ok());
        assert_eq!(if_match_versions(&h).unwrap(), Some(vec![1, 4]));
        h.insert(IF_MATCH, HeaderValue::from_static("W/\"4\""));
        assert!(matches!(
            check_if_match(&h, 4),
            Err(ApiError::PreconditionFailed)
        ));
        h.insert(IF_MATCH, HeaderValue::from_static("4"));
        assert!(matches!(
            check_if_match(&h, 4),
            Err(ApiError::BadRequest { .. })
        ));
        h.insert(IF_MATCH, HeaderValue::from_static("*"));
        assert!(check_if_match(&h, 9).is_ok());
    }
}
