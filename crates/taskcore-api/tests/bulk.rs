//! `POST /tasks/bulk/`: all or nothing, ids in order, idempotency per request.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

fn tasks(n: usize, tag: &str) -> Value {
    let tasks: Vec<_> = (0..n)
        .map(|i| json!({"task_type": "data_export", "description": format!("{tag} {i}"), "priority": "high"}))
        .collect();
    json!({ "tasks": tasks })
}

fn ids(body: &Value) -> Vec<u64> {
    body["results"]
        .as_array()
        .map(|r| r.iter().filter_map(|t| t["id"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_bulk_creates_every_task_in_order_with_consecutive_ids() {
    let h = Harness::new().await;
    let single = h.create(json!({"task_type": "data_export"})).await;
    let r = h.post("/tasks/bulk/", tasks(3, "bulk")).send().await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["count"], 3);
    let first = single["id"].as_u64().unwrap_or_default() + 1;
    assert_eq!(ids(&r.body), vec![first, first + 1, first + 2]);
    for (i, t) in r.body["results"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        assert_eq!(t["description"], format!("bulk {i}"));
        assert_eq!(t["priority"], "high");
        assert_eq!(t["status"], "pending");
        assert_eq!(t["brand"]["id"], 9);
        // Each is a task like any other.
        let detail = h.get(&format!("/tasks/{}/", t["id"])).send().await;
        assert_eq!(detail.body["task_id"], t["task_id"]);
    }
    assert_eq!(h.get("/tasks/").send().await.body["count"], 4);
}

#[tokio::test]
async fn one_bad_task_creates_none_and_every_error_is_named_by_position() {
    let h = Harness::new().await;
    let body = json!({"tasks": [
        {"task_type": "data_export"},
        {"task_type": "no_such_type"},
        {"task_type": "data_export", "max_retries": 21, "timeout_minutes": 0},
        "not an object",
    ]});
    let r = h.post("/tasks/bulk/", body).send().await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
    assert_eq!(
        r.error_fields(),
        [
            "tasks[1].task_type",
            "tasks[2].max_retries",
            "tasks[2].timeout_minutes",
            "tasks[3]"
        ]
    );
    assert_eq!(h.get("/tasks/").send().await.body["count"], 0);

    for bad in [
        json!({}),
        json!({"tasks": []}),
        json!({"tasks": "x"}),
        tasks(1001, "x"),
    ] {
        let r = h.post("/tasks/bulk/", bad).send().await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
        );
        assert!(r.body["field_errors"]["tasks"].is_array(), "{}", r.body);
    }
    assert_eq!(h.get("/tasks/").send().await.body["count"], 0);
}

#[tokio::test]
async fn a_thousand_tasks_fit_in_one_request() {
    let h = Harness::new().await;
    let r = h.post("/tasks/bulk/", tasks(1000, "many")).send().await;
    assert_eq!(r.status, StatusCode::CREATED);
    let got = ids(&r.body);
    assert_eq!(got, (1..=1000).collect::<Vec<_>>());
    assert_eq!(h.get("/tasks/").send().await.body["count"], 1000);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_bulk_and_refuses_another_body() {
    let h = Harness::new().await;
    let send = |body: Value, brand: &'static str| {
        h.post("/tasks/bulk/", body)
            .header("idempotency-key", "bulk-1")
            .brand(brand)
    };
    let first = send(tasks(2, "a"), "9").send().await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = send(tasks(2, "a"), "9").send().await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    assert_eq!(h.get("/tasks/").send().await.body["count"], 2);

    let other = send(tasks(3, "b"), "9").send().await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_REUSED")
    );
    // Another brand's key is another key; a single create's key is another key too.
    assert_eq!(
        send(tasks(2, "a"), "10").send().await.status,
        StatusCode::CREATED
    );
    let single = h
        .post("/tasks/", json!({"task_type": "data_export"}))
        .header("idempotency-key", "bulk-1")
        .send()
        .await;
    assert_eq!(single.status, StatusCode::CREATED);

    // A task deleted since drops out of the replay.
    let gone = ids(&first.body)[0];
    let r = h
        .call(axum::http::Method::DELETE, &format!("/tasks/{gone}/"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let replay = send(tasks(2, "a"), "9").send().await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(ids(&replay.body), ids(&first.body)[1..].to_vec());
}

#[tokio::test]
async fn a_bulk_larger_than_the_body_limit_is_413() {
    let h = Harness::with_api_config(taskcore_api::ApiConfig {
        max_body_bytes: 4096,
        ..Default::default()
    })
    .await;
    let r = h.post("/tasks/bulk/", tasks(200, "big")).send().await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
    );
    assert_eq!(h.get("/tasks/").send().await.body["count"], 0);
}
