//! The contract end to end against the real binary on a loopback port, with the seed's requests.

mod common;

use common::*;
use serde_json::{json, Value};
use taskcore_client::Client;
use taskcore_wire::{NewTask, RetryRequest, TaskPatch, TaskPriority, TaskStatus};

#[tokio::test]
async fn the_seed_requests_work_against_a_real_node() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    wait_ready(&client).await;

    // Créer une tâche (the seed's body).
    let created = client
        .create_task(
            &NewTask {
                task_type: "content_optimization".into(),
                priority: Some(TaskPriority::Normal),
                description: Some("Optimiser 10 pages pour nouveaux mots-clés".into()),
                context_data: Some(json!({"page_ids": [1, 2, 3, 4, 5], "target_keywords": ["marketing digital", "seo technique"]})),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(created.status, TaskStatus::Pending);
    assert_eq!(created.brand.name, "Humari");
    for t in [
        "seo_keyword_analysis",
        "seo_competitor_analysis",
        "report_generation",
    ] {
        let nt = NewTask {
            task_type: t.into(),
            description: Some("keyword analysis".into()),
            ..Default::default()
        };
        client.create_task(&nt, None).await.unwrap();
    }

    // Liste, filtres et exemples de filtrage avancé.
    let all = client.list_tasks(&[]).await.unwrap();
    assert_eq!(all.count, 4);
    assert_eq!(all.results[0].id, 4, "newest first");
    let seo = client
        .list_tasks(&[
            ("task_type__startswith", "seo"),
            ("created_after", "2024-12-01T00:00:00Z"),
        ])
        .await
        .unwrap();
    assert_eq!(seo.count, 2);
    let found = client
        .list_tasks(&[("search", "keyword analysis")])
        .await
        .unwrap();
    assert_eq!(found.count, 3);
    let urgent = client
        .list_tasks(&[("status", "running,pending"), ("priority", "high,critical")])
        .await
        .unwrap();
    assert_eq!(urgent.count, 0);

    // Détail, mise à jour.
    let detail = client.get_task(&created.task_id).await.unwrap();
    assert_eq!(detail.id, created.id);
    assert_eq!(detail.attempts, Some(vec![]));
    let patch = TaskPatch {
        priority: Some(TaskPriority::High),
        description: Some("Description mise à jour".into()),
        context_data: Some(json!({"additional_params": "new_value"})),
        ..Default::default()
    };
    let updated = client
        .update_task(&created.id.to_string(), &patch, false)
        .await
        .unwrap();
    assert_eq!(updated.priority, TaskPriority::High);
    assert_eq!(updated.context_data["additional_params"], "new_value");
    assert_eq!(updated.context_data["page_ids"], json!([1, 2, 3, 4, 5]));

    // Annuler, retry.
    let cancelled = client.cancel_task("2").await.unwrap();
    assert_eq!(cancelled.previous_status, TaskStatus::Pending);
    let retried = client
        .retry_task(
            "2",
            &RetryRequest {
                new_priority: Some(TaskPriority::High),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (retried.new_status, retried.retry_count, retried.max_retries),
        (TaskStatus::Pending, 1, 3)
    );
    let err = client
        .retry_task("2", &RetryRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_OPERATION"));

    // Statistiques.
    let q = client.queue_stats().await.unwrap();
    assert_eq!(q.total_tasks, 4);
    assert_eq!(q.queues.high.pending, 2);
    let types = client.type_stats().await.unwrap();
    assert_eq!(types.task_types.len(), 4);

    // Supprimer.
    client.delete_task("4").await.unwrap();
    let err = client.get_task("4").await.unwrap_err();
    assert_eq!(err.error_code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn errors_keep_their_shape_over_real_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let http = reqwest::Client::new();
    let tok = token(false);
    let post = |body: &'static str, ct: Option<&'static str>| {
        let mut r = http
            .post(format!("{}/tasks/", node.url))
            .bearer_auth(&tok)
            .header("X-Brand-ID", "9")
            .body(body);
        if let Some(ct) = ct {
            r = r.header("Content-Type", ct);
        }
        r.send()
    };
    let r = post(r#"{"priority": "urgent"}"#, Some("application/json"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["field_errors"]["task_type"],
        json!(["Ce champ est requis"])
    );
    let r = post("{oops", Some("application/json")).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = post("{}", None).await.unwrap();
    assert_eq!(r.status(), 415);
    let r = http
        .get(format!("{}/tasks/", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let big = format!(
        r#"{{"task_type": "data_export", "description": "{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    // The node refuses it from its Content-Length, then reads and discards the rest, so the
    // answer reaches a client still writing and the connection stays usable for the next ones.
    let r = http
        .post(format!("{}/tasks/", node.url))
        .bearer_auth(&tok)
        .header("X-Brand-ID", "9")
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = http
        .get(format!("{}/healthz", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = http
        .get(format!("{}/openapi.json", node.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/tasks/"]["post"].is_object());
}

#[tokio::test]
async fn dev_mode_prints_a_token_that_works_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start_dev(dir.path());
    let token = node.dev_token();
    let client = Client::new(&node.url, &token).with_brand(1);
    client
        .create_task(
            &NewTask {
                task_type: "data_export".into(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    node.restart();
    // The secret is kept in the data directory: the token printed before the restart still works
    // (the new one differs only by its times).
    assert!(node.dev_token().starts_with("eyJ"));
    let client = Client::new(&node.url, &token).with_brand(1);
    assert_eq!(client.list_tasks(&[]).await.unwrap().count, 1);
}

#[test]
fn without_dev_and_without_a_secret_the_node_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(binary("taskcore"))
        .args(["serve", "--http-addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("TASKCORE_JWT_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no JWT secret configured"), "{err}");
    // The example secret of config/node.toml, or a short one, is refused the same way.
    for weak in ["change-me-to-a-long-random-secret", "hunter2"] {
        let out = std::process::Command::new(binary("taskcore"))
            .args(["serve", "--http-addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("TASKCORE_JWT_SECRET", weak)
            .env("TASKCORE_CLUSTER_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(!out.status.success(), "started with {weak:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("JWT secret") && err.contains("openssl rand"),
            "{err}"
        );
    }
}

#[test]
fn taskctl_manages_tasks_with_tables_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let tok = token(false);
    let out = taskctl(
        &node,
        &tok,
        &[
            "tasks",
            "create",
            "--type",
            "data_export",
            "--priority",
            "high",
            "--description",
            "from taskctl",
        ],
    );
    assert!(
        out.contains("data_export") && out.contains("pending"),
        "{out}"
    );
    let listed: Value = serde_json::from_str(&taskctl(
        &node,
        &tok,
        &["--json", "tasks", "list", "--status", "pending"],
    ))
    .unwrap();
    assert_eq!(listed["count"], 1);
    let table = taskctl(&node, &tok, &["tasks", "list"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(taskctl(&node, &tok, &["tasks", "cancel", "1"]).contains("cancelled"));
    assert!(taskctl(&node, &tok, &["tasks", "retry", "1"]).contains("queued for retry"));
    let stats: Value =
        serde_json::from_str(&taskctl(&node, &tok, &["--json", "stats", "queues"])).unwrap();
    assert_eq!(stats["queues"]["high"]["pending"], 1);
    assert!(taskctl(&node, &tok, &["stats", "types"]).contains("data_export"));
    let detail: Value =
        serde_json::from_str(&taskctl(&node, &tok, &["--json", "tasks", "get", "1"])).unwrap();
    assert_eq!(detail["retry_count"], 1);
    let status: Value =
        serde_json::from_str(&taskctl(&node, "", &["--json", "node", "status"])).unwrap();
    assert_eq!(
        (&status["healthy"], &status["ready"], &status["leader"]),
        (&json!(true), &json!(true), &json!(true))
    );
    assert_eq!(status["queue_depth"]["high"], 1);
    assert_eq!(status["tasks"], 1);
    let text = taskctl(&node, "", &["node", "status"]);
    assert!(text.contains("leader: this node"), "{text}");
}
