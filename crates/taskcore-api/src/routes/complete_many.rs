//! `POST /workers/complete/`: a worker reports up to 100 successes in one request. Each report is
//! checked and applied as `POST /workers/tasks/{id}/complete/` would be (fenced by its lease),
//! and the reports are proposed together, so that the leader's group commit writes them in one
//! log entry. One report refused (a lost lease) refuses no other.

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use taskcore_core::{Command, CompleteAttempt, FieldErrors, Json as Object, Outcome};
use taskcore_wire::{CompleteManyRequest, CompleteManyResponse, CompletionResult, ErrorBody};

use super::workers::{metrics, object, string};
use crate::auth::RequireWorker;
use crate::body::JsonObject;
use crate::{ApiError, AppState};

/// The most reports one request may carry.
pub const MAX_COMPLETIONS: usize = 100;

/// Report several successes at once: one result per report, in order.
#[utoipa::path(post, path = "/workers/complete/", tag = "workers",
    request_body = CompleteManyRequest,
    responses((status = 200, description = "Each report's own status and error, in order", body = CompleteManyResponse),
        (status = 400, description = "`field_errors` names each report's field as `completions[i].field`", body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn complete_many(
    State(s): State<AppState>,
    _: RequireWorker,
    JsonObject(body): JsonObject,
) -> Result<Json<CompleteManyResponse>, ApiError> {
    let reports = parse(&body, s.config.max_body_bytes)?;
    // Proposed at once, so that they reach the leader's batcher together.
    let proposals: Vec<_> = reports
        .into_iter()
        .map(|c| {
            let cluster = s.cluster.clone();
            let id = c.id;
            (
                id,
                tokio::spawn(async move { cluster.propose(Command::Complete(c)).await }),
            )
        })
        .collect();
    let mut results = Vec::with_capacity(proposals.len());
    for (id, proposal) in proposals {
        let outcome = proposal
            .await
            .map_err(|e| ApiError::Internal(format!("a completion's task failed: {e}")))?;
        let refused = match outcome {
            Ok(Outcome::AttemptCompleted(_)) => None,
            Ok(Outcome::Refused(r)) => Some(ApiError::from(r)),
            Ok(other) => Some(ApiError::unexpected(other)),
            // No answer from the cluster for this one: the worker resends it, as it would a
            // single report (a completion already applied is then refused as a lost lease).
            Err(e) => return Err(e.into()),
        };
        results.push(CompletionResult {
            id,
            status: refused.as_ref().map_or(200, |e| e.status().as_u16()),
            error: refused.map(|e| e.body()),
        });
    }
    Ok(Json(CompleteManyResponse { results }))
}

/// Every report of the body, or every error of every report (`completions[i].field`).
fn parse(
    body: &serde_json::Map<String, Value>,
    max_bytes: usize,
) -> Result<Vec<CompleteAttempt>, FieldErrors> {
    let items = super::list_of(body, "completions", MAX_COMPLETIONS, "reports")?;
    super::each_item(items, "completions", |item| {
        let mut e = FieldErrors::default();
        let id = item.get("id").and_then(Value::as_u64);
        if id.is_none() {
            e.add("id", "Enter the task's numeric id.");
        }
        let lease_id = string(item, "lease_id", true, &mut e).unwrap_or_default();
        let result_data = object(item, "result_data", max_bytes, &mut e);
        let metrics = metrics(item, &mut e);
        match id {
            Some(id) if e.is_empty() => Ok(CompleteAttempt {
                id,
                lease_id,
                result_data: result_data.unwrap_or_else(Object::empty_object),
                metrics,
            }),
            _ => Err(e),
        }
    })
}
