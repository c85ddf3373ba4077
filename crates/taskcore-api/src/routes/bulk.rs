//! `POST /tasks/bulk/`: up to 1,000 tasks in one request, validated as a whole, created in one
//! Raft entry with consecutive ids in the request's order.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};
use taskcore_core::validate::parse_create;
use taskcore_core::{
    digest, Command, CreateTasks, FieldErrors, IdempotencyClaim, Outcome, Task, TaskTypes,
    MAX_BULK_TASKS,
};
use taskcore_wire::{CreatedTasks, ErrorBody, NewTasks};

use super::tasks::{idempotency_key, new_task};
use crate::auth::Brand;
use crate::body::JsonObject;
use crate::render;
use crate::{ApiError, AppState};

/// Create up to 1,000 tasks at once: all of them, or none when any is invalid.
#[utoipa::path(post, path = "/tasks/bulk/", tag = "tasks", request_body = NewTasks,
    params(("X-Brand-ID" = u64, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CreatedTasks), (status = 200, description = "Replay of an Idempotency-Key", body = CreatedTasks),
        (status = 400, description = "`field_errors` names each item's field as `tasks[i].field`", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_tasks(
    State(s): State<AppState>,
    brand: Brand,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let tasks = parse_bulk(&body, &s.config.task_types)?
        .into_iter()
        .map(|fields| new_task(&brand, fields))
        .collect();
    let idempotency = key.map(|key| IdempotencyClaim {
        key,
        digest: digest(&Value::Object(body)),
    });
    let cmd = Command::CreateMany(CreateTasks { tasks, idempotency });
    match s.cluster.propose(cmd).await? {
        Outcome::CreatedMany(tasks) => {
            Ok((StatusCode::CREATED, Json(answer(&tasks))).into_response())
        }
        Outcome::ReplayedMany(tasks) => Ok((StatusCode::OK, Json(answer(&tasks))).into_response()),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

fn answer(tasks: &[Task]) -> CreatedTasks {
    CreatedTasks {
        count: tasks.len() as u64,
        results: tasks.iter().map(|t| render::task(t, false)).collect(),
    }
}

/// Every task of the body, or every error of every task (`tasks[i].field`).
fn parse_bulk(
    body: &Map<String, Value>,
    types: &TaskTypes,
) -> Result<Vec<taskcore_core::validate::NewTaskFields>, FieldErrors> {
    let items = super::list_of(body, "tasks", MAX_BULK_TASKS, "tasks")?;
    super::each_item(items, "tasks", |item| parse_create(item, types))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<usize, FieldErrors> {
        let Value::Object(body) = body else {
            unreachable!("the tests send objects")
        };
        parse_bulk(&body, &TaskTypes::default()).map(|v| v.len())
    }

    #[test]
    fn every_items_errors_are_named_by_position() {
        let errors = parse(json!({"tasks": [
            {"task_type": "data_export"},
            {"task_type": "nope", "max_retries": 99},
            7,
        ]}))
        .unwrap_err();
        let fields: Vec<_> = errors.0.keys().cloned().collect();
        assert_eq!(
            fields,
            ["tasks[1].max_retries", "tasks[1].task_type", "tasks[2]"]
        );
    }

    #[test]
    fn the_list_is_required_and_bounded() {
        assert_eq!(
            parse(json!({"tasks": [{"task_type": "data_export"}]})).ok(),
            Some(1)
        );
        for bad in [json!({}), json!({"tasks": {}}), json!({"tasks": []})] {
            assert!(parse(bad).unwrap_err().0.contains_key("tasks"));
        }
        let many: Vec<_> = (0..=MAX_BULK_TASKS)
            .map(|_| json!({"task_type": "data_export"}))
            .collect();
        assert!(parse(json!({ "tasks": many }))
            .unwrap_err()
            .0
            .contains_key("tasks"));
    }
}
