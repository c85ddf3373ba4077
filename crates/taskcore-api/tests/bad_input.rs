//! Every class of malformed input gets the contract's error: never a panic, never a 500.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::json;

#[tokio::test]
async fn malformed_json_and_non_objects_are_400_parse_error() {
    let h = Harness::new().await;
    for body in [
        &b"{"[..],
        b"{\"task_type\": }",
        b"nul",
        b"[1, 2]",
        b"\"text\"",
        b"42",
        b"{} {}",
        b"\xff\xfe{}",
    ] {
        let r = h
            .call(Method::POST, "/tasks/")
            .raw(body.to_vec(), Some("application/json"))
            .send()
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "PARSE_ERROR"),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    let r = h
        .call(Method::POST, "/tasks/")
        .raw(Vec::new(), Some("application/json"))
        .send()
        .await;
    assert_eq!(r.code(), "PARSE_ERROR", "an empty body is no object");
}

#[tokio::test]
async fn non_utf8_inside_strings_is_a_parse_error() {
    let h = Harness::new().await;
    let mut body = b"{\"task_type\": \"data_export\", \"description\": \"".to_vec();
    body.extend_from_slice(b"\xc3\x28\"}");
    let r = h
        .call(Method::POST, "/tasks/")
        .raw(body, Some("application/json"))
        .send()
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "PARSE_ERROR")
    );
}

#[tokio::test]
async fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let h = Harness::new().await;
    let depth = 100_000;
    let body = format!(
        "{{\"task_type\": \"data_export\", \"context_data\": {}{}}}",
        "{\"a\":".repeat(depth),
        "}".repeat(depth)
    );
    let r = h
        .call(Method::POST, "/tasks/")
        .raw(body, Some("application/json"))
        .send()
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "PARSE_ERROR")
    );
}

#[tokio::test]
async fn bodies_over_one_mib_are_413() {
    let h = Harness::new().await;
    let big = json!({"task_type": "data_export", "description": "x".repeat(1024 * 1024)});
    let r = h.post("/tasks/", big).send().await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
    );
    let lying = h
        .call(Method::POST, "/tasks/")
        .raw(b"{}".to_vec(), Some("application/json"))
        .header("content-length", "2")
        .send()
        .await;
    assert_ne!(lying.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn writes_without_a_json_content_type_are_415() {
    let h = Harness::new().await;
    let body = br#"{"task_type": "data_export"}"#.to_vec();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data"),
    ] {
        let r = h
            .call(Method::POST, "/tasks/")
            .raw(body.clone(), ct)
            .send()
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            "{ct:?}"
        );
    }
    let r = h
        .call(Method::POST, "/tasks/")
        .raw(body.clone(), Some("application/json; charset=utf-8"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = h
        .call(Method::PATCH, "/tasks/1/")
        .raw(b"{}".to_vec(), Some("text/plain"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = h
        .call(Method::POST, "/tasks/1/cancel/")
        .raw(b"{}".to_vec(), Some("text/plain"))
        .send()
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "an action's body, when sent, is JSON"
    );
}

#[tokio::test]
async fn wrong_types_unknown_enums_out_of_range_numbers_and_bad_dates_are_field_errors() {
    let h = Harness::new().await;
    let r = h
        .post(
            "/tasks/",
            json!({
                "task_type": 12,
                "priority": "URGENT",
                "description": ["list"],
                "context_data": "text",
                "scheduled_for": "2024-13-45T99:00:00Z",
                "max_retries": -1,
                "timeout_minutes": 1e12,
            }),
        )
        .send()
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
    let fields = r.body["field_errors"].as_object().unwrap();
    for f in [
        "task_type",
        "priority",
        "description",
        "context_data",
        "scheduled_for",
        "max_retries",
        "timeout_minutes",
    ] {
        assert!(fields.contains_key(f), "{f} missing in {}", r.body);
    }
    let r = h
        .post("/tasks/", json!({"task_type": null, "priority": null}))
        .send()
        .await;
    assert_eq!(r.body["field_errors"].as_object().unwrap().len(), 2);
    let r = h
        .post(
            "/tasks/",
            json!({"task_type": "data_export", "max_retries": 18446744073709551616u128 as f64}),
        )
        .send()
        .await;
    assert_eq!(r.code(), "VALIDATION_ERROR");
}

#[tokio::test]
async fn ids_that_overflow_or_do_not_parse_are_404() {
    let h = Harness::new().await;
    for path in [
        "/tasks/18446744073709551616/",
        "/tasks/-1/",
        "/tasks/%00/",
        "/tasks/1e3/",
        "/tasks/%F0%9F%92%A5/",
    ] {
        let r = h.get(path).send().await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        let r = h.call(Method::POST, &format!("{path}cancel/")).send().await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}cancel/");
    }
}

#[tokio::test]
async fn odd_query_strings_never_fail_the_server() {
    let h = Harness::new().await;
    h.create_with(json!({"description": "a"})).await;
    for q in [
        "?search=%00%00",
        "?search=%ZZ",
        "?page_size=-5",
        "?ordering=,,,",
        "?ordering=-",
        "?status=,,",
        "?created_after=",
        "?search=",
        "?page=%20",
        "?&&&=",
        "?search=%E2%82%AC",
    ] {
        let r = h.get(&format!("/tasks/{q}")).send().await;
        assert!(
            r.status.is_success() || r.status.is_client_error(),
            "{q}: {}",
            r.status
        );
        assert!(r.body.is_object(), "{q}");
    }
}
