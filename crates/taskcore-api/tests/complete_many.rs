//! `POST /workers/complete/`: several successes in one request, each fenced by its own lease.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

async fn lease_all(h: &Harness, n: usize) -> Vec<Value> {
    let r = report(
        h,
        "/workers/lease/",
        json!({"worker_id": "w", "max_tasks": n}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["tasks"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn each_report_is_applied_or_refused_on_its_own_in_order() {
    let h = Harness::new().await;
    for _ in 0..3 {
        h.create(json!({"task_type": "data_export"})).await;
    }
    let leased = lease_all(&h, 3).await;
    assert_eq!(leased.len(), 3);
    let completion = |l: &Value, lease: &Value| {
        json!({"id": l["id"], "lease_id": lease, "result_data": {"from": l["id"]},
               "metrics": {"execution_time_ms": 5}})
    };
    let body = json!({"completions": [
        completion(&leased[0], &leased[0]["lease_id"]),
        completion(&leased[1], &json!("not-the-lease")),
        completion(&leased[2], &leased[2]["lease_id"]),
        {"id": 999_999, "lease_id": "x", "result_data": {}},
    ]});
    let r = report(&h, "/workers/complete/", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let results = r.body["results"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<_> = results.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, [json!(200), json!(409), json!(200), json!(404)]);
    assert_eq!(results[1]["error"]["error_code"], "LEASE_LOST");
    assert_eq!(results[3]["error"]["error_code"], "NOT_FOUND");
    assert!(results[0].get("error").is_none());
    assert_eq!(results[2]["id"], leased[2]["id"]);

    for (l, status) in leased.iter().zip(["completed", "running", "completed"]) {
        let t = h.get(&format!("/tasks/{}/", l["id"])).send().await.body;
        assert_eq!(t["status"], status, "{t}");
        if status == "completed" {
            assert_eq!(t["result_data"]["from"], l["id"]);
            assert_eq!(t["metrics"]["execution_time_ms"], 5);
        }
    }
    // Sent again, a completed attempt's report is refused like a single one would be.
    let again = json!({"completions": [completion(&leased[0], &leased[0]["lease_id"])]});
    let r = report(&h, "/workers/complete/", again).await;
    assert_eq!(r.body["results"][0]["status"], 409, "{}", r.body);
}

#[tokio::test]
async fn bad_reports_fail_the_request_naming_each_by_position() {
    let h = Harness::new().await;
    let r = report(
        &h,
        "/workers/complete/",
        json!({"completions": [
            {"id": 1, "lease_id": "a", "result_data": {}},
            {"lease_id": "b", "result_data": []},
            "x",
        ]}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
    assert_eq!(
        r.error_fields(),
        [
            "completions[1].id",
            "completions[1].result_data",
            "completions[2]"
        ]
    );
    let many: Vec<_> = (0..101)
        .map(|i| json!({"id": i, "lease_id": "a", "result_data": {}}))
        .collect();
    for bad in [
        json!({}),
        json!({"completions": []}),
        json!({ "completions": many }),
    ] {
        let r = report(&h, "/workers/complete/", bad).await;
        assert_eq!(r.code(), "VALIDATION_ERROR", "{}", r.body);
    }
    // Users are not workers.
    let r = h
        .post(
            "/workers/complete/",
            json!({"completions": [{"id": 1, "lease_id": "a", "result_data": {}}]}),
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
