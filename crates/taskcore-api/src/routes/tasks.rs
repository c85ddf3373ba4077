//! `/tasks/…`: list, create, detail, update, delete, retry, cancel and statistics.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use taskcore_core::validate::{parse_create, parse_retry, parse_update, NewTaskFields};
use taskcore_core::{
    digest, Command, CreateTask, IdempotencyClaim, Outcome, RetryTask, Task, TaskId, UserRef,
};
use taskcore_store::StateView;
use taskcore_wire::{
    CancelResponse, ErrorBody, NewTask, Page, QueueStats, RetryRequest, RetryResponse, TaskBody,
    TaskPatch, TypeStats,
};

use crate::auth::Brand;
use crate::body::{JsonObject, OptionalJsonObject};
use crate::list_query::{created_range, parse_list, Params};
use crate::render::{self, wire_status};
use crate::routes::route;
use crate::{ApiError, AppState};

/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The routes of this area.
pub fn routes() -> Router<AppState> {
    let r = Router::new();
    let r = route(r, "/tasks/", get(list_tasks).post(create_task));
    let r = route(r, "/tasks/bulk/", post(super::bulk::create_tasks));
    let r = route(r, "/tasks/queue-stats/", get(queue_stats));
    let r = route(r, "/tasks/type-stats/", get(type_stats));
    let r = route(
        r,
        "/tasks/{id}/",
        get(get_task)
            .put(put_task)
            .patch(patch_task)
            .delete(delete_task),
    );
    let r = route(r, "/tasks/{id}/retry/", post(retry_task));
    route(r, "/tasks/{id}/cancel/", post(cancel_task))
}

/// The id of `/tasks/{id}/`: a numeric `id` or a `task_id`.
fn resolve(view: &StateView<'_>, raw: &str) -> Result<TaskId, ApiError> {
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        // An id too large for u64 exists nowhere.
        return raw.parse().map_err(|_| ApiError::NotFound);
    }
    view.index().by_task_id(raw).ok_or(ApiError::NotFound)
}

/// The task, if it belongs to the request's brand.
fn load(view: &StateView<'_>, id: TaskId, brand: u64) -> Result<Task, ApiError> {
    match view.task(id)? {
        None => Err(ApiError::NotFound),
        Some(t) if t.brand.id != brand => Err(ApiError::PermissionDenied(
            "You do not have permission to access this task",
        )),
        Some(t) => Ok(t),
    }
}

/// Resolves a path id after a read barrier, so that a `task_id` just created is found.
async fn resolve_id(s: &AppState, raw: &str) -> Result<TaskId, ApiError> {
    s.cluster.read_barrier().await?;
    let view = s.cluster.state_machine().read();
    resolve(&view, raw)
}

fn random_task_id() -> String {
    taskcore_core::task_id_from(rand::random())
}

/// The command that creates a task of `fields` for the request's brand and user, with a fresh
/// random `task_id` and no idempotency claim.
pub(crate) fn new_task(brand: &Brand, fields: NewTaskFields) -> CreateTask {
    CreateTask {
        task_id: random_task_id(),
        brand: brand.id,
        brand_name: brand.name.clone(),
        created_by: UserRef {
            id: brand.claims.user_id,
            username: brand.claims.username.clone(),
        },
        task_type: fields.task_type,
        priority: fields.priority,
        description: fields.description,
        context_data: fields.context_data,
        scheduled_for: fields.scheduled_for,
        max_retries: fields.max_retries,
        timeout_minutes: fields.timeout_minutes,
        periodic_task: None,
        idempotency: None,
    }
}

/// The request's `Idempotency-Key`, checked.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| ApiError::field("Idempotency-Key", "Must be visible ASCII characters."))?
        .trim();
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::field(
            "Idempotency-Key",
            format!("Must be 1 to {MAX_IDEMPOTENCY_KEY} characters."),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// List the brand's tasks: filter, search, order, paginate.
#[utoipa::path(get, path = "/tasks/", tag = "tasks",
    params(
        ("X-Brand-ID" = u64, Header, description = "Brand (tenant)"),
        ("status" = Option<String>, Query, description = "Comma list of statuses"),
        ("priority" = Option<String>, Query, description = "Comma list of priorities"),
        ("task_type" = Option<String>, Query, description = "Comma list of task types"),
        ("task_type__startswith" = Option<String>, Query),
        ("created_after" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD"),
        ("created_before" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD"),
        ("has_metrics" = Option<bool>, Query),
        ("is_resumable" = Option<bool>, Query),
        ("search" = Option<String>, Query, description = "Terms matched in task_id, task_type, description"),
        ("ordering" = Option<String>, Query, description = "Comma list of fields, `-` for descending"),
        ("page" = Option<u64>, Query),
        ("page_size" = Option<u64>, Query, description = "Default 20, at most 500"),
    ),
    responses((status = 200, body = Page<TaskBody>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(s): State<AppState>,
    brand: Brand,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<TaskBody>>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let mut req = parse_list(&params, brand.id, &s.config.task_types)?;
    s.cluster.read_barrier().await?;
    let view = s.cluster.state_machine().read();
    let count = view.index().count(&req.query);
    let (page, pages) = req.paginate(count)?;
    let hits = view.index().query(&req.query);
    let tasks = view.tasks(&hits.ids)?;
    Ok(Json(Page {
        count: count as u64,
        next: (page < pages).then(|| params.link_to_page(page + 1)),
        previous: (page > 1).then(|| params.link_to_page(page - 1)),
        results: tasks.iter().map(|t| render::task(t, false)).collect(),
    }))
}

/// Create a task.
#[utoipa::path(post, path = "/tasks/", tag = "tasks", request_body = NewTask,
    params(("X-Brand-ID" = u64, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = TaskBody), (status = 200, description = "Replay of an Idempotency-Key", body = TaskBody),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_task(
    State(s): State<AppState>,
    brand: Brand,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let fields = parse_create(&body, &s.config.task_types)?;
    let idempotency = key.map(|key| IdempotencyClaim {
        key,
        digest: digest(&Value::Object(body)),
    });
    let mut task = new_task(&brand, fields);
    task.idempotency = idempotency;
    let cmd = Command::Create(task);
    match s.cluster.propose(cmd).await? {
        Outcome::Created(t) => {
            let location = format!("/tasks/{}/", t.id);
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(render::task(&t, false)),
            )
                .into_response())
        }
        Outcome::Replayed(t) => Ok((StatusCode::OK, Json(render::task(&t, false))).into_response()),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// One task, with its attempts.
#[utoipa::path(get, path = "/tasks/{id}/", tag = "tasks",
    params(("id" = String, Path, description = "`id` or `task_id`"), ("X-Brand-ID" = u64, Header)),
    responses((status = 200, body = TaskBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_task(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
) -> Result<Json<TaskBody>, ApiError> {
    s.cluster.read_barrier().await?;
    let view = s.cluster.state_machine().read();
    let id = resolve(&view, &id)?;
    Ok(Json(render::task(&load(&view, id, brand.id)?, true)))
}

async fn update(
    s: AppState,
    brand: Brand,
    id: String,
    body: JsonObject,
    full: bool,
) -> Result<Json<TaskBody>, ApiError> {
    let id = resolve_id(&s, &id).await?;
    // Refuse another brand's task before judging the body.
    load(&s.cluster.state_machine().read(), id, brand.id)?;
    let mut u = parse_update(&body.0, &s.config.task_types, full)?;
    u.id = id;
    u.brand = brand.id;
    match s.cluster.propose(Command::Update(u)).await? {
        Outcome::Updated(t) => Ok(Json(render::task(&t, false))),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// Replace every writable field (absent ones return to their defaults).
#[utoipa::path(put, path = "/tasks/{id}/", tag = "tasks", request_body = TaskPatch,
    params(("id" = String, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 200, body = TaskBody), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_task(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Json<TaskBody>, ApiError> {
    update(s, brand, id, body, true).await
}

/// Change the fields sent; `context_data` is an RFC 7396 merge patch.
#[utoipa::path(patch, path = "/tasks/{id}/", tag = "tasks", request_body = TaskPatch,
    params(("id" = String, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 200, body = TaskBody), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch_task(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Json<TaskBody>, ApiError> {
    update(s, brand, id, body, false).await
}

/// Delete a task that is not running.
#[utoipa::path(delete, path = "/tasks/{id}/", tag = "tasks",
    params(("id" = String, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 204), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_task(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = resolve_id(&s, &id).await?;
    match s
        .cluster
        .propose(Command::Delete {
            id,
            brand: brand.id,
        })
        .await?
    {
        Outcome::Deleted => Ok(StatusCode::NO_CONTENT),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// Retry a failed or cancelled task.
#[utoipa::path(post, path = "/tasks/{id}/retry/", tag = "tasks", request_body(content = Option<RetryRequest>),
    params(("id" = String, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 200, body = RetryResponse), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn retry_task(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<Json<RetryResponse>, ApiError> {
    let id = resolve_id(&s, &id).await?;
    load(&s.cluster.state_machine().read(), id, brand.id)?;
    let options = parse_retry(&body)?;
    let cmd = Command::Retry(RetryTask {
        id,
        brand: brand.id,
        reset_progress: options.reset_progress,
        clear_errors: options.clear_errors,
        new_priority: options.new_priority,
    });
    match s.cluster.propose(cmd).await? {
        Outcome::Retried(t) => {
            let now = s.cluster.now();
            let sm = s.cluster.state_machine();
            let recent = sm.execution_stats().recent_mean_ms();
            let estimate = sm.read().index().estimate_start(t.priority, now, recent);
            let estimate = t.scheduled_for.map_or(estimate, |at| at.max(estimate));
            Ok(Json(RetryResponse {
                message: "Task queued for retry".into(),
                task_id: t.task_id,
                new_status: wire_status(t.status),
                retry_count: t.retry_count,
                max_retries: t.max_retries,
                estimated_start: estimate.to_rfc3339(),
            }))
        }
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// Cancel a pending or running task.
#[utoipa::path(post, path = "/tasks/{id}/cancel/", tag = "tasks",
    params(("id" = String, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 200, body = CancelResponse), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_task(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
    OptionalJsonObject(_): OptionalJsonObject,
) -> Result<Json<CancelResponse>, ApiError> {
    let id = resolve_id(&s, &id).await?;
    match s
        .cluster
        .propose(Command::Cancel {
            id,
            brand: brand.id,
        })
        .await?
    {
        Outcome::Cancelled {
            task,
            previous_status,
        } => Ok(Json(CancelResponse {
            message: "Task cancelled successfully".into(),
            task_id: task.task_id,
            previous_status: wire_status(previous_status),
            cancelled_at: task
                .cancelled_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
        })),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// Counts per priority queue and status, and mean processing times.
#[utoipa::path(get, path = "/tasks/queue-stats/", tag = "tasks",
    params(("X-Brand-ID" = u64, Header), ("created_after" = Option<String>, Query), ("created_before" = Option<String>, Query)),
    responses((status = 200, body = QueueStats)),
    security(("bearer" = [])))]
pub async fn queue_stats(
    State(s): State<AppState>,
    brand: Brand,
    RawQuery(raw): RawQuery,
) -> Result<Json<QueueStats>, ApiError> {
    let (after, before) = created_range(&Params::parse(raw.as_deref()))?;
    s.cluster.read_barrier().await?;
    let stats = s.cluster.state_machine().read().index().queue_stats(
        brand.id,
        after,
        before,
        s.cluster.now(),
    );
    Ok(Json(render::queue_stats(&stats)))
}

/// Counts, success rate and mean duration per task type.
#[utoipa::path(get, path = "/tasks/type-stats/", tag = "tasks",
    params(("X-Brand-ID" = u64, Header), ("created_after" = Option<String>, Query), ("created_before" = Option<String>, Query)),
    responses((status = 200, body = TypeStats)),
    security(("bearer" = [])))]
pub async fn type_stats(
    State(s): State<AppState>,
    brand: Brand,
    RawQuery(raw): RawQuery,
) -> Result<Json<TypeStats>, ApiError> {
    let (after, before) = created_range(&Params::parse(raw.as_deref()))?;
    s.cluster.read_barrier().await?;
    let stats = s
        .cluster
        .state_machine()
        .read()
        .index()
        .type_stats(brand.id, after, before);
    Ok(Json(render::type_stats(&stats)))
}
