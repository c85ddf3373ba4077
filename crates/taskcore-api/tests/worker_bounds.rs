//! What a worker sends is bounded: long messages are cut, merged metrics capped, lists limited.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

async fn lease_one(h: &Harness) -> Value {
    let r = report(h, "/workers/lease/", json!({"worker_id": "w"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["tasks"][0]["lease_id"].clone()
}

#[tokio::test]
async fn a_huge_error_message_is_kept_cut_and_marked() {
    let h = Harness::new().await;
    let id = h.create_with(json!({"max_retries": 0})).await["id"].clone();
    let lease = lease_one(&h).await;
    let message = "y".repeat(900 * 1024);
    let r = report(
        &h,
        &format!("/workers/tasks/{id}/fail/"),
        json!({"lease_id": lease, "error_message": message}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let detail = h.get(&format!("/tasks/{id}/")).send().await.body;
    for stored in [
        &detail["error_message"],
        &detail["attempts"][0]["error_message"],
    ] {
        let stored = stored.as_str().unwrap();
        assert_eq!(
            stored.chars().count(),
            taskcore_core::MAX_ERROR_MESSAGE_CHARS
        );
        assert!(stored.starts_with("yyyy") && stored.ends_with("[truncated]"));
    }
}

#[tokio::test]
async fn custom_metrics_that_would_outgrow_their_cap_are_a_400_and_change_nothing() {
    let h = Harness::new().await;
    let id = h.create_with(json!({})).await["id"].clone();
    let lease = lease_one(&h).await;
    let path = format!("/workers/tasks/{id}/heartbeat/");
    let chunk = "m".repeat(40 * 1024);
    let first = json!({"lease_id": lease, "metrics": {"custom": {"a": chunk}}});
    assert_eq!(report(&h, &path, first).await.status, StatusCode::OK);
    let second = json!({"lease_id": lease, "progress_percentage": 50,
                        "metrics": {"custom": {"b": chunk}}});
    let r = report(&h, &path, second).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        "{}",
        r.body
    );
    assert!(r.body["field_errors"]["metrics"].is_array(), "{}", r.body);
    let detail = h.get(&format!("/tasks/{id}/")).send().await.body;
    assert_eq!(
        detail["progress_percentage"], 0,
        "a refused heartbeat changes nothing"
    );
    assert!(detail["metrics"]["custom"].get("b").is_none());
}

#[tokio::test]
async fn a_lease_request_names_at_most_64_task_types() {
    let h = Harness::new().await;
    let types: Vec<String> = (0..65).map(|i| format!("type_{i}")).collect();
    let r = report(
        &h,
        "/workers/lease/",
        json!({"worker_id": "w", "task_types": types}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body["field_errors"]["task_types"].is_array(),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_long_poll_on_a_node_whose_clock_runs_ahead_does_not_loop_empty_leases() {
    // This node believes a task scheduled 3 s from now is due already; the leader does not.
    let h = Harness::with_clock_ahead(std::time::Duration::from_secs(60)).await;
    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    h.create_with(json!({"scheduled_for": at.to_rfc3339()}))
        .await;
    let before = h.cluster.status().last_log_index.unwrap_or(0);
    let r = report(
        &h,
        "/workers/lease/",
        json!({"worker_id": "w", "wait_seconds": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["tasks"], json!([]), "the leader leases nothing yet");
    let writes = h.cluster.status().last_log_index.unwrap_or(0) - before;
    // Back-offs of 50, 100, 200, 400 ms fit in a second: a handful of writes, not a loop.
    assert!(writes <= 6, "{writes} empty lease writes in one second");
    assert!(writes >= 1, "the node did try");
}
