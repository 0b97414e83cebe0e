//! Query parameters an operation does not document answer 400 before its handler runs, so a
//! misspelled one (`?dryrun=true` for `?dryRun=true`, a filter that does not exist) is never
//! silently ignored. What each operation accepts is read from the generated OpenAPI document,
//! so it can never drift from what is documented.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};

/// The query parameters of every documented operation, by method and path template.
#[derive(Debug, Default)]
pub struct QueryRules {
    by_operation: HashMap<(Method, String), Vec<String>>,
}

impl QueryRules {
    pub fn from_document(doc: &OpenApi) -> Self {
        let mut by_operation = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let names = query_names(item.parameters.as_deref(), operation);
                by_operation.insert((method, path.clone()), names);
            }
        }
        Self { by_operation }
    }

    /// What the operation accepts; `None` for a route the document does not describe.
    fn accepted(&self, method: &Method, path: &str) -> Option<&[String]> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.by_operation
            .get(&(method.clone(), path.to_owned()))
            .map(Vec::as_slice)
    }

    /// The first parameter of `uri` the operation does not accept, as a problem.
    pub fn check(&self, method: &Method, path: &str, uri: &Uri) -> Result<(), ApiError> {
        let (Some(accepted), Some(_)) = (self.accepted(method, path), uri.query()) else {
            return Ok(());
        };
        // A query string that does not decode is left to the handler's own parsing.
        let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(uri) else {
            return Ok(());
        };
        match pairs
            .iter()
            .find(|(name, _)| !accepted.iter().any(|a| a == name))
        {
            Some((name, _)) => Err(unknown_parameter(method, path, name, accepted)),
            None => Ok(()),
        }
    }
}

fn query_names(
    shared: Option<&[utoipa::openapi::path::Parameter]>,
    operation: &Operation,
) -> Vec<String> {
    shared
        .unwrap_or_default()
        .iter()
        .chain(operation.parameters.as_deref().unwrap_or_default())
        .filter(|p| matches!(p.parameter_in, ParameterIn::Query))
        .map(|p| p.name.clone())
        .collect()
}

/// Lowercase without `_` and `-`: `dry_run`, `dryrun` and `DryRun` all look like `dryRun`.
fn folded(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn unknown_parameter(method: &Method, path: &str, name: &str, accepted: &[String]) -> ApiError {
    let shown: String = name.chars().take(64).collect();
    let pointer = format!("/{}", shown.replace('~', "~0").replace('/', "~1"));
    let mut detail = format!("`{shown}` is not a query parameter of {method} {path}; ");
    if accepted.is_empty() {
        detail.push_str("this operation takes no query parameters. Remove it.");
    } else {
        let list: Vec<String> = accepted.iter().map(|a| format!("`{a}`")).collect();
        detail.push_str(&format!("it accepts: {}.", list.join(", ")));
        if let Some(near) = accepted.iter().find(|a| folded(a) == folded(name)) {
            detail.push_str(&format!(" Did you mean `{near}`?"));
        }
    }
    ApiError::bad_field("unknown_query_parameter", &pointer, detail)
}

async fn reject_unknown(
    State(rules): State<Arc<QueryRules>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(path) = request.extensions().get::<MatchedPath>()
        && let Err(problem) = rules.check(request.method(), path.as_str(), request.uri())
    {
        return problem.into_response();
    }
    next.run(request).await
}

/// Every route of `router` documented in `doc` refuses query parameters it does not document.
pub fn reject_undocumented_parameters(router: Router<AppState>, doc: &OpenApi) -> Router<AppState> {
    let rules = Arc::new(QueryRules::from_document(doc));
    router.layer(middleware::from_fn_with_state(rules, reject_unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> QueryRules {
        let (_, doc) = crate::openapi::api_router();
        QueryRules::from_document(&doc)
    }

    fn code(result: Result<(), ApiError>) -> Option<(&'static str, String)> {
        result.err().map(|e| {
            let p = e.to_problem();
            (e.code(), p.detail)
        })
    }

    #[test]
    fn documented_parameters_pass_and_others_are_named() {
        let rules = rules();
        let path = "/v1/apps/{appId}/connectors/{connectorId}";
        let uri: Uri = "/v1/apps/x/connectors/y?dryRun=true".parse().unwrap();
        assert!(rules.check(&Method::PATCH, path, &uri).is_ok());
        for spelling in ["dryrun", "dry_run", "dry-run"] {
            let uri: Uri = format!("/v1/apps/x/connectors/y?{spelling}=true")
                .parse()
                .unwrap();
            let (code, detail) = code(rules.check(&Method::PATCH, path, &uri)).unwrap();
            assert_eq!(code, "unknown_query_parameter");
            assert!(detail.contains(&format!("`{spelling}`")), "{detail}");
            assert!(detail.contains("Did you mean `dryRun`?"), "{detail}");
        }
        // GET of the same path documents no parameter at all.
        let (_, detail) = code(rules.check(&Method::GET, path, &uri)).unwrap();
        assert!(detail.contains("takes no query parameters"), "{detail}");
        // Undocumented routes are left alone.
        assert!(rules.check(&Method::GET, "/internal/x", &uri).is_ok());
    }

    #[test]
    fn percent_encoded_names_are_decoded_first() {
        let rules = rules();
        let uri: Uri = "/v1/apps?%6Cimit=5".parse().unwrap();
        assert!(rules.check(&Method::GET, "/v1/apps", &uri).is_ok());
        let uri: Uri = "/v1/apps?limit=5&status=failed".parse().unwrap();
        let (_, detail) = code(rules.check(&Method::GET, "/v1/apps", &uri)).unwrap();
        assert!(
            detail.contains("`status`") && detail.contains("`limit`, `cursor`"),
            "{detail}"
        );
    }

    #[test]
    fn folding_ignores_case_and_separators() {
        assert_eq!(folded("dry_Run"), folded("dryRun"));
        assert_ne!(folded("dryRuns"), folded("dryRun"));
    }
}
