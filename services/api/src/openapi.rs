//! The OpenAPI document: generated from the routes (utoipa), committed at `openapi/openapi.json`,
//! and checked for drift by a test.

use crate::error::Problem;
use crate::state::AppState;
use crate::{api_keys, apps, connectors, fleet, http::health, monitoring, store, tokens, webhooks};
use axum::Router;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as OpenApiDoc, Ref, ResponseBuilder};
use utoipa::openapi::{ObjectBuilder, RefOr, Type};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Edgebridge API",
        description = "Manage MongoDB <-> edge store connectors: organizations' apps, API keys, and connectors with encrypted connection strings.\n\nAuthenticate with `Authorization: Bearer <API key>` or with a short-lived access token from `POST /v1/auth/token`. Errors are `application/problem+json` with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    security(("bearer" = [])),
    modifiers(&BearerScheme),
    tags(
        (name = "apps", description = "Apps group connectors, edge-store collections and API keys."),
        (name = "connectors", description = "MongoDB connectors: configuration, validation, reconfiguration plans, pause and resume."),
        (name = "apiKeys", description = "API keys of the organization (owners and admins)."),
        (name = "store", description = "The edge store: DQL statements and the change feed."),
        (name = "auth", description = "Access tokens."),
        (name = "operator", description = "The worker fleet, for the service's operators (`Authorization: Bearer <EDGEBRIDGE_OPERATOR_TOKEN>`)."),
        (name = "alerts", description = "Alert rules (an app's defaults and per-connector overrides) and connectors' alerts: pending, firing, resolved."),
        (name = "webhooks", description = "Webhooks of an app: alert notifications signed the Standard Webhooks way, retried for 24 hours, with a delivery log."),
        (name = "health", description = "Liveness and readiness probes."),
    ),
    components(schemas(Problem, edgebridge_domain::Violation)),
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description =
            Some("An API key (`ebk_...`) or an access token from POST /v1/auth/token.".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
        let mut operator = Http::new(HttpAuthScheme::Bearer);
        operator.description = Some(
            "The operator token set on the api as EDGEBRIDGE_OPERATOR_TOKEN (operator routes only)."
                .to_owned(),
        );
        components.add_security_scheme("operator", SecurityScheme::Http(operator));
    }
}

/// The error answers every authenticated operation can give, added to each so generated clients
/// know their shape.
fn add_standard_errors(op: &mut Operation) {
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    let standard = [
        (
            "400",
            "Malformed request: invalid JSON, path or query parameter, or a query parameter the operation does not take (`unknown_query_parameter`)",
        ),
        ("401", "Missing, unknown, revoked or expired credentials"),
        (
            "422",
            "A value the api cannot take, e.g. a NUL character in a string, path or query parameter (`invalid_character`)",
        ),
        ("403", "Your role does not allow this"),
        (
            "429",
            "Rate limit of the API key exceeded (`rate_limited`), or too many failed authentications from this address (`too_many_failed_authentications`); see Retry-After",
        ),
        ("500", "Internal error; report the x-request-id"),
        (
            "503",
            "The request ran longer than EDGEBRIDGE_REQUEST_TIMEOUT_SECS (`request_timeout`), or a dependency is unavailable (`unavailable`)",
        ),
    ];
    for (code, description) in standard {
        op.responses
            .responses
            .entry(code.to_owned())
            .or_insert_with(|| problem(description).into());
    }
    if op.request_body.is_some() {
        op.responses
            .responses
            .entry("413".to_owned())
            .or_insert_with(|| {
                problem("The body is larger than the server accepts (`payload_too_large`; the limit in bytes is EDGEBRIDGE_BODY_LIMIT_BYTES)").into()
            });
        op.responses
            .responses
            .entry("415".to_owned())
            .or_insert_with(|| {
                problem("The body is not sent as JSON (`unsupported_media_type`): set `content-type: application/json` (or `application/merge-patch+json` for PATCH)").into()
            });
    }
    if let Some(RefOr::T(limited)) = op.responses.responses.get_mut("429") {
        limited.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
}

/// Routes without credentials (health probes) still refuse query parameters they do not take.
fn add_unknown_parameter_error(op: &mut Operation) {
    op.responses
        .responses
        .entry("400".to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(
                    "A query parameter the operation does not take (`unknown_query_parameter`)",
                )
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
                .into()
        });
}

/// Every response carries the request id (sent back, or generated when the request had none).
fn add_request_id_header(op: &mut Operation) {
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response.headers.insert(
                "x-request-id".to_owned(),
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some("The request's id; quote it when reporting a problem"))
                    .build(),
            );
        }
    }
}

/// Every route with its documentation.
pub fn api_router() -> (Router<AppState>, OpenApiDoc) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(tokens::router())
        .merge(apps::router())
        .merge(api_keys::router())
        .merge(connectors::router())
        .merge(store::router())
        .merge(fleet::router())
        .merge(webhooks::router())
        .merge(monitoring::router())
        .split_for_parts();
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            if path.starts_with("/v1/") || path.contains("/api/v4/") {
                add_standard_errors(op);
            } else {
                add_unknown_parameter_error(op);
            }
            add_request_id_header(op);
        }
    }
    (router, doc)
}

/// The OpenAPI document as committed (pretty JSON with a trailing newline).
pub fn document_json() -> String {
    let (_, doc) = api_router();
    let mut text = doc
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}
