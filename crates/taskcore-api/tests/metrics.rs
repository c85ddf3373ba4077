//! `/metrics`: Prometheus text with the Raft figures and request counts and latencies.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn metrics_report_raft_figures_and_requests_by_route() {
    let h = Harness::new().await;
    h.create_with(json!({})).await;
    h.create_with(json!({})).await;
    h.get("/tasks/1/").send().await;
    h.get("/tasks/999/").send().await;
    let r = h
        .get("/metrics")
        .without("authorization")
        .without("x-brand-id")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.raw).unwrap();
    for line in [
        "taskcore_raft_is_leader 1",
        "taskcore_raft_leader_id 1",
        "taskcore_raft_voters 1",
        "taskcore_ready 1",
        "taskcore_tasks 2",
        "taskcore_http_requests_total{method=\"POST\",route=\"/tasks/\",status=\"201\"} 2",
        "taskcore_http_requests_total{method=\"GET\",route=\"/tasks/{id}/\",status=\"200\"} 1",
        "taskcore_http_requests_total{method=\"GET\",route=\"/tasks/{id}/\",status=\"404\"} 1",
        "taskcore_http_request_duration_seconds_count{method=\"POST\",route=\"/tasks/\"} 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("taskcore_raft_replication_lag{node=\"1\"} 0"));
    let applied: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("taskcore_raft_last_applied_index "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        applied >= 3,
        "init, the leader's blank entry and two creates: {applied}"
    );
}
