//! Health, readiness, the OpenAPI document, and the answers for unknown paths and methods.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use utoipa::OpenApi;

use crate::{ApiDoc, ApiError, AppState};

/// The routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/openapi.json", get(openapi))
}

/// 200 while the process serves.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the node knows a leader and has applied what it committed, else 503.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
pub async fn readyz(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    if s.cluster.is_ready() {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(ApiError::Unavailable("not ready".into()))
    }
}

/// How this node is doing: readiness, Raft position, queues, leases, long polls and attempt
/// counts, as JSON (what `taskctl node status` reads). No token, like `/metrics`.
#[utoipa::path(get, path = "/status", tag = "operations",
    responses((status = 200, body = taskcore_wire::NodeStatusBody)))]
pub async fn status(State(s): State<AppState>) -> Json<taskcore_wire::NodeStatusBody> {
    Json(crate::exec_metrics::status(&s))
}

/// The OpenAPI 3 description of the contract, generated from the code.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Any path no route serves.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Gives axum's bodiless 405 (which keeps its `Allow` header) the contract's body.
pub async fn method_not_allowed_body(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let mut rewritten = ApiError::MethodNotAllowed.into_response();
    if let Some(allow) = allow {
        rewritten
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow);
    }
    rewritten
}
