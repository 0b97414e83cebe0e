//! One edge document with what the store keeps beside its value: the BSON type tree a
//! native-mode connector left in its metadata slot, the fields that are settable counters, and
//! who wrote it last. (DQL answers values only; the dashboard's document view needs the rest.)

use super::model::{EdgeDocumentOut, LastWriteOut};
use super::repo::{self, DocRow};
use crate::apps;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::ApiPath;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::DateTime;
use edgebridge_edge::DocState;
use edgebridge_edge::ids::{document_key, id_from_key};
use serde_json::Value;
use uuid::Uuid;

/// The longest `collection` or `documentId` path parameter, in characters.
const MAX_PATH_PARAMETER_CHARS: usize = 4096;

/// A stored state larger than this is read in the blocking pool: a counter's increments or a
/// long history of merged members can make it much larger than the document it reads as.
const INLINE_STATE_BYTES: usize = 64 * 1024;

/// The keys a `documentId` path parameter may name, the likelier first: its JSON reading (`42`,
/// `{"sku":"a"}`, `"p1"`) when it is a valid `_id`, then the plain string.
fn candidate_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if let Ok(id @ (Value::Number(_) | Value::String(_) | Value::Object(_))) =
        serde_json::from_str::<Value>(text)
        && let Ok(key) = document_key(&id)
    {
        keys.push(key);
    }
    let plain = Value::String(text.to_owned()).to_string();
    if !keys.contains(&plain) {
        keys.push(plain);
    }
    keys
}

fn check_length(name: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.chars().count() > MAX_PATH_PARAMETER_CHARS {
        return Err(ApiError::bad_field(
            "invalid_path_parameter",
            &format!("/{name}"),
            format!("`{name}` must be 1 to {MAX_PATH_PARAMETER_CHARS} characters"),
        ));
    }
    Ok(())
}

fn not_found(collection: &str, document_id: &str, deleted: bool) -> ApiError {
    let detail = if deleted {
        format!("The document {document_id} of collection {collection} was deleted.")
    } else {
        format!(
            "Collection {collection} has no document {document_id}. Give a string `_id` as is \
             (`p1`) and other ids as JSON (`42`, `{{\"sku\":\"a\"}}`), URL-encoded."
        )
    };
    ApiError::other(StatusCode::NOT_FOUND, "document_not_found", detail)
}

/// The answer for a visible document's row (`None`: it is deleted).
fn describe(collection: String, row: DocRow) -> Result<Option<EdgeDocumentOut>> {
    let Some(value) = row.value else {
        return Ok(None);
    };
    let internal = |e: serde_json::Error| ApiError::Internal(e.into());
    let state: DocState = serde_json::from_slice(&row.state).map_err(internal)?;
    let document: Value = serde_json::from_slice(&value).map_err(internal)?;
    let Some(last) = state.last_write.as_ref().filter(|_| state.exists()) else {
        return Ok(None);
    };
    let last_write = LastWriteOut {
        // Milliseconds of the api's clock: always in range (the epoch marks one that is not).
        at: i64::try_from(last.at.wall_ms)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or(DateTime::UNIX_EPOCH),
        actor: last.actor.clone(),
    };
    let counters = state
        .counter_paths()
        .into_iter()
        .map(|path| path.join("."))
        .collect();
    // A connector states its tree on every write, empty when no field needs one.
    let types = state
        .metadata
        .and_then(|r| r.value)
        .filter(|t| t.as_object().is_none_or(|o| !o.is_empty()));
    Ok(Some(EdgeDocumentOut {
        document_id: document
            .get("_id")
            .cloned()
            .unwrap_or_else(|| id_from_key(&row.doc_key)),
        collection,
        counters,
        document,
        types,
        last_write,
    }))
}

/// Read one document with its type metadata
///
/// The document as a SELECT reads it (settable counters as plain numbers), with what the edge
/// store keeps beside it: the BSON type tree a native-mode connector stored in the document's
/// metadata (the same form as the mapping preview's `types`; null when there is none, e.g. for
/// documents written only through DQL or synced in `ejson` mode), the fields that are settable
/// counters, and the newest write's time and writer. `documentId` is a string `_id` as is
/// (`p1`), any other `_id` as JSON (`42`, `{"sku":"a"}`), URL-encoded; when both readings name a
/// document (the number 42 and the string "42"), the JSON one answers, and `"42"` (quoted) names
/// the string. Needs `viewer`.
#[utoipa::path(get, path = "/v1/apps/{appId}/store/collections/{collection}/documents/{documentId}",
    operation_id = "getStoreDocument", tag = "store",
    params(
        ("appId" = Uuid, Path, description = "The app's id"),
        ("collection" = String, Path, description = "The edge collection", min_length = 1, max_length = 4096),
        ("documentId" = String, Path, description = "The document's `_id`: a string as is (`p1`), else JSON (`42`, `{\"sku\":\"a\"}`)", min_length = 1, max_length = 4096),
    ),
    responses(
        (status = 200, description = "The document with its metadata", body = EdgeDocumentOut),
        (status = 400, description = "A path parameter empty or too long (`invalid_path_parameter`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (`not_found`), or no such document: absent or deleted (`document_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_store_document(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, collection, document_id)): ApiPath<(Uuid, String, String)>,
) -> Result<Json<EdgeDocumentOut>> {
    auth.check_app(app_id)?;
    check_length("collection", &collection)?;
    check_length("documentId", &document_id)?;
    apps::repo::require(&state.pool, auth.org_id, app_id).await?;
    let keys = candidate_keys(&document_id);
    let mut rows = repo::docs_by_keys(&state.pool, app_id, &collection, &keys).await?;
    // The likelier reading first, a visible document before a deleted one.
    rows.sort_by_key(|r| {
        let rank = keys.iter().position(|k| *k == r.doc_key);
        (r.value.is_none(), rank)
    });
    let Some(row) = rows.into_iter().next() else {
        return Err(not_found(&collection, &document_id, false));
    };
    let name = collection.clone();
    let found = if row.state.len() <= INLINE_STATE_BYTES {
        describe(name, row)?
    } else {
        tokio::task::spawn_blocking(move || describe(name, row))
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading a document failed: {e}")))??
    };
    found
        .map(Json)
        .ok_or_else(|| not_found(&collection, &document_id, true))
}

#[cfg(test)]
mod tests {
    use super::candidate_keys;

    #[test]
    fn a_document_id_names_its_json_reading_first_then_the_plain_string() {
        assert_eq!(candidate_keys("p1"), [r#""p1""#]);
        assert_eq!(candidate_keys("42"), ["42", r#""42""#]);
        assert_eq!(candidate_keys("4.0"), ["4", r#""4.0""#]);
        assert_eq!(candidate_keys(r#""42""#), [r#""42""#, r#""\"42\"""#]);
        assert_eq!(
            candidate_keys(r#"{"sku": "a", "n": 1}"#),
            [r#"{"n":1,"sku":"a"}"#, r#""{\"sku\": \"a\", \"n\": 1}""#]
        );
        // Not an `_id` as JSON: only the string.
        for text in ["true", "null", "[1]", "{}", r#"{"a": null}"#, "{oops"] {
            assert_eq!(
                candidate_keys(text),
                [serde_json::Value::String(text.into()).to_string()]
            );
        }
    }
}
