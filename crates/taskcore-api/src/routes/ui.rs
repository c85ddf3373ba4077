//! The dashboard at `/ui/` (static files compiled into the binary: no CDN, nothing fetched at
//! run time) and the API reference at `/docs/` (Swagger UI, vendored, reading `/openapi.json`).
//!
//! The dashboard holds no privilege of its own: it calls the same API as every client, with
//! the token the user pastes (kept in the tab's session storage). Its pages are served with a
//! Content-Security-Policy that allows only this origin's scripts, styles and connections, so
//! that nothing injected could send a token elsewhere.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::AppState;

/// The dashboard's files: name, content type, bytes.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    ),
    (
        "core.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/core.js"),
    ),
    (
        "logic.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/logic.js"),
    ),
    (
        "tasks.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/tasks.js"),
    ),
    (
        "periodic.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/periodic.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/app.css"),
    ),
];

/// What the dashboard's pages may load and connect to: this origin only.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The total size of the dashboard's files in bytes (for BENCHMARKS and a test).
pub fn dashboard_bytes() -> usize {
    FILES.iter().map(|(_, _, body)| body.len()).sum()
}

/// `/ui`, `/ui/` and `/ui/{file}`; `/docs/` and its assets.
pub fn routes() -> Router<AppState> {
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs")
        .config(utoipa_swagger_ui::Config::from("/openapi.json").try_it_out_enabled(false));
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { file("index.html") }))
        .route(
            "/ui/{name}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
        .merge(Router::from(docs))
}

fn file(name: &str) -> Response {
    let Some((_, content_type, body)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::NotFound.into_response();
    };
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static(content_type)),
        // Small files, revalidated: a new binary's dashboard is seen at once.
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CSP),
        ),
        (
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
        (
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    (headers, *body).into_response()
}
