//! The worker protocol: leases, long polls, heartbeats, completions, failures, fencing.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

async fn lease(h: &Harness, body: Value) -> Value {
    let r = h
        .post("/workers/lease/", body)
        .bearer(&worker_token())
        .without("x-brand-id")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn workers_need_the_worker_role() {
    let h = Harness::new().await;
    let r = h
        .post("/workers/lease/", json!({"worker_id": "w"}))
        .send()
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "PERMISSION_DENIED")
    );
    let r = h
        .post("/workers/lease/", json!({"worker_id": "w"}))
        .without("authorization")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_lease_takes_the_highest_priority_first_and_starts_an_attempt() {
    let h = Harness::new().await;
    let low = h.create_with(json!({"priority": "low"})).await;
    let crit = h.create_with(json!({"priority": "critical"})).await;
    let body = lease(&h, json!({"worker_id": "w-1", "max_tasks": 1})).await;
    let tasks = body["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert_eq!(t["id"], crit["id"]);
    assert_eq!(t["status"], "running");
    assert_eq!(t["attempt"], 1);
    assert!(t["lease_id"].as_str().unwrap().starts_with("lease_"));
    assert!(t["lease_expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(t["started_at"].is_string());
    let detail = h.get(&format!("/tasks/{}/", crit["id"])).send().await.body;
    assert_eq!(detail["attempts"][0]["worker_id"], "w-1");
    assert_eq!(detail["attempts"][0]["outcome"], "running");
    assert_eq!(
        detail["has_metrics"], true,
        "the server measured the queue wait"
    );
    let next = lease(&h, json!({"worker_id": "w-1", "max_tasks": 5})).await;
    assert_eq!(next["tasks"][0]["id"], low["id"]);
    assert_eq!(
        lease(&h, json!({"worker_id": "w-1"})).await,
        json!({"tasks": []})
    );
}

#[tokio::test]
async fn a_long_poll_gets_a_task_created_while_it_waits() {
    let h = Harness::new().await;
    let worker = worker_token();
    let poll = h
        .post(
            "/workers/lease/",
            json!({"worker_id": "w", "wait_seconds": 10}),
        )
        .bearer(&worker)
        .without("x-brand-id")
        .send();
    // The poll parks until the create is applied, then leases it.
    let create = async {
        tokio::task::yield_now().await;
        h.create_with(json!({})).await
    };
    let (r, created) = tokio::join!(poll, create);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["tasks"][0]["id"], created["id"]);
}

#[tokio::test]
async fn heartbeats_renew_and_carry_progress_checkpoints_and_metrics() {
    let h = Harness::new().await;
    let t = h.create_with(json!({})).await;
    let l = lease(&h, json!({"worker_id": "w"})).await;
    let lease_id = l["tasks"][0]["lease_id"].clone();
    let path = format!("/workers/tasks/{}/heartbeat/", t["id"]);
    let r = report(
        &h,
        &path,
        json!({"lease_id": lease_id, "progress_percentage": 40,
        "checkpoint": {"page": 4}, "metrics": {"memory_usage_mb": 128.5, "custom": {"rows": 10}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["cancel_requested"], false);
    let detail = h.get(&format!("/tasks/{}/", t["id"])).send().await.body;
    assert_eq!(detail["progress_percentage"], 40);
    assert_eq!(detail["is_resumable"], true);
    assert_eq!(detail["persistent_job"]["checkpoint"], json!({"page": 4}));
    assert_eq!(detail["metrics"]["memory_usage_mb"], 128.5);
    assert_eq!(detail["metrics"]["custom"], json!({"rows": 10}));
    let listed = h
        .get("/tasks/?is_resumable=true&has_metrics=true")
        .send()
        .await
        .body;
    assert_eq!(listed["count"], 1);
    for (bad, field) in [
        (
            json!({"lease_id": lease_id, "progress_percentage": 101}),
            "progress_percentage",
        ),
        (
            json!({"lease_id": lease_id, "checkpoint": [1]}),
            "checkpoint",
        ),
        (json!({"progress_percentage": 5}), "lease_id"),
        (
            json!({"lease_id": lease_id, "checkpoint": {"x": "y".repeat(300 * 1024)}}),
            "checkpoint",
        ),
    ] {
        let r = report(&h, &path, bad).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
        );
        assert!(r.body["field_errors"][field].is_array(), "{}", r.body);
    }
    let r = report(&h, &path, json!({"lease_id": "lease_forged"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "LEASE_LOST"));
    let r = report(
        &h,
        "/workers/tasks/999/heartbeat/",
        json!({"lease_id": lease_id}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn complete_and_fail_are_fenced_and_failures_retry_with_backoff() {
    let h = Harness::new().await;
    let t = h.create_with(json!({"max_retries": 1})).await;
    let id = t["id"].clone();
    let first = lease(&h, json!({"worker_id": "w"})).await["tasks"][0]["lease_id"].clone();
    let r = report(
        &h,
        &format!("/workers/tasks/{id}/fail/"),
        json!({"lease_id": first, "error_message": "boom"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["will_retry"], true);
    let next = r.body["next_attempt_at"].as_str().unwrap().to_owned();
    let detail = h.get(&format!("/tasks/{id}/")).send().await.body;
    assert_eq!(
        (detail["status"].clone(), detail["retry_count"].clone()),
        (json!("pending"), json!(1))
    );
    assert_eq!(
        detail["scheduled_for"],
        json!(next),
        "the retry waits out its back-off"
    );
    assert_eq!(detail["attempts"][0]["outcome"], "failed");
    let r = report(
        &h,
        &format!("/workers/tasks/{id}/complete/"),
        json!({"lease_id": first, "result_data": {}}),
    )
    .await;
    assert_eq!(
        r.code(),
        "LEASE_LOST",
        "the failed attempt's lease is fenced"
    );
    // A complete under the current lease ends it.
    let other = h.create_with(json!({"priority": "critical"})).await;
    let l = lease(&h, json!({"worker_id": "w"})).await["tasks"][0].clone();
    assert_eq!(l["id"], other["id"]);
    let r = report(&h, &format!("/workers/tasks/{}/complete/", other["task_id"].as_str().unwrap()),
        json!({"lease_id": l["lease_id"], "result_data": {"rows": 3}, "metrics": {"execution_time_ms": 12}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            r.body["status"].clone(),
            r.body["progress_percentage"].clone()
        ),
        (json!("completed"), json!(100))
    );
    assert_eq!(r.body["result_data"], json!({"rows": 3}));
    let stats = h.get("/tasks/queue-stats/").send().await.body;
    assert_eq!(stats["status_distribution"]["completed"], 1);
    let metrics = h.get("/metrics").without("x-brand-id").send().await.raw;
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        "taskcore_attempts_leased_total 2",
        "taskcore_attempts_completed_total 1",
        "taskcore_attempts_failed_total 1",
        "taskcore_attempts_retried_total 1",
        "taskcore_attempts_expired_total 0",
        "taskcore_attempt_duration_seconds_count 2",
        "taskcore_queue_depth{priority=\"normal\"} 1",
        "taskcore_leases_held 0",
        "taskcore_worker_long_polls 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
}

#[tokio::test]
async fn a_cancel_reaches_the_worker_at_its_next_heartbeat() {
    let h = Harness::new().await;
    let t = h.create_with(json!({})).await;
    let lease_id = lease(&h, json!({"worker_id": "w"})).await["tasks"][0]["lease_id"].clone();
    h.call(Method::POST, &format!("/tasks/{}/cancel/", t["id"]))
        .send()
        .await;
    let r = report(
        &h,
        &format!("/workers/tasks/{}/heartbeat/", t["id"]),
        json!({"lease_id": lease_id}),
    )
    .await;
    assert_eq!(r.body["cancel_requested"], true);
    let r = report(
        &h,
        &format!("/workers/tasks/{}/complete/", t["id"]),
        json!({"lease_id": lease_id}),
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "LEASE_LOST"));
}

#[tokio::test]
async fn lease_requests_are_validated() {
    let h = Harness::new().await;
    for (body, field) in [
        (json!({}), "worker_id"),
        (json!({"worker_id": "w", "max_tasks": 0}), "max_tasks"),
        (json!({"worker_id": "w", "max_tasks": 101}), "max_tasks"),
        (
            json!({"worker_id": "w", "wait_seconds": 31}),
            "wait_seconds",
        ),
        (
            json!({"worker_id": "w", "task_types": "data_export"}),
            "task_types",
        ),
    ] {
        let r = h
            .post("/workers/lease/", body)
            .bearer(&worker_token())
            .send()
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
        );
        assert!(r.body["field_errors"][field].is_array(), "{}", r.body);
    }
}

#[tokio::test]
async fn a_release_gives_the_task_back_at_once_without_spending_a_retry() {
    let h = Harness::new().await;
    let t = h.create_with(json!({"max_retries": 1})).await;
    let id = t["id"].clone();
    let l = lease(&h, json!({"worker_id": "w"})).await["tasks"][0].clone();
    let path = format!("/workers/tasks/{id}/release/");
    for (body, field) in [
        (json!({}), "lease_id"),
        (
            json!({"lease_id": l["lease_id"], "checkpoint": [1]}),
            "checkpoint",
        ),
        (json!({"lease_id": l["lease_id"], "reason": 3}), "reason"),
    ] {
        let r = report(&h, &path, body).await;
        assert_eq!(r.code(), "VALIDATION_ERROR", "{}", r.body);
        assert!(r.body["field_errors"][field].is_array(), "{}", r.body);
    }
    let r = report(&h, &path, json!({"lease_id": "nope"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "LEASE_LOST"));
    let r = report(
        &h,
        &path,
        json!({"lease_id": l["lease_id"], "reason": "deploy", "checkpoint": {"page": 4}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            r.body["status"].clone(),
            r.body["retry_count"].clone(),
            r.body["scheduled_for"].clone()
        ),
        (json!("pending"), json!(0), Value::Null)
    );
    let detail = h.get(&format!("/tasks/{id}/")).send().await.body;
    assert_eq!(detail["attempts"][0]["outcome"], "released");
    assert_eq!(detail["attempts"][0]["error_message"], "deploy");
    let r = report(&h, &path, json!({"lease_id": l["lease_id"]})).await;
    assert_eq!(r.code(), "LEASE_LOST", "released once");

    let again = lease(&h, json!({"worker_id": "w2", "wait_seconds": 0})).await["tasks"][0].clone();
    assert_eq!(again["id"], id, "leasable at once");
    assert_eq!(again["attempt"], 2);
    assert_eq!(again["persistent_job"]["checkpoint"], json!({"page": 4}));
    let metrics = h.get("/metrics").without("x-brand-id").send().await.raw;
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        "taskcore_attempts_released_total 1",
        "taskcore_attempts_retried_total 0",
        "taskcore_leases_held 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
}
