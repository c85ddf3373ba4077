//! `docs/API.md`, the API reference the README points to, is rendered from the node's own
//! `/openapi.json` (generated from the handlers and the wire types) and must match it: a change
//! to the contract that leaves the reference behind fails here. After a meant change:
//! `TASKCORE_BLESS_DOCS=1 cargo test -p taskcore-api --test api_reference`.

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_default()
        .replace('\n', " ")
        .replace('|', "\\|")
}

/// A schema's type in a few words: `string`, `integer`, `Task`, `array of Task`, `object`.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(items) = schema.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = items.iter().map(type_of).filter(|t| t != "null").collect();
            return parts.join(" or ");
        }
    }
    let ty = match schema.get("type") {
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        Some(t) => t.as_str().unwrap_or_default().to_owned(),
        None => "any".to_owned(),
    };
    match (ty.as_str(), schema.get("items"), schema.get("enum")) {
        ("array", Some(items), _) => format!("array of {}", type_of(items)),
        (_, _, Some(Value::Array(values))) => values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
        _ => ty,
    }
}

fn operation(out: &mut String, method: &str, path: &str, op: &Value) {
    let _ = writeln!(out, "### `{} {path}`\n", method.to_uppercase());
    for key in ["summary", "description"] {
        if let Some(s) = op.get(key).and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", s.trim());
        }
    }
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let auth = if secured { "bearer token" } else { "none" };
    let _ = writeln!(out, "Authentication: {auth}.\n");
    if let Some(params) = op.get("parameters").and_then(Value::as_array) {
        let _ = writeln!(
            out,
            "| parameter | in | type | required | meaning |\n| --- | --- | --- | --- | --- |"
        );
        for p in params {
            let schema = p.get("schema").cloned().unwrap_or(Value::Null);
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                text(&p["name"]),
                text(&p["in"]),
                type_of(&schema),
                if p["required"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                text(&p["description"]),
            );
        }
        out.push('\n');
    }
    if let Some(body) = op.pointer("/requestBody/content/application~1json/schema") {
        let _ = writeln!(out, "Body: {}.\n", type_of(body));
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        let _ = writeln!(out, "| answer | meaning | body |\n| --- | --- | --- |");
        for (status, r) in responses {
            let body = r
                .pointer("/content/application~1json/schema")
                .map(type_of)
                .unwrap_or_default();
            let _ = writeln!(out, "| {status} | {} | {body} |", text(&r["description"]));
        }
        out.push('\n');
    }
}

fn schema(out: &mut String, name: &str, s: &Value) {
    let _ = writeln!(out, "### {name}\n");
    if let Some(d) = s.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{}\n", d.trim());
    }
    let Some(props) = s.get("properties").and_then(Value::as_object) else {
        let _ = writeln!(out, "Type: {}.\n", type_of(s));
        return;
    };
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "| field | type | required | meaning |\n| --- | --- | --- | --- |"
    );
    for (field, p) in props {
        let yes = if required.contains(&field.as_str()) {
            "yes"
        } else {
            "no"
        };
        let _ = writeln!(
            out,
            "| `{field}` | {} | {yes} | {} |",
            type_of(p),
            text(&p["description"])
        );
    }
    out.push('\n');
}

fn render(doc: &Value) -> String {
    let mut out = String::from(
        "# Task Core HTTP API reference\n\n\
         Generated from the `/openapi.json` every node serves (which is generated from the code): \
         `crates/taskcore-api/tests/api_reference.rs` fails when this file and the code disagree. \
         Every node also renders it at `/docs/`. The README explains the behaviour behind each \
         call (filters, the consistency promise, leases, errors).\n\n\
         Every error answer is a JSON [ErrorBody](#errorbody) whose `error_code` is one of the \
         README's error table. Authenticated calls take `Authorization: Bearer <JWT>` and, for \
         tasks, statistics and periodic tasks, `X-Brand-ID: <brand id>`.\n\n## Operations\n\n",
    );
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in &paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                operation(&mut out, method, path, op);
            }
        }
    }
    out.push_str("## Schemas\n\n");
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, s) in &schemas {
        schema(&mut out, name, s);
    }
    out.trim_end().to_owned() + "\n"
}

#[tokio::test]
async fn docs_api_md_is_the_openapi_document() {
    let h = Harness::new().await;
    let r = h
        .get("/openapi.json")
        .without("authorization")
        .without("x-brand-id")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let rendered = render(&r.body);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/API.md");
    if std::env::var_os("TASKCORE_BLESS_DOCS").is_some() {
        std::fs::write(&path, &rendered).expect("writes docs/API.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/API.md is not the current /openapi.json: regenerate it with \
         TASKCORE_BLESS_DOCS=1 cargo test -p taskcore-api --test api_reference"
    );
    for path in [
        "/tasks/",
        "/workers/lease/",
        "/periodic-tasks/{id}/run-now/",
    ] {
        assert!(rendered.contains(path), "{path} is documented");
    }
}
