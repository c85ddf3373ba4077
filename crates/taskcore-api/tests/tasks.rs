//! Create, detail, update, delete, retry and cancel, as the contract states them.

mod common;

use axum::http::{header, Method, StatusCode};
use common::*;
use serde_json::{json, Value};

const FIELDS: [&str; 29] = [
    "id",
    "task_id",
    "task_type",
    "status",
    "priority",
    "description",
    "progress_percentage",
    "brand",
    "created_by",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
    "cancelled_at",
    "scheduled_for",
    "context_data",
    "result_data",
    "error_message",
    "retry_count",
    "max_retries",
    "timeout_minutes",
    "has_metrics",
    "is_resumable",
    "metrics",
    "persistent_job",
    "periodic_task",
    "id",
    "task_id",
    "status",
];

fn assert_task_shape(t: &Value) {
    for f in FIELDS {
        assert!(t.get(f).is_some(), "field {f} missing in {t}");
    }
    let task_id = t["task_id"].as_str().unwrap();
    assert!(task_id.starts_with("task_") && task_id.len() == 17);
    assert!(task_id[5..]
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert!(t["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn the_seed_create_example_answers_201_with_location_and_every_field() {
    let h = Harness::new().await;
    let body = json!({
        "task_type": "content_optimization",
        "priority": "normal",
        "description": "Optimiser 10 pages pour nouveaux mots-clés",
        "context_data": {
            "page_ids": [1, 2, 3, 4, 5],
            "target_keywords": ["marketing digital", "seo technique"],
            "optimization_level": "advanced",
            "include_meta_tags": true,
            "include_content_suggestions": true
        }
    });
    let r = h.post("/tasks/", body.clone()).send().await;
    assert_eq!(r.status, StatusCode::CREATED);
    let t = &r.body;
    assert_eq!(r.headers[header::LOCATION], format!("/tasks/{}/", t["id"]));
    assert_task_shape(t);
    assert_eq!(t["status"], "pending");
    assert_eq!(t["progress_percentage"], 0);
    assert_eq!(t["brand"], json!({"id": 9, "name": "Humari"}));
    assert_eq!(t["created_by"], json!({"id": 1, "username": "martin"}));
    assert_eq!(t["context_data"], body["context_data"]);
    assert_eq!(
        (
            t["retry_count"].clone(),
            t["max_retries"].clone(),
            t["timeout_minutes"].clone()
        ),
        (json!(0), json!(3), json!(60))
    );
    assert_eq!(t["started_at"], Value::Null);
    assert_eq!(t["has_metrics"], false);
    assert!(
        t.get("attempts").is_none(),
        "attempts belong to the detail view"
    );
}

#[tokio::test]
async fn validation_lists_every_bad_field_with_the_seed_body() {
    let h = Harness::new().await;
    let r = h
        .post("/tasks/", json!({"priority": "urgent"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({
            "detail": "Validation failed", "error_code": "VALIDATION_ERROR",
            "field_errors": {"task_type": ["Ce champ est requis"],
                             "priority": ["Valeur invalide. Choix: low, normal, high, critical"]}
        })
    );
}

#[tokio::test]
async fn unknown_and_read_only_fields_are_ignored() {
    let h = Harness::new().await;
    let t = h
        .create(
            json!({"task_type": "data_export", "status": "completed", "id": 999,
        "retry_count": 7, "whatever": 1}),
        )
        .await;
    assert_eq!(
        (
            t["status"].clone(),
            t["id"].clone(),
            t["retry_count"].clone()
        ),
        (json!("pending"), json!(1), json!(0))
    );
}

#[tokio::test]
async fn ids_increase_and_detail_accepts_id_or_task_id() {
    let h = Harness::new().await;
    let a = h.create_with(json!({})).await;
    let b = h
        .create_with(json!({"scheduled_for": "2030-01-01T10:00:00+02:00"}))
        .await;
    assert_eq!((a["id"].clone(), b["id"].clone()), (json!(1), json!(2)));
    assert_eq!(b["scheduled_for"], "2030-01-01T08:00:00Z");
    for path in [
        format!("/tasks/{}/", b["id"]),
        format!("/tasks/{}/", b["task_id"].as_str().unwrap()),
        format!("/tasks/{}", b["id"]),
    ] {
        let r = h.get(&path).send().await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.body["id"], 2);
        assert_eq!(r.body["attempts"], json!([]));
        assert_task_shape(&r.body);
    }
}

#[tokio::test]
async fn another_brands_task_is_403_with_the_seed_detail_and_a_missing_one_404() {
    let h = Harness::new().await;
    let t = h.create_with(json!({})).await;
    let path = format!("/tasks/{}/", t["id"]);
    let denied = json!({"detail": "You do not have permission to access this task", "error_code": "PERMISSION_DENIED"});
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"description": "x"}))),
        (Method::DELETE, None),
    ] {
        let mut call = h.call(method.clone(), &path).brand("10");
        if let Some(b) = body {
            call = call.json(b);
        }
        let r = call.send().await;
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::FORBIDDEN, &denied),
            "{method}"
        );
    }
    for (action, expected) in [
        ("cancel", StatusCode::FORBIDDEN),
        ("retry", StatusCode::FORBIDDEN),
    ] {
        let r = h
            .call(Method::POST, &format!("{path}{action}/"))
            .brand("10")
            .send()
            .await;
        assert_eq!(r.status, expected, "{action}");
    }
    let listed = h.get("/tasks/").brand("10").send().await;
    assert_eq!(listed.body["count"], 0);
    for missing in [
        "/tasks/77/",
        "/tasks/task_zzzzzzzzzzzz/",
        "/tasks/99999999999999999999999999/",
        "/tasks/abc/",
    ] {
        let r = h.get(missing).send().await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(
            r.body,
            json!({"detail": "Not found.", "error_code": "NOT_FOUND"})
        );
    }
}

#[tokio::test]
async fn patch_changes_what_is_sent_and_merges_context_data() {
    let h = Harness::new().await;
    let t = h.create_with(json!({"description": "old", "context_data": {"a": 1, "b": {"c": 2}}, "max_retries": 5})).await;
    let path = format!("/tasks/{}/", t["id"]);
    let r = h
        .call(Method::PATCH, &path)
        .json(
            json!({"priority": "high", "description": "Description mise à jour",
            "context_data": {"additional_params": "new_value", "b": {"c": null}}}),
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["priority"], "high");
    assert_eq!(r.body["description"], "Description mise à jour");
    assert_eq!(
        r.body["context_data"],
        json!({"a": 1, "b": {}, "additional_params": "new_value"})
    );
    assert_eq!(r.body["max_retries"], 5, "fields not sent stay");
    assert!(r.body["updated_at"].as_str().unwrap() >= t["updated_at"].as_str().unwrap());
    let again = h.get(&path).send().await;
    assert_eq!(again.body["context_data"], r.body["context_data"]);
}

#[tokio::test]
async fn put_needs_task_type_replaces_every_writable_field_and_cannot_change_the_type() {
    let h = Harness::new().await;
    let t = h.create_with(json!({"priority": "critical", "description": "d", "context_data": {"a": 1}, "max_retries": 9})).await;
    let path = format!("/tasks/{}/", t["id"]);
    let r = h
        .call(Method::PUT, &path)
        .json(json!({"description": "new"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["field_errors"]["task_type"],
        json!(["Ce champ est requis"])
    );
    let r = h
        .call(Method::PUT, &path)
        .json(json!({"task_type": "report_generation"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["field_errors"]["task_type"].is_array());
    let r = h
        .call(Method::PUT, &path)
        .json(json!({"task_type": "data_export", "context_data": {"z": 0}}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["priority"], "normal");
    assert_eq!(r.body["description"], "");
    assert_eq!(r.body["context_data"], json!({"z": 0}));
    assert_eq!(r.body["max_retries"], 3);
    let r = h
        .call(Method::PATCH, &path)
        .json(json!({"max_retries": 50, "timeout_minutes": "x"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["field_errors"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn delete_answers_204_without_body_and_the_task_is_gone() {
    let h = Harness::new().await;
    let t = h.create_with(json!({})).await;
    let path = format!("/tasks/{}/", t["task_id"].as_str().unwrap());
    let r = h.call(Method::DELETE, &path).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.raw.is_empty());
    assert_eq!(h.get(&path).send().await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.call(Method::DELETE, &path).send().await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.create_with(json!({})).await["id"],
        2,
        "ids are never reused"
    );
}

#[tokio::test]
async fn cancel_answers_the_seed_body_and_refuses_a_second_cancel() {
    let h = Harness::new().await;
    let t = h.create_with(json!({})).await;
    let path = format!("/tasks/{}/cancel/", t["id"]);
    // No body and no Content-Type are accepted for actions.
    let r = h.call(Method::POST, &path).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["message"], "Task cancelled successfully");
    assert_eq!(r.body["task_id"], t["task_id"]);
    assert_eq!(r.body["previous_status"], "pending");
    let detail = h.get(&format!("/tasks/{}/", t["id"])).send().await.body;
    assert_eq!(detail["status"], "cancelled");
    assert_eq!(detail["cancelled_at"], r.body["cancelled_at"]);
    let r = h.post(&path, json!({})).send().await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.body,
        json!({"detail": "Cannot cancel a cancelled task", "error_code": "INVALID_OPERATION",
        "current_status": "cancelled", "allowed_statuses": ["pending", "running"]})
    );
}

#[tokio::test]
async fn retry_follows_the_seed_rules() {
    let h = Harness::new().await;
    let t = h.create_with(json!({"max_retries": 1})).await;
    let id = t["id"].clone();
    let r = h
        .call(Method::POST, &format!("/tasks/{id}/retry/"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.body,
        json!({"detail": "Cannot retry a pending task", "error_code": "INVALID_OPERATION",
        "current_status": "pending", "allowed_statuses": ["failed", "cancelled"]})
    );
    h.call(Method::POST, &format!("/tasks/{id}/cancel/"))
        .send()
        .await;
    let r = h
        .post(
            &format!("/tasks/{id}/retry/"),
            json!({"reset_progress": true, "clear_errors": true, "new_priority": "high"}),
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["message"], "Task queued for retry");
    assert_eq!(r.body["task_id"], t["task_id"]);
    assert_eq!(r.body["new_status"], "pending");
    assert_eq!(
        (r.body["retry_count"].clone(), r.body["max_retries"].clone()),
        (json!(1), json!(1))
    );
    let est = r.body["estimated_start"].as_str().unwrap();
    assert!(
        taskcore_core::Timestamp::parse_rfc3339(est).is_some(),
        "{est}"
    );
    let detail = h.get(&format!("/tasks/{id}/")).send().await.body;
    assert_eq!(
        (
            detail["status"].clone(),
            detail["priority"].clone(),
            detail["cancelled_at"].clone()
        ),
        (json!("pending"), json!("high"), Value::Null)
    );
    h.call(Method::POST, &format!("/tasks/{id}/cancel/"))
        .send()
        .await;
    let r = h
        .call(Method::POST, &format!("/tasks/{id}/retry/"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["error_code"], "MAX_RETRIES_EXCEEDED");
    assert_eq!(
        (r.body["retry_count"].clone(), r.body["max_retries"].clone()),
        (json!(1), json!(1))
    );
    let r = h
        .post(
            &format!("/tasks/{id}/retry/"),
            json!({"new_priority": "urgent"}),
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let h = Harness::new().await;
    let body = json!({"task_type": "data_export", "description": "once"});
    let first = h
        .post("/tasks/", body.clone())
        .header("idempotency-key", "abc-123")
        .send()
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = h
        .post("/tasks/", body.clone())
        .header("idempotency-key", "abc-123")
        .send()
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    assert_eq!(h.get("/tasks/").send().await.body["count"], 1);
    let other = h
        .post(
            "/tasks/",
            json!({"task_type": "data_export", "description": "twice"}),
        )
        .header("idempotency-key", "abc-123")
        .send()
        .await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_REUSED")
    );
    // The same key in another brand is another key.
    let r = h
        .post("/tasks/", body.clone())
        .header("idempotency-key", "abc-123")
        .brand("10")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let long = "k".repeat(256);
    let r = h
        .post("/tasks/", body)
        .header("idempotency-key", long)
        .send()
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
}

#[tokio::test]
async fn paths_without_the_trailing_slash_are_served_the_same() {
    let h = Harness::new().await;
    let r = h
        .post("/tasks", json!({"task_type": "data_export"}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(h.get("/tasks").send().await.body["count"], 1);
    assert_eq!(
        h.call(Method::POST, "/tasks/1/cancel").send().await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.get("/tasks/queue-stats").send().await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow_and_unknown_paths_404() {
    let h = Harness::new().await;
    let r = h
        .call(Method::POST, "/tasks/1/")
        .json(json!({}))
        .send()
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")
    );
    let allow = r.headers[header::ALLOW].to_str().unwrap().to_owned();
    for m in ["GET", "PUT", "PATCH", "DELETE"] {
        assert!(allow.contains(m), "{allow}");
    }
    let r = h.call(Method::DELETE, "/tasks/").send().await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = h.get("/nothing/here/").send().await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
}
