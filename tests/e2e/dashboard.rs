//! The dashboard's serving: `/` redirects to it, its page and assets carry a strict CSP, the
//! right caching and gzip, and a build without the dashboard serves a page saying how to build
//! it. (What the dashboard does is tested in Chromium: web/e2e, `scripts/dashboard test`.)

use crate::helpers::*;
use edgebridge_api::http::dashboard;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, LOCATION,
};
use sqlx::PgPool;

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn the_dashboard_is_served_at_dashboard_with_a_strict_policy(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let client = plain_client();

    let res = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(res.headers()[LOCATION], "/dashboard/");
    let res = client.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers()[LOCATION], "/dashboard/");

    let res = client.get(app.url("/dashboard/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(
        res.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    let page = res.text().await.unwrap();

    if !dashboard::built() {
        // Compiled without `npm run build`: the page says how to get the dashboard.
        assert!(page.contains("npm ci"), "{page}");
        assert!(page.contains("npm run build"), "{page}");
        return;
    }

    // A page of the dashboard's own router (a deep link) gets the same document.
    let deep = client
        .get(app.url("/dashboard/apps/0196/connectors/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(deep.status(), StatusCode::OK);
    assert_eq!(deep.text().await.unwrap(), page);

    // Its script is cached for good (its name changes with its content), gzipped on request,
    // and revalidates by ETag.
    let script = page
        .split('"')
        .find(|s| s.starts_with("/dashboard/assets/") && s.ends_with(".js"))
        .expect("the page loads a script from /dashboard/assets/");
    let res = client
        .get(app.url(script))
        .header(ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.headers()[CONTENT_ENCODING], "gzip");
    assert!(
        res.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let etag = res.headers()[ETAG].clone();
    let res = client
        .get(app.url(script))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = client.get(app.url(script)).send().await.unwrap();
    assert!(res.headers().get(CONTENT_ENCODING).is_none());

    // A file it does not have is a 404 problem, never the page (a script must not get HTML).
    for missing in ["/dashboard/assets/index-0000.js", "/dashboard/favicon.ico"] {
        let res = client.get(app.url(missing)).send().await.unwrap();
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}
