//! Queue and type statistics of the brand in `X-Brand-ID`.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn queue_stats_count_per_priority_and_status() {
    let h = Harness::new().await;
    for p in ["critical", "high", "high", "normal", "low", "low", "low"] {
        h.create_with(json!({"priority": p})).await;
    }
    h.call(Method::POST, "/tasks/1/cancel/").send().await;
    h.post("/tasks/", json!({"task_type": "data_export"}))
        .brand("10")
        .send()
        .await;
    let r = h.get("/tasks/queue-stats/").send().await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({
            "total_tasks": 7,
            "queues": {
                "critical": {"pending": 0, "running": 0, "total_today": 1},
                "high": {"pending": 2, "running": 0, "total_today": 2},
                "normal": {"pending": 1, "running": 0, "total_today": 1},
                "low": {"pending": 3, "running": 0, "total_today": 3},
            },
            "status_distribution": {"pending": 6, "running": 0, "completed": 0, "failed": 0, "cancelled": 1},
            "avg_processing_time_minutes": {"critical": null, "high": null, "normal": null, "low": null},
        })
    );
}

#[tokio::test]
async fn statistics_accept_created_after_and_before() {
    let h = Harness::new().await;
    h.create_with(json!({})).await;
    let r = h
        .get("/tasks/queue-stats/?created_after=2999-01-01")
        .send()
        .await;
    assert_eq!(r.body["total_tasks"], 0);
    assert_eq!(r.body["queues"]["normal"]["total_today"], 0);
    let r = h
        .get("/tasks/queue-stats/?created_before=2999-01-01T00:00:00Z")
        .send()
        .await;
    assert_eq!(r.body["total_tasks"], 1);
    let r = h
        .get("/tasks/type-stats/?created_after=2999-01-01")
        .send()
        .await;
    assert_eq!(r.body, json!({"task_types": {}}));
    let r = h.get("/tasks/type-stats/?created_after=soon").send().await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
    let r = h
        .get("/tasks/queue-stats/?created_before=never")
        .send()
        .await;
    assert!(r.body["field_errors"]["created_before"].is_array());
}

#[tokio::test]
async fn type_stats_list_every_type_with_a_task() {
    let h = Harness::new().await;
    for t in [
        "seo_keyword_analysis",
        "seo_keyword_analysis",
        "data_export",
    ] {
        h.create(json!({"task_type": t})).await;
    }
    h.call(Method::POST, "/tasks/3/cancel/").send().await;
    let r = h.get("/tasks/type-stats/").send().await;
    let stat = |v: &Value, t: &str| v["task_types"][t].clone();
    assert_eq!(
        stat(&r.body, "seo_keyword_analysis"),
        json!({"total": 2, "completed": 0, "failed": 0, "avg_duration_minutes": null, "success_rate": 0.0})
    );
    assert_eq!(stat(&r.body, "data_export")["total"], 1);
    assert_eq!(r.body["task_types"].as_object().unwrap().len(), 2);
    let other = h.get("/tasks/type-stats/").brand("10").send().await;
    assert_eq!(other.body, json!({"task_types": {}}));
}
