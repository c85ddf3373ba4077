//! `/periodic-tasks/…`: schedules that create tasks — list, create, detail, replace, change,
//! delete, and run now.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use taskcore_core::validate::parse_bool;
use taskcore_core::validate::periodic::{parse_periodic, spec_of, Mode};
use taskcore_core::{
    task_id_from, Command, FieldErrors, FirePeriodic, Outcome, PeriodicId, UserRef,
};
use taskcore_wire::{ErrorBody, Page, PeriodicTaskBody, PeriodicTaskRequest, TaskBody};

use crate::auth::Brand;
use crate::body::{JsonObject, OptionalJsonObject};
use crate::list_query::{page_window, pagination, Params};
use crate::render;
use crate::routes::route;
use crate::{ApiError, AppState};

/// The routes of this area.
pub fn routes() -> Router<AppState> {
    let r = Router::new();
    let r = route(
        r,
        "/periodic-tasks/",
        get(list_periodic).post(create_periodic),
    );
    let r = route(
        r,
        "/periodic-tasks/{id}/",
        get(get_periodic)
            .put(put_periodic)
            .patch(patch_periodic)
            .delete(delete_periodic),
    );
    route(r, "/periodic-tasks/{id}/run-now/", post(run_now))
}

/// The id in the path; anything else is not found.
fn periodic_id(raw: &str) -> Result<PeriodicId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

fn answer(outcome: Outcome) -> Result<taskcore_core::PeriodicTask, ApiError> {
    match outcome {
        Outcome::Periodic(p) => Ok(*p),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// The periodic tasks of the brand, by id; filters `enabled`, `task_type`, `search` (name).
#[utoipa::path(get, path = "/periodic-tasks/", tag = "periodic-tasks",
    params(("X-Brand-ID" = u64, Header), ("enabled" = Option<bool>, Query), ("task_type" = Option<String>, Query),
        ("search" = Option<String>, Query), ("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, body = Page<PeriodicTaskBody>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_periodic(
    State(s): State<AppState>,
    brand: Brand,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<PeriodicTaskBody>>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let enabled = match params.get("enabled") {
        None => None,
        Some(v) => Some(parse_bool(v).ok_or_else(|| {
            ApiError::Validation(FieldErrors::single("enabled", "Must be a valid boolean."))
        })?),
    };
    let task_type = params.get("task_type").map(str::to_owned);
    let search = params.get("search").map(str::to_lowercase);
    let (page, page_size) = pagination(&params)?;
    s.cluster.read_barrier().await?;
    let view = s.cluster.state_machine().read();
    let matches: Vec<&taskcore_core::PeriodicTask> = view
        .periodic()
        .values()
        .filter(|p| p.brand.id == brand.id)
        .filter(|p| enabled.is_none_or(|e| p.spec.enabled == e))
        .filter(|p| task_type.as_ref().is_none_or(|t| &p.spec.task_type == t))
        .filter(|p| {
            search
                .as_ref()
                .is_none_or(|q| p.spec.name.to_lowercase().contains(q))
        })
        .collect();
    let (page, pages) = page_window(page, page_size, matches.len())?;
    Ok(Json(Page {
        count: matches.len() as u64,
        next: (page < pages).then(|| params.link_to_page(page + 1)),
        previous: (page > 1).then(|| params.link_to_page(page - 1)),
        results: matches
            .iter()
            .skip((page - 1) * page_size)
            .take(page_size)
            .map(|p| render::periodic(p))
            .collect(),
    }))
}

/// Create a periodic task.
#[utoipa::path(post, path = "/periodic-tasks/", tag = "periodic-tasks", request_body = PeriodicTaskRequest,
    params(("X-Brand-ID" = u64, Header)),
    responses((status = 201, body = PeriodicTaskBody), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_periodic(
    State(s): State<AppState>,
    brand: Brand,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let spec = spec_of(parse_periodic(&body, &s.config.task_types, Mode::Create)?);
    // The configured limit, checked here (two creates racing may pass it by one); the state
    // machine enforces `MAX_PERIODIC_PER_BRAND` exactly.
    let max = s.config.max_periodic_per_brand;
    s.cluster.read_barrier().await?;
    if s.cluster.state_machine().read().periodic_count(brand.id) >= max {
        return Err(taskcore_core::too_many_periodic(max).into());
    }
    let cmd = Command::CreatePeriodic {
        brand: brand.id,
        brand_name: brand.name,
        created_by: UserRef {
            id: brand.claims.user_id,
            username: brand.claims.username,
        },
        spec,
    };
    let p = answer(s.cluster.propose(cmd).await?)?;
    let location = format!("/periodic-tasks/{}/", p.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(render::periodic(&p)),
    )
        .into_response())
}

/// One periodic task.
#[utoipa::path(get, path = "/periodic-tasks/{id}/", tag = "periodic-tasks",
    params(("id" = u64, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 200, body = PeriodicTaskBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_periodic(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
) -> Result<Json<PeriodicTaskBody>, ApiError> {
    let id = periodic_id(&id)?;
    s.cluster.read_barrier().await?;
    let view = s.cluster.state_machine().read();
    match view.periodic().get(&id) {
        None => Err(ApiError::NotFound),
        Some(p) if p.brand.id != brand.id => Err(taskcore_core::Refusal::WrongBrand.into()),
        Some(p) => Ok(Json(render::periodic(p))),
    }
}

async fn update(
    s: AppState,
    brand: Brand,
    id: String,
    JsonObject(body): JsonObject,
    mode: Mode,
) -> Result<Json<PeriodicTaskBody>, ApiError> {
    let id = periodic_id(&id)?;
    let patch = parse_periodic(&body, &s.config.task_types, mode)?;
    let cmd = Command::UpdatePeriodic {
        id,
        brand: brand.id,
        patch,
    };
    Ok(Json(render::periodic(&answer(
        s.cluster.propose(cmd).await?,
    )?)))
}

/// Replace a periodic task's writable fields (absent ones return to their defaults).
#[utoipa::path(put, path = "/periodic-tasks/{id}/", tag = "periodic-tasks", request_body = PeriodicTaskRequest,
    params(("id" = u64, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 200, body = PeriodicTaskBody), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_periodic(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Json<PeriodicTaskBody>, ApiError> {
    update(s, brand, id, body, Mode::Replace).await
}

/// Change some of a periodic task's fields (`{"enabled": false}` pauses it).
#[utoipa::path(patch, path = "/periodic-tasks/{id}/", tag = "periodic-tasks", request_body = PeriodicTaskRequest,
    params(("id" = u64, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 200, body = PeriodicTaskBody), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch_periodic(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Json<PeriodicTaskBody>, ApiError> {
    update(s, brand, id, body, Mode::Patch).await
}

/// Delete a periodic task; the tasks it created stay.
#[utoipa::path(delete, path = "/periodic-tasks/{id}/", tag = "periodic-tasks",
    params(("id" = u64, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_periodic(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = periodic_id(&id)?;
    let cmd = Command::DeletePeriodic {
        id,
        brand: brand.id,
    };
    match s.cluster.propose(cmd).await? {
        Outcome::PeriodicDeleted => Ok(StatusCode::NO_CONTENT),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// Run a periodic task now: one task, created at once; the schedule is left alone.
#[utoipa::path(post, path = "/periodic-tasks/{id}/run-now/", tag = "periodic-tasks",
    params(("id" = u64, Path), ("X-Brand-ID" = u64, Header)),
    responses((status = 201, body = TaskBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn run_now(
    State(s): State<AppState>,
    brand: Brand,
    Path(id): Path<String>,
    _: OptionalJsonObject,
) -> Result<Response, ApiError> {
    let id = periodic_id(&id)?;
    let cmd = Command::FirePeriodic(FirePeriodic {
        id,
        due: None,
        brand: Some(brand.id),
        task_id: task_id_from(rand::random()),
    });
    match s.cluster.propose(cmd).await? {
        Outcome::PeriodicFired { task, .. } => {
            let location = format!("/tasks/{}/", task.id);
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(render::task(&task, false)),
            )
                .into_response())
        }
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}
