//! The edge store's HTTP API: DQL at `/v1/apps/{appId}/store/execute` (and at the path scripts
//! written for the product we replace use, `/{appId}/api/v4/store/execute`), the change feed, and
//! one document with its type metadata (`documents`).

pub mod coalesce;
pub mod documents;
pub mod execute;
pub mod feed;
pub mod feed_query;
pub mod model;
pub mod point_reads;
pub mod repo;

use crate::apps;
use crate::auth::{AuthContext, AuthMethod};
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use edgebridge_edge::ObjectMode;
use edgebridge_edge::dql;
use execute::ExecContext;
use model::{ChangesPage, ChangesParams, ExecuteIn, ExecuteOut};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(execute_statement))
        .routes(routes!(execute_statement_compat))
        .routes(routes!(list_changes))
        .routes(routes!(documents::get_store_document))
}

const MAX_ORIGIN_CHARS: usize = 200;

async fn run(
    state: &AppState,
    auth: &AuthContext,
    app_id: Uuid,
    body: ExecuteIn,
) -> Result<ExecuteOut> {
    auth.check_app(app_id)?;
    let limits = &state.store_limits;
    if body.statement.chars().count() > limits.max_statement_chars {
        return Err(ApiError::bad_field(
            "statement_too_long",
            "/statement",
            format!(
                "a statement may be at most {} characters; pass data as `args`",
                limits.max_statement_chars
            ),
        ));
    }
    if body
        .origin
        .as_ref()
        .is_some_and(|o| o.is_empty() || o.chars().count() > MAX_ORIGIN_CHARS)
    {
        return Err(ApiError::bad_field(
            "invalid_origin",
            "/origin",
            format!("`origin` must be 1 to {MAX_ORIGIN_CHARS} characters"),
        ));
    }
    let statement = dql::parse(&body.statement).map_err(ApiError::DqlParse)?;
    if !statement.is_read_only() {
        auth.require_write_on(apps::repo::require(&state.pool, auth.org_id, app_id))
            .await?;
    }
    let actor = match auth.method {
        AuthMethod::ApiKey | AuthMethod::AccessToken => format!("key:{}", auth.key_id),
    };
    let ctx = ExecContext {
        org_id: auth.org_id,
        app_id,
        // The actor is always the authenticated key; `origin` is the writer's own tag.
        actor,
        origin: body.origin,
        mode: if body.dql_strict_mode.unwrap_or(true) {
            ObjectMode::Whole
        } else {
            ObjectMode::Merge
        },
    };
    let args = body.args.unwrap_or_default();
    execute::execute(state, &ctx, statement, args).await
}

/// Execute a DQL statement
///
/// Runs one SELECT, INSERT, UPDATE or DELETE against the app's edge store. A statement that
/// writes several documents applies to all of them or to none. Unknown collections read as
/// empty. Reads need `viewer`, writes `developer`.
///
/// `SELECT COUNT(*) FROM c [WHERE ...]` answers one row, `{"count": n}` (`COUNT(*) AS total`
/// names it `total`). `SELECT * FROM system:collections` lists the app's collections, one row
/// `{"name": "...", "documents": n}` each (n: visible documents), by name; it takes WHERE,
/// ORDER BY, LIMIT, OFFSET and COUNT(*) like a collection, and is read-only. Other aggregates,
/// GROUP BY, JOIN, subqueries and functions answer 400 `dql_unsupported` naming the construct.
///
/// A word is a keyword only where the grammar needs one: fields and collections named `id`,
/// `order`, `limit`, `select`... need no quoting (backquotes always work, and are needed for
/// `true`, `false` and `null` as field names). Integers are exact 64-bit values; arithmetic or a
/// counter that would overflow answers 422 `numeric_overflow`. Each statement has a budget of
/// work and time: past it, 422 `statement_budget_exceeded` or `statement_timeout`.
#[utoipa::path(post, path = "/v1/apps/{appId}/store/execute", operation_id = "executeStatement", tag = "store",
    params(("appId" = Uuid, Path, description = "The app's id")),
    request_body = ExecuteIn,
    responses(
        (status = 200, description = "The statement's result", body = ExecuteOut),
        (status = 400, description = "A statement that does not parse (`dql_syntax_error`) or uses what is not supported (`dql_unsupported`), a missing argument, a LIKE pattern too long (`pattern_too_long`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An INSERT found an `_id` taken (ON ID CONFLICT FAIL)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A document would exceed the size limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid document or write, a number overflow (`numeric_overflow`), or a statement past its budget of work or time (`statement_budget_exceeded`, `statement_timeout`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn execute_statement(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ExecuteIn>,
) -> Result<Json<ExecuteOut>> {
    run(&state, &auth, app_id, body).await.map(Json)
}

/// Execute a DQL statement (compatibility path)
///
/// The same as `executeStatement`, at the path of the HTTP API of the product Edgebridge
/// replaces, so existing scripts (`Authorization: bearer <API key>`) work unchanged.
#[utoipa::path(post, path = "/{appId}/api/v4/store/execute", operation_id = "executeStatementCompat", tag = "store",
    params(("appId" = Uuid, Path, description = "The app's id")),
    request_body = ExecuteIn,
    responses(
        (status = 200, description = "The statement's result", body = ExecuteOut),
        (status = 400, description = "As for `executeStatement`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "As for `executeStatement`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "As for `executeStatement`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "As for `executeStatement`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn execute_statement_compat(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ExecuteIn>,
) -> Result<Json<ExecuteOut>> {
    run(&state, &auth, app_id, body).await.map(Json)
}

/// Read the change feed
///
/// The app's document changes in commit-safe order: a change is listed only once every
/// transaction that could precede it has ended, so a reader never skips one. Resume with
/// `after=<nextCursor>`; with `wait`, the call waits for the next change (long poll).
#[utoipa::path(get, path = "/v1/apps/{appId}/store/changes", operation_id = "listChanges", tag = "store",
    params(("appId" = Uuid, Path, description = "The app's id"), ChangesParams),
    responses(
        (status = 200, description = "Changes after the cursor", body = ChangesPage),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many long polls open for this key or app (`too_many_long_polls`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_changes(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<ChangesParams>,
) -> Result<Json<ChangesPage>> {
    auth.check_app(app_id)?;
    apps::repo::require(&state.pool, auth.org_id, app_id).await?;
    // Held until the answer (or the client going away) ends the request.
    let _slot = match params.wait {
        Some(w) if w > 0 => Some(state.long_polls.acquire(auth.key_id, app_id)?),
        _ => None,
    };
    feed::read(&state, app_id, params).await.map(Json)
}
