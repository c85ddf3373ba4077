//! Listing: filters, search, ordering and pagination, including the seed's example requests.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

fn ids(body: &Value) -> Vec<u64> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
}

/// Six tasks of varied fields in brand 9, one in brand 10.
async fn fixture(h: &Harness) {
    let tasks = [
        json!({"task_type": "seo_keyword_analysis", "priority": "high", "description": "Keyword analysis for Humari"}),
        json!({"task_type": "seo_content_audit", "priority": "low", "description": "audit of blog"}),
        json!({"task_type": "content_optimization", "priority": "critical", "description": "Optimise pages"}),
        json!({"task_type": "data_export", "priority": "normal", "description": "export, keyword list"}),
        json!({"task_type": "report_generation", "priority": "high", "description": "monthly ANALYSIS report"}),
        json!({"task_type": "seo_keyword_analysis", "priority": "normal", "description": ""}),
    ];
    for t in tasks {
        h.create(t).await;
    }
    h.call(Method::POST, "/tasks/2/cancel/").send().await;
    h.call(Method::POST, "/tasks/5/cancel/").send().await;
    h.post("/tasks/", json!({"task_type": "seo_keyword_analysis"}))
        .brand("10")
        .send()
        .await;
}

async fn list(h: &Harness, query: &str) -> Value {
    let r = h.get(&format!("/tasks/{query}")).send().await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    r.body
}

#[tokio::test]
async fn default_order_is_newest_first_and_scoped_to_the_brand() {
    let h = Harness::new().await;
    fixture(&h).await;
    let body = list(&h, "").await;
    assert_eq!(body["count"], 6);
    assert_eq!(ids(&body), vec![6, 5, 4, 3, 2, 1]);
    assert_eq!(
        (body["next"].clone(), body["previous"].clone()),
        (Value::Null, Value::Null)
    );
}

#[tokio::test]
async fn filters_combine_with_and_and_comma_lists_mean_or() {
    let h = Harness::new().await;
    fixture(&h).await;
    assert_eq!(ids(&list(&h, "?status=cancelled").await), vec![5, 2]);
    assert_eq!(
        ids(&list(&h, "?status=pending,cancelled&priority=high").await),
        vec![5, 1]
    );
    assert_eq!(
        ids(&list(&h, "?priority=high,critical&ordering=id").await),
        vec![1, 3, 5]
    );
    assert_eq!(
        ids(&list(
            &h,
            "?task_type=seo_keyword_analysis,data_export&ordering=id"
        )
        .await),
        vec![1, 4, 6]
    );
    assert_eq!(
        ids(&list(&h, "?task_type__startswith=seo&ordering=id").await),
        vec![1, 2, 6]
    );
    assert_eq!(list(&h, "?has_metrics=true").await["count"], 0);
    assert_eq!(list(&h, "?has_metrics=false").await["count"], 6);
    assert_eq!(
        list(&h, "?is_resumable=false&status=pending").await["count"],
        4
    );
    assert_eq!(
        list(&h, "?status=").await["count"],
        6,
        "an empty filter is no filter"
    );
    assert_eq!(
        list(&h, "?unknown=1&foo=bar").await["count"],
        6,
        "unknown parameters are ignored"
    );
}

#[tokio::test]
async fn created_after_and_before_accept_datetimes_and_bare_dates() {
    let h = Harness::new().await;
    fixture(&h).await;
    assert_eq!(list(&h, "?created_after=2024-01-01").await["count"], 6);
    assert_eq!(
        list(&h, "?created_before=2024-12-31T23:59:59Z").await["count"],
        0
    );
    assert_eq!(
        list(&h, "?created_after=2999-01-01T00:00:00%2B02:00").await["count"],
        0
    );
    let third = h.get("/tasks/3/").send().await.body["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = format!("?created_after={}&ordering=id", third.replace('+', "%2B"));
    assert_eq!(ids(&list(&h, &q).await), vec![3, 4, 5, 6]);
    let q = format!("?created_before={}&ordering=id", third);
    assert_eq!(ids(&list(&h, &q).await), vec![1, 2, 3]);
}

#[tokio::test]
async fn search_needs_every_term_in_task_id_type_or_description() {
    let h = Harness::new().await;
    fixture(&h).await;
    assert_eq!(
        ids(&list(&h, "?search=keyword%20analysis&ordering=id").await),
        vec![1, 6]
    );
    assert_eq!(ids(&list(&h, "?search=ANALYSIS,report").await), vec![5]);
    assert_eq!(
        ids(&list(&h, "?search=keyword&ordering=id").await),
        vec![1, 4, 6]
    );
    assert_eq!(list(&h, "?search=nothing-matches-this").await["count"], 0);
    let task_id = h.get("/tasks/4/").send().await.body["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ids(&list(&h, &format!("?search={}", task_id.to_uppercase())).await),
        vec![4]
    );
}

#[tokio::test]
async fn ordering_by_rank_lifecycle_and_names_with_ties_on_id() {
    let h = Harness::new().await;
    fixture(&h).await;
    assert_eq!(
        ids(&list(&h, "?ordering=priority").await),
        vec![2, 4, 6, 1, 5, 3]
    );
    assert_eq!(
        ids(&list(&h, "?ordering=-priority").await),
        vec![3, 5, 1, 6, 4, 2]
    );
    assert_eq!(
        ids(&list(&h, "?ordering=status").await),
        vec![1, 3, 4, 6, 2, 5]
    );
    // Ties (4 and 6) break on id in the direction of the first field, descending here.
    assert_eq!(
        ids(&list(&h, "?ordering=-status,priority").await),
        vec![2, 5, 6, 4, 1, 3]
    );
    assert_eq!(
        ids(&list(&h, "?ordering=task_type").await),
        vec![3, 4, 5, 2, 1, 6]
    );
    assert_eq!(
        ids(&list(&h, "?ordering=-created_at,priority,status").await),
        vec![6, 5, 4, 3, 2, 1]
    );
}

#[tokio::test]
async fn an_unknown_ordering_field_or_filter_value_is_a_400_field_error() {
    let h = Harness::new().await;
    fixture(&h).await;
    for (query, field) in [
        ("?ordering=cancelled_at", "ordering"),
        ("?ordering=-nope", "ordering"),
        ("?status=done", "status"),
        ("?priority=urgent", "priority"),
        ("?task_type=seo_analysis", "task_type"),
        ("?created_after=yesterday", "created_after"),
        ("?created_before=2024-02-30", "created_before"),
        ("?has_metrics=maybe", "has_metrics"),
        ("?is_resumable=2", "is_resumable"),
        ("?ordering=id,-id", "ordering"),
        ("?ordering=priority,created_at,priority", "ordering"),
    ] {
        let r = h.get(&format!("/tasks/{query}")).send().await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            "{query}"
        );
        assert!(
            r.body["field_errors"][field].is_array(),
            "{query}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn pagination_follows_drf() {
    let h = Harness::new().await;
    for _ in 0..45 {
        h.create_with(json!({})).await;
    }
    let p1 = list(&h, "").await;
    assert_eq!(
        (p1["count"].clone(), p1["results"].as_array().unwrap().len()),
        (json!(45), 20)
    );
    assert_eq!(
        (p1["next"].clone(), p1["previous"].clone()),
        (json!("?page=2"), Value::Null)
    );
    let p3 = list(&h, "?page=3").await;
    assert_eq!(ids(&p3), vec![5, 4, 3, 2, 1]);
    assert_eq!(
        (p3["next"].clone(), p3["previous"].clone()),
        (Value::Null, json!("?page=2"))
    );
    assert_eq!(ids(&list(&h, "?page=last").await), ids(&p3));
    let kept = list(&h, "?status=pending&page=2&page_size=10").await;
    assert_eq!(kept["next"], "?status=pending&page_size=10&page=3");
    assert_eq!(kept["previous"], "?status=pending&page_size=10&page=1");
    assert_eq!(
        list(&h, "?page_size=1000").await["results"]
            .as_array()
            .unwrap()
            .len(),
        45
    );
    assert_eq!(
        list(&h, "?page_size=abc").await["results"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(
        list(&h, "?page_size=0").await["results"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    for bad in [
        "?page=4",
        "?page=0",
        "?page=-1",
        "?page=abc",
        "?page=1.5",
        "?page=99999999999999999999999",
    ] {
        let r = h.get(&format!("/tasks/{bad}")).send().await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(
            r.body,
            json!({"detail": "Invalid page.", "error_code": "NOT_FOUND"}),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn an_empty_list_has_one_empty_page() {
    let h = Harness::new().await;
    let body = list(&h, "").await;
    assert_eq!(
        body,
        json!({"count": 0, "next": null, "previous": null, "results": []})
    );
    assert_eq!(
        h.get("/tasks/?page=2").send().await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_seed_example_requests_work() {
    let h = Harness::new().await;
    fixture(&h).await;
    let seed = [
        "?status=pending,running,completed,failed,cancelled",
        "?priority=low,normal,high,critical",
        "?created_after=2024-01-01T00:00:00Z",
        "?created_before=2024-12-31T23:59:59Z",
        "?search=keyword_research",
        "?has_metrics=true",
        "?is_resumable=true",
        "?ordering=-created_at,priority,status",
        "?status=running,pending&priority=high,critical",
        "?status=failed&created_after=2024-12-01T00:00:00Z&ordering=-created_at",
        "?task_type__startswith=seo&created_after=2024-12-01T00:00:00Z",
        "?search=keyword%20analysis",
    ];
    for q in seed {
        let body = list(&h, q).await;
        assert!(body["count"].is_u64(), "{q}");
    }
    assert_eq!(
        list(&h, "?status=pending,running,completed,failed,cancelled").await["count"],
        6
    );
    assert_eq!(
        ids(&list(&h, "?status=running,pending&priority=high,critical").await),
        vec![3, 1]
    );
    // The seed's filter example names types that are not among its twelve: a field error.
    let r = h
        .get("/tasks/?task_type=seo_analysis,content_generation,keyword_research")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn costly_queries_are_refused_before_they_run() {
    let h = Harness::new().await;
    fixture(&h).await;
    let many_keys = vec!["-created_at"; 5000].join(",");
    let many_terms = vec!["a"; 17].join("%20");
    let long_term = "x".repeat(201);
    for (query, field) in [
        (format!("?ordering={many_keys}"), "ordering"),
        (format!("?search={many_terms}"), "search"),
        (format!("?search={long_term}"), "search"),
    ] {
        let r = h.get(&format!("/tasks/{query}")).send().await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            "{}",
            r.body
        );
        let errors = r.body["field_errors"][field].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{}", r.body);
    }
    // The bounds themselves are accepted.
    let every_field = "id,created_at,updated_at,started_at,completed_at,scheduled_for,priority,\
                       status,task_type,progress_percentage";
    let r = h
        .get(&format!("/tasks/?ordering={every_field}"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = h
        .get(&format!("/tasks/?search={}", vec!["a"; 16].join("%20")))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
