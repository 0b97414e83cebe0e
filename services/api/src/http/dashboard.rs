//! The status dashboard (`web/`), embedded in the binary by build.rs and served at `/dashboard/`
//! (`/` redirects there). Hashed assets are cached for a year; the page itself is revalidated
//! by ETag. Every answer carries a strict Content-Security-Policy: the dashboard loads nothing
//! but its own files and talks to nothing but this api.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

mod embedded {
    pub struct Asset {
        /// Relative to the dashboard's root, e.g. `assets/index-1a2b3c.js`.
        pub path: &'static str,
        pub content_type: &'static str,
        /// Quoted, as sent.
        pub etag: &'static str,
        pub body: &'static [u8],
        pub gzip: Option<&'static [u8]>,
    }
    include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));
}

/// No inline scripts or styles, no other origins; uPlot's canvas needs nothing more.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// What the api answers at `/dashboard/` when it was compiled without a dashboard build.
const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Edgebridge: the dashboard is not built</title></head><body><main>\
<h1>The dashboard is not built into this binary</h1>\
<p>This api was compiled without the dashboard's files, so it serves only the API \
(<a href=\"/openapi.json\">/openapi.json</a>).</p>\
<p>To build it, install Node.js 20.19 or later with npm, then from the repository's root:</p>\
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd ..\ncargo run -p edgebridge -- all --dev</pre>\
<p>The build writes <code>web/dist/app</code>, which the api embeds when it is compiled \
(or set <code>EDGEBRIDGE_DASHBOARD_DIST</code> to another build's directory).</p>\
</main></body></html>\n";

/// Whether this binary carries the dashboard.
pub fn built() -> bool {
    embedded::BUILT
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/dashboard/") }))
        .route("/dashboard", get(|| async { Redirect::permanent("/dashboard/") }))
        .route("/dashboard/", get(|headers: HeaderMap| async move { serve("", &headers) }))
        .route(
            "/dashboard/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { serve(&path, &headers) }),
        )
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    if !embedded::BUILT {
        return with_security(
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                NOT_BUILT,
            )
                .into_response(),
        );
    }
    let asset = match find(path) {
        Some(asset) => asset,
        // A file the build does not have (a stale hashed name, a typo) is a 404, never the page:
        // a script tag must not get HTML.
        None if path.starts_with("assets/") || looks_like_file(path) => {
            return ApiError::NotFound("dashboard file").into_response();
        }
        // Any other path is one of the dashboard's own pages: its router reads the URL.
        None => match find("index.html") {
            Some(index) => index,
            None => return ApiError::NotFound("dashboard file").into_response(),
        },
    };
    let immutable = asset.path.starts_with("assets/");
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = if if_none_match(headers, asset.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match asset.gzip.filter(|_| accepts_gzip(headers)) {
            Some(gz) => ([(header::CONTENT_ENCODING, "gzip")], gz).into_response(),
            None => asset.body.into_response(),
        }
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if asset.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    with_security(response)
}

fn find(path: &str) -> Option<&'static embedded::Asset> {
    let path = if path.is_empty() { "index.html" } else { path };
    embedded::ASSETS.iter().find(|a| a.path == path)
}

/// `favicon.ico`, `robots.txt`: a last segment with an extension is a file, not a page.
fn looks_like_file(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|last| {
        last.rsplit_once('.').is_some_and(|(stem, ext)| {
            !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
        })
    })
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn with_security(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn gzip_is_sent_only_to_clients_that_take_it() {
        assert!(accepts_gzip(&headers(
            header::ACCEPT_ENCODING,
            "gzip, deflate, br"
        )));
        assert!(accepts_gzip(&headers(
            header::ACCEPT_ENCODING,
            "br;q=1.0, GZIP;q=0.5"
        )));
        assert!(!accepts_gzip(&headers(
            header::ACCEPT_ENCODING,
            "gzip;q=0, br"
        )));
        assert!(!accepts_gzip(&headers(header::ACCEPT_ENCODING, "identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn a_matching_etag_revalidates() {
        assert!(if_none_match(
            &headers(header::IF_NONE_MATCH, "\"abc\""),
            "\"abc\""
        ));
        assert!(if_none_match(
            &headers(header::IF_NONE_MATCH, "\"x\", W/\"abc\""),
            "\"abc\""
        ));
        assert!(!if_none_match(
            &headers(header::IF_NONE_MATCH, "\"abd\""),
            "\"abc\""
        ));
    }

    #[test]
    fn paths_with_an_extension_are_files_and_the_rest_are_pages() {
        assert!(looks_like_file("favicon.ico"));
        assert!(looks_like_file("assets/index-1a2b.js"));
        assert!(!looks_like_file("apps/3f2a/connectors/9b1c"));
        assert!(!looks_like_file("apps/my.app.name.is.long/store"));
        assert!(!looks_like_file(""));
    }
}
