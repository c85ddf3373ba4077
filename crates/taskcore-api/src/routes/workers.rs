//! `/workers/…`: the worker protocol — lease (with long polling), heartbeat, complete, fail,
//! and release (give a task back unfinished, an addition to the contract).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Map, Value};
use taskcore_core::validate::check_object_size;
use taskcore_core::{
    Backoff, Command, CompleteAttempt, FailAttempt, FieldErrors, Heartbeat, LeaseTasks,
    MetricsReport, Outcome, ReleaseAttempt, TaskId, MAX_LEASE_TASKS,
};
use taskcore_wire::{
    ErrorBody, FailResponse, HeartbeatResponse, LeaseResponse, LeasedTaskBody, TaskBody,
};
use tokio::time::Instant;

use crate::auth::RequireWorker;
use crate::body::JsonObject;
use crate::render;
use crate::routes::route;
use crate::{ApiError, AppState};

/// Longest long poll.
const MAX_WAIT_SECONDS: u64 = 30;
/// Largest checkpoint.
const MAX_CHECKPOINT_BYTES: usize = 256 * 1024;
/// Most task types one lease request may name.
const MAX_LEASE_TASK_TYPES: usize = 64;
/// How often a waiting long poll looks again without a change, at most (it also wakes when
/// the next task scheduled for later becomes due).
const RECHECK: Duration = Duration::from_secs(1);
/// The first wait after a lease that came back empty although this node saw a task due (its
/// clock runs ahead of the leader's, or another worker was faster); it doubles up to
/// [`RECHECK`], so a skewed clock costs a few empty writes a second, not a loop of them.
const EMPTY_LEASE_BACKOFF: Duration = Duration::from_millis(50);

/// The routes of this area.
pub fn routes() -> Router<AppState> {
    let r = Router::new();
    let r = route(r, "/workers/lease/", post(lease));
    let r = route(
        r,
        "/workers/complete/",
        post(super::complete_many::complete_many),
    );
    let r = route(r, "/workers/tasks/{id}/heartbeat/", post(heartbeat));
    let r = route(r, "/workers/tasks/{id}/complete/", post(complete));
    let r = route(r, "/workers/tasks/{id}/fail/", post(fail));
    route(r, "/workers/tasks/{id}/release/", post(release))
}

pub(super) fn string(
    body: &Map<String, Value>,
    name: &str,
    required: bool,
    e: &mut FieldErrors,
) -> Option<String> {
    match body.get(name) {
        None | Some(Value::Null) if required => {
            e.add(name, taskcore_core::validate::REQUIRED);
            None
        }
        None | Some(Value::Null) => None,
        // A failure is never refused for its message: a long one is cut and marked.
        Some(Value::String(s)) if name == "error_message" => {
            Some(taskcore_core::truncate_error_message(s))
        }
        Some(Value::String(s)) if s.chars().count() <= 2000 => Some(s.clone()),
        Some(Value::String(_)) => {
            e.add(name, "Ensure this field has no more than 2000 characters.");
            None
        }
        Some(_) => {
            e.add(name, "Not a valid string.");
            None
        }
    }
}

fn integer(
    body: &Map<String, Value>,
    name: &str,
    (min, max): (u64, u64),
    e: &mut FieldErrors,
) -> Option<u64> {
    let v = body.get(name).filter(|v| !v.is_null())?;
    match v.as_u64() {
        Some(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            e.add(name, format!("Enter an integer from {min} to {max}."));
            None
        }
    }
}

pub(super) fn object(
    body: &Map<String, Value>,
    name: &str,
    max: usize,
    e: &mut FieldErrors,
) -> Option<taskcore_core::Json> {
    let v = body.get(name).filter(|v| !v.is_null())?;
    if !v.is_object() {
        e.add(name, "Must be a JSON object.");
        return None;
    }
    check_object_size(name, v, max, e)
}

pub(super) fn metrics(body: &Map<String, Value>, e: &mut FieldErrors) -> Option<MetricsReport> {
    let m = body.get("metrics").filter(|v| !v.is_null())?;
    let Some(m) = m.as_object() else {
        e.add("metrics", "Must be a JSON object.");
        return None;
    };
    let mut report = MetricsReport {
        execution_time_ms: integer(m, "execution_time_ms", (0, u64::MAX), e),
        cpu_time_ms: integer(m, "cpu_time_ms", (0, u64::MAX), e),
        custom: object(m, "custom", 64 * 1024, e),
        ..MetricsReport::default()
    };
    if let Some(v) = m.get("memory_usage_mb").filter(|v| !v.is_null()) {
        match v.as_f64().filter(|f| f.is_finite() && *f >= 0.0) {
            Some(f) => report.memory_usage_mb = Some(f),
            None => e.add("metrics", "memory_usage_mb must be a number ≥ 0."),
        }
    }
    Some(report)
}

/// The task of `/workers/tasks/{id}/…`: a numeric id or a `task_id`.
async fn task_id(s: &AppState, raw: &str) -> Result<TaskId, ApiError> {
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().map_err(|_| ApiError::NotFound);
    }
    s.cluster.read_barrier().await?;
    s.cluster
        .state_machine()
        .read()
        .index()
        .by_task_id(raw)
        .ok_or(ApiError::NotFound)
}

fn backoff(s: &AppState) -> Backoff {
    Backoff {
        base_ms: s.config.retry_base_ms,
        cap_ms: s.config.retry_cap_ms,
        jitter: rand::random::<f64>(),
    }
}

/// Counts a waiting long poll for `/metrics` while it lives.
struct PollGuard(Arc<AtomicUsize>);

impl PollGuard {
    fn new(edge: &crate::Edge) -> Self {
        edge.long_polls.fetch_add(1, Ordering::Relaxed);
        PollGuard(edge.long_polls.clone())
    }
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Lease tasks: by priority, brands taking turns; waits up to `wait_seconds` for one.
#[utoipa::path(post, path = "/workers/lease/", tag = "workers",
    request_body = taskcore_wire::LeaseRequest,
    responses((status = 200, body = LeaseResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn lease(
    State(s): State<AppState>,
    _: RequireWorker,
    JsonObject(body): JsonObject,
) -> Result<Json<LeaseResponse>, ApiError> {
    let mut e = FieldErrors::default();
    let worker_id = string(&body, "worker_id", true, &mut e);
    let task_types: Vec<String> = match body.get("task_types") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.len() > MAX_LEASE_TASK_TYPES => {
            e.add(
                "task_types",
                format!("List at most {MAX_LEASE_TASK_TYPES} task types."),
            );
            Vec::new()
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(_) => {
            e.add("task_types", "Must be a list of task types.");
            Vec::new()
        }
    };
    let max_tasks =
        integer(&body, "max_tasks", (1, u64::from(MAX_LEASE_TASKS)), &mut e).unwrap_or(1);
    let wait = integer(&body, "wait_seconds", (0, MAX_WAIT_SECONDS), &mut e).unwrap_or(0);
    e.clone().into_result(())?;
    let worker_id = worker_id.unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(wait);
    let mut changes = s.cluster.state_machine().subscribe();
    let mut stopping = s.edge.stopping.subscribe();
    let _waiting = PollGuard::new(&s.edge);
    // After a lease that came back empty although this node saw a task due: that task, when
    // to try it again, and the back-off. A node whose clock runs ahead of the leader's sees
    // tasks due that the leader does not lease yet; it must not loop empty writes through Raft.
    let mut empty: Option<(TaskId, Instant, Duration)> = None;
    loop {
        s.cluster.read_barrier().await?;
        // Propose only when this node sees something to lease: an idle poll writes nothing.
        let now = s.cluster.now();
        let (first, next_due) = {
            let view = s.cluster.state_machine().read();
            let mut turns = view.turns();
            let index = view.index();
            let first = index
                .pick_leasable(now, &task_types, 1, &mut turns)
                .first()
                .copied();
            (first, index.next_due_after(now))
        };
        let held = matches!((first, &empty), (Some(id), Some((tried, at, _)))
            if id == *tried && Instant::now() < *at);
        if let Some(id) = first.filter(|_| !held) {
            let cmd = Command::Lease(LeaseTasks {
                worker_id: worker_id.clone(),
                task_types: task_types.clone(),
                max_tasks: u32::try_from(max_tasks).unwrap_or(1),
                lease_ttl_ms: s.config.lease_ttl_ms,
                seed: rand::random(),
            });
            match s.cluster.propose(cmd).await? {
                Outcome::Leased(leased) if !leased.is_empty() => {
                    let tasks = leased
                        .iter()
                        .map(|l| LeasedTaskBody {
                            task: render::task(&l.task, false),
                            lease_id: l.lease.id.clone(),
                            lease_expires_at: l.lease.expires_at.to_rfc3339(),
                            attempt: l.lease.attempt,
                        })
                        .collect();
                    return Ok(Json(LeaseResponse { tasks }));
                }
                Outcome::Leased(_) => {
                    let b = empty.map_or(EMPTY_LEASE_BACKOFF, |(_, _, b)| (b * 2).min(RECHECK));
                    empty = Some((id, Instant::now() + b, b));
                }
                other => return Err(ApiError::unexpected(other)),
            }
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || *stopping.borrow_and_update() {
            return Ok(Json(LeaseResponse { tasks: Vec::new() }));
        }
        // A task scheduled for later (a retry's back-off) becomes due with time alone; a task
        // the leader would not lease yet is tried again after its back-off.
        let wait = match &empty {
            Some((_, at, _)) if first.is_some() => at.saturating_duration_since(Instant::now()),
            _ => next_due
                .map(|t| Duration::from_micros(u64::try_from(t.0 - now.0).unwrap_or(0)))
                .unwrap_or(RECHECK),
        };
        tokio::select! {
            _ = tokio::time::timeout(left.min(RECHECK).min(wait), changes.changed()) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// Renew a lease; report progress, a checkpoint and figures; hear of a cancel.
#[utoipa::path(post, path = "/workers/tasks/{id}/heartbeat/", tag = "workers", params(("id" = String, Path)),
    request_body = taskcore_wire::HeartbeatRequest,
    responses((status = 200, body = HeartbeatResponse), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn heartbeat(
    State(s): State<AppState>,
    _: RequireWorker,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let id = task_id(&s, &id).await?;
    let mut e = FieldErrors::default();
    let lease_id = string(&body, "lease_id", true, &mut e).unwrap_or_default();
    let progress = integer(&body, "progress_percentage", (0, 100), &mut e).map(|p| p as u8);
    let checkpoint = object(&body, "checkpoint", MAX_CHECKPOINT_BYTES, &mut e);
    let metrics = metrics(&body, &mut e);
    e.into_result(())?;
    let cmd = Command::Heartbeat(Heartbeat {
        id,
        lease_id,
        progress,
        checkpoint,
        metrics,
        lease_ttl_ms: s.config.lease_ttl_ms,
    });
    match s.cluster.propose(cmd).await? {
        Outcome::HeartbeatAccepted {
            lease_expires_at,
            cancel_requested,
        } => Ok(Json(HeartbeatResponse {
            lease_expires_at: lease_expires_at.to_rfc3339(),
            cancel_requested,
        })),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// Report success.
#[utoipa::path(post, path = "/workers/tasks/{id}/complete/", tag = "workers", params(("id" = String, Path)),
    request_body = taskcore_wire::CompleteRequest,
    responses((status = 200, body = TaskBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn complete(
    State(s): State<AppState>,
    _: RequireWorker,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<TaskBody>, ApiError> {
    let id = task_id(&s, &id).await?;
    let mut e = FieldErrors::default();
    let lease_id = string(&body, "lease_id", true, &mut e).unwrap_or_default();
    let result_data = object(&body, "result_data", s.config.max_body_bytes, &mut e);
    let metrics = metrics(&body, &mut e);
    e.into_result(())?;
    let result_data = result_data.unwrap_or_else(taskcore_core::Json::empty_object);
    match s
        .cluster
        .propose(Command::Complete(CompleteAttempt {
            id,
            lease_id,
            result_data,
            metrics,
        }))
        .await?
    {
        Outcome::AttemptCompleted(t) => Ok(Json(render::task(&t, false))),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// Report a failure; retried automatically with back-off while retries remain.
#[utoipa::path(post, path = "/workers/tasks/{id}/fail/", tag = "workers", params(("id" = String, Path)),
    request_body = taskcore_wire::FailRequest,
    responses((status = 200, body = FailResponse), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn fail(
    State(s): State<AppState>,
    _: RequireWorker,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<FailResponse>, ApiError> {
    let id = task_id(&s, &id).await?;
    let mut e = FieldErrors::default();
    let lease_id = string(&body, "lease_id", true, &mut e).unwrap_or_default();
    let error_message = string(&body, "error_message", false, &mut e).unwrap_or_default();
    let retryable = match body.get("retryable") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            e.add("retryable", "Must be a valid boolean.");
            true
        }
    };
    let metrics = metrics(&body, &mut e);
    e.into_result(())?;
    let cmd = Command::Fail(FailAttempt {
        id,
        lease_id,
        error_message,
        retryable,
        metrics,
        backoff: backoff(&s),
    });
    match s.cluster.propose(cmd).await? {
        Outcome::AttemptEnded {
            will_retry,
            next_attempt_at,
            ..
        } => Ok(Json(FailResponse {
            will_retry,
            next_attempt_at: next_attempt_at.map(|t| t.to_rfc3339()),
        })),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}

/// Give a task back unfinished (a worker shutting down): it is pending again at once, keeps its
/// place in its queue, and no retry is spent. An addition to the Django contract.
#[utoipa::path(post, path = "/workers/tasks/{id}/release/", tag = "workers", params(("id" = String, Path)),
    request_body = taskcore_wire::ReleaseRequest,
    responses((status = 200, body = TaskBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn release(
    State(s): State<AppState>,
    _: RequireWorker,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<TaskBody>, ApiError> {
    let id = task_id(&s, &id).await?;
    let mut e = FieldErrors::default();
    let lease_id = string(&body, "lease_id", true, &mut e).unwrap_or_default();
    let reason = string(&body, "reason", false, &mut e)
        .unwrap_or_else(|| "given back by the worker".to_owned());
    let checkpoint = object(&body, "checkpoint", MAX_CHECKPOINT_BYTES, &mut e);
    e.into_result(())?;
    let cmd = Command::Release(ReleaseAttempt {
        id,
        lease_id,
        reason,
        checkpoint,
    });
    match s.cluster.propose(cmd).await? {
        Outcome::AttemptReleased(t) => Ok(Json(render::task(&t, false))),
        Outcome::Refused(r) => Err(r.into()),
        other => Err(ApiError::unexpected(other)),
    }
}
