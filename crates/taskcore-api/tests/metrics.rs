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
        // A one-node cluster leads: nothing goes anywhere.
        "taskcore_forwarded_writes_total 0",
        "taskcore_forwarded_requests_total 0",
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

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics_page() {
    let h = Harness::new().await;
    // Every label a request can set is seen once first.
    let method = |i: usize| {
        axum::http::Method::from_bytes(format!("M{i:04}{}", "A".repeat(2000)).as_bytes()).unwrap()
    };
    h.call(method(0), "/healthz").send().await;
    metrics_page(&h).await;
    let before = metrics_page(&h).await.len();
    for i in 1..200 {
        let r = h.call(method(i), "/healthz").send().await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    }
    let after = metrics_page(&h).await;
    // Only the counts changed: one series for all of them, labelled `other`.
    assert!(
        after.len() <= before + 128,
        "{before} → {} bytes",
        after.len()
    );
    assert!(
        after.contains(
            "taskcore_http_requests_total{method=\"other\",route=\"/healthz\",status=\"405\"} 200"
        ),
        "{after}"
    );
    assert!(!after.contains("AAAA"));
}

async fn metrics_page(h: &Harness) -> String {
    let call = h
        .get("/metrics")
        .without("authorization")
        .without("x-brand-id");
    String::from_utf8(call.send().await.raw).unwrap()
}

#[tokio::test]
async fn status_gives_the_same_figures_as_json_without_a_token() {
    let h = Harness::new().await;
    h.create_with(json!({"priority": "high"})).await;
    let r = h
        .get("/status")
        .without("authorization")
        .without("x-brand-id")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let s: taskcore_wire::NodeStatusBody = serde_json::from_value(r.body).unwrap();
    assert!(s.ready && s.leader);
    assert_eq!(s.leader_id, Some(1));
    assert_eq!(s.tasks, 1);
    assert_eq!(s.queue_depth["high"], 1);
    assert_eq!(s.attempts["leased"], 0);
    assert!(s.last_applied >= 2);
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_given_one_is_kept() {
    let h = Harness::new().await;
    let r = h.get("/tasks/").send().await;
    let id = r
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("an x-request-id")
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let again = h.get("/tasks/").send().await;
    assert_ne!(again.headers.get("x-request-id").unwrap(), id.as_str());
    let given = h
        .get("/tasks/999/")
        .header("x-request-id", "trace-me-42")
        .send()
        .await;
    assert_eq!(given.status, StatusCode::NOT_FOUND);
    assert_eq!(given.headers.get("x-request-id").unwrap(), "trace-me-42");
}
