//! `/ui/` and `/docs/`: the dashboard's files are served from the binary with a same-origin
//! Content-Security-Policy, every file a page or a module names exists, and the API reference
//! is there without a token.

mod common;

use axum::http::StatusCode;
use common::*;

async fn open(h: &Harness, path: &str) -> Resp {
    h.get(path)
        .without("authorization")
        .without("x-brand-id")
        .send()
        .await
}

#[tokio::test]
async fn the_dashboard_is_served_with_its_policy() {
    let h = Harness::new().await;
    let index = open(&h, "/ui/").await;
    assert_eq!(index.status, StatusCode::OK);
    let header = |r: &Resp, name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header(&index, "content-type").starts_with("text/html"));
    let csp = header(&index, "content-security-policy");
    assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"));
    assert_eq!(header(&index, "x-content-type-options"), "nosniff");
    let redirect = open(&h, "/ui").await;
    assert_eq!(redirect.status, StatusCode::PERMANENT_REDIRECT);

    // Every file the page and the modules name is served.
    let html = String::from_utf8(index.raw).unwrap();
    let mut pending: Vec<String> = vec!["app.js".into(), "app.css".into()];
    assert!(html.contains("/ui/app.js") && html.contains("/ui/app.css"));
    let mut seen = Vec::new();
    while let Some(name) = pending.pop() {
        if seen.contains(&name) {
            continue;
        }
        let r = open(&h, &format!("/ui/{name}")).await;
        assert_eq!(r.status, StatusCode::OK, "/ui/{name}");
        let text = String::from_utf8(r.raw).unwrap();
        for line in text.lines().filter(|l| l.contains("from \"./")) {
            let start = line.find("from \"./").unwrap() + 8;
            let rest = &line[start..];
            pending.push(rest[..rest.find('"').unwrap()].to_owned());
        }
        seen.push(name);
    }
    assert!(seen.len() >= 6, "{seen:?}");
    let total = taskcore_api::routes::ui::dashboard_bytes();
    assert!(
        total > 10_000,
        "the dashboard is compiled in ({total} bytes)"
    );
}

#[tokio::test]
async fn an_unknown_dashboard_file_is_the_contract_s_404() {
    let h = Harness::new().await;
    let r = open(&h, "/ui/../../etc/passwd").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = open(&h, "/ui/nope.js").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "NOT_FOUND");
}

#[tokio::test]
async fn the_api_reference_reads_the_openapi_document() {
    let h = Harness::new().await;
    let page = open(&h, "/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    let init = open(&h, "/docs/swagger-initializer.js").await;
    assert_eq!(init.status, StatusCode::OK);
    let text = String::from_utf8(init.raw).unwrap();
    assert!(text.contains("\"url\": \"/openapi.json\""), "{text}");
}
