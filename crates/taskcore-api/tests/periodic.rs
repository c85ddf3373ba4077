//! `/periodic-tasks/`: the schedules' CRUD, validation, tenancy, run-now, and firing by the
//! leader's actor.

mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

async fn create(h: &Harness, body: Value) -> Value {
    let r = h.post("/periodic-tasks/", body).send().await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

fn nightly() -> Value {
    json!({"name": "nightly export", "task_type": "data_export",
           "schedule": {"cron": "0 2 * * *"}, "timezone": "Europe/Paris",
           "priority": "high", "context_data": {"format": "csv"}})
}

#[tokio::test]
async fn schedules_are_created_listed_changed_paused_and_deleted() {
    let h = Harness::new().await;
    let p = create(&h, nightly()).await;
    assert_eq!(p["name"], "nightly export");
    assert_eq!(p["schedule"], json!({"cron": "0 2 * * *"}));
    assert_eq!(
        (p["enabled"].clone(), p["total_run_count"].clone()),
        (json!(true), json!(0))
    );
    assert_eq!(p["brand"]["id"], 9);
    let next = p["next_run_at"].as_str().unwrap();
    assert!(
        next.ends_with("T01:00:00Z") || next.ends_with("T00:00:00Z"),
        "02:00 in Paris: {next}"
    );
    for field in ["start_at", "expires_at", "last_run_at"] {
        assert!(p[field].is_null(), "{field}");
    }
    let id = p["id"].as_u64().unwrap();
    let path = format!("/periodic-tasks/{id}/");
    create(
        &h,
        json!({"name": "every minute", "task_type": "report_generation",
                      "schedule": {"interval_seconds": 60}}),
    )
    .await;

    let list = h.get("/periodic-tasks/").send().await.body;
    assert_eq!(list["count"], 2);
    let paused = h
        .call(Method::PATCH, &path)
        .json(json!({"enabled": false}))
        .send()
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert!(
        paused.body["next_run_at"].is_null(),
        "a paused schedule has no next run"
    );
    let enabled = h.get("/periodic-tasks/?enabled=true").send().await.body;
    assert_eq!(enabled["count"], 1);
    assert_eq!(enabled["results"][0]["name"], "every minute");
    let found = h.get("/periodic-tasks/?search=NIGHT").send().await.body;
    assert_eq!(found["count"], 1);

    let replaced = h
        .call(Method::PUT, &path)
        .json(json!({"name": "hourly export", "task_type": "data_export",
                     "schedule": {"interval_seconds": 3600}}))
        .send()
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(
        replaced.body["enabled"], true,
        "PUT returns absent fields to defaults"
    );
    assert_eq!(replaced.body["timezone"], "UTC");
    assert_eq!(replaced.body["priority"], "normal");
    assert!(replaced.body["next_run_at"].is_string());

    assert_eq!(h.get(&path).send().await.body["name"], "hourly export");
    let r = h.call(Method::DELETE, &path).send().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = h.get(&path).send().await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.get("/periodic-tasks/abc/").send().await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_schedules_are_refused_with_every_field_error() {
    let h = Harness::new().await;
    let r = h.post("/periodic-tasks/", json!({})).send().await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
    for field in ["name", "task_type", "schedule"] {
        assert!(r.body["field_errors"][field].is_array(), "{}", r.body);
    }
    let r = h
        .post(
            "/periodic-tasks/",
            json!({"name": "x", "task_type": "data_export", "schedule": {"cron": "0 25 * * *"},
                   "timezone": "Europe/Atlantis", "expires_at": "soon"}),
        )
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for field in ["schedule", "timezone", "expires_at"] {
        assert!(r.body["field_errors"][field].is_array(), "{}", r.body);
    }
    create(&h, nightly()).await;
    let r = h.post("/periodic-tasks/", nightly()).send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["field_errors"]["name"][0],
        "periodic task with this name already exists."
    );
    let mut window = nightly();
    window["name"] = json!("window");
    window["start_at"] = json!("2030-01-02T00:00:00Z");
    window["expires_at"] = json!("2030-01-01T00:00:00Z");
    let r = h.post("/periodic-tasks/", window).send().await;
    assert!(
        r.body["field_errors"]["expires_at"].is_array(),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn schedules_belong_to_their_brand() {
    let h = Harness::new().await;
    let p = create(&h, nightly()).await;
    let path = format!("/periodic-tasks/{}/", p["id"]);
    let r = h.get(&path).brand("10").send().await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "PERMISSION_DENIED")
    );
    let r = h.get("/periodic-tasks/").brand("10").send().await;
    assert_eq!(r.body["count"], 0);
    let r = h.get("/periodic-tasks/").without("x-brand-id").send().await;
    assert_eq!(r.code(), "BRAND_REQUIRED");
    let r = h
        .post(&format!("{path}run-now/"), json!({}))
        .brand("10")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The same name is fine in another brand.
    let r = h
        .post("/periodic-tasks/", nightly())
        .brand("10")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn run_now_creates_a_task_and_leaves_the_schedule_alone() {
    let h = Harness::new().await;
    let p = create(&h, nightly()).await;
    let path = format!("/periodic-tasks/{}/", p["id"]);
    let r = h
        .call(Method::POST, &format!("{path}run-now/"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["periodic_task"], p["id"]);
    assert_eq!(r.body["task_type"], "data_export");
    assert_eq!(r.body["priority"], "high");
    assert_eq!(r.body["context_data"], json!({"format": "csv"}));
    let after = h.get(&path).send().await.body;
    assert_eq!(after["total_run_count"], 1);
    assert_eq!(after["next_run_at"], p["next_run_at"]);
    assert!(after["last_run_at"].is_string());
}

#[tokio::test]
async fn the_leader_fires_due_runs_once_each() {
    let h = Harness::new().await;
    let p = create(
        &h,
        json!({"name": "fast", "task_type": "data_export", "schedule": {"interval_seconds": 1}}),
    )
    .await;
    let path = format!("/periodic-tasks/{}/", p["id"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = h.get(&path).send().await.body;
        if now["total_run_count"].as_u64().unwrap() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "{now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paused = h
        .call(Method::PATCH, &path)
        .json(json!({"enabled": false}))
        .send()
        .await
        .body;
    let fired = paused["total_run_count"].as_u64().unwrap();
    let tasks = h.get("/tasks/?page_size=100").send().await.body;
    let mut due: Vec<String> = tasks["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["periodic_task"] == p["id"])
        .map(|t| t["scheduled_for"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(due.len() as u64, fired, "one task per fire");
    due.sort();
    due.dedup();
    assert_eq!(due.len() as u64, fired, "one fire per due time");
    let metrics = h.get("/metrics").without("x-brand-id").send().await.raw;
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        format!("taskcore_periodic_fired_total {fired}"),
        "taskcore_periodic_tasks_enabled 0".to_owned(),
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line:?}");
    }
}

#[tokio::test]
async fn the_openapi_document_covers_periodic_tasks() {
    let h = Harness::new().await;
    let doc = h.get("/openapi.json").send().await.body;
    for path in [
        "/periodic-tasks/",
        "/periodic-tasks/{id}/",
        "/periodic-tasks/{id}/run-now/",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    assert!(doc["components"]["schemas"]["PeriodicTaskBody"].is_object());
}

#[tokio::test]
async fn a_brand_has_at_most_the_configured_number_of_periodic_tasks() {
    let h = Harness::with_api_config(taskcore_api::ApiConfig {
        max_periodic_per_brand: 3,
        ..Default::default()
    })
    .await;
    let named = |i: usize| {
        let mut body = nightly();
        body["name"] = json!(format!("export {i}"));
        body
    };
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(create(&h, named(i)).await["id"].clone());
    }
    let r = h.post("/periodic-tasks/", named(3)).send().await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        "{}",
        r.body
    );
    assert!(
        r.body["field_errors"]["non_field_errors"].is_array(),
        "{}",
        r.body
    );
    // Another brand has its own allowance; a deletion makes room; a renamed schedule frees its
    // old name.
    let other = h
        .post("/periodic-tasks/", named(0))
        .brand("10")
        .send()
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    let path = format!("/periodic-tasks/{}/", ids[0]);
    let renamed = h
        .call(Method::PATCH, &path)
        .json(json!({"name": "renamed"}))
        .send()
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let r = h
        .call(Method::DELETE, &format!("/periodic-tasks/{}/", ids[1]))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    create(&h, named(0)).await;
    let r = h
        .call(Method::DELETE, &format!("/periodic-tasks/{}/", ids[2]))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let taken = h.post("/periodic-tasks/", named(0)).send().await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    assert!(
        taken.body["field_errors"]["name"].is_array(),
        "{}",
        taken.body
    );
}
