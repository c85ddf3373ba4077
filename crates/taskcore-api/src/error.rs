//! The one error type of the edge, and the one place HTTP statuses and error bodies are chosen.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use taskcore_cluster::ClusterError;
use taskcore_core::{FieldErrors, Refusal, Status};
use taskcore_store::StoreError;
use taskcore_wire::ErrorBody;

use crate::render::wire_status;

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// Every way a request can fail, each mapped to one row of the contract's error table.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `VALIDATION_ERROR`.
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    /// 400 `PARSE_ERROR`.
    #[error("parse error: {0}")]
    Parse(String),
    /// 400 `BRAND_REQUIRED`.
    #[error("X-Brand-ID missing or malformed")]
    BrandRequired,
    /// 401 `NOT_AUTHENTICATED`.
    #[error("no credentials")]
    NotAuthenticated,
    /// 401 `TOKEN_INVALID`.
    #[error("invalid token: {0}")]
    TokenInvalid(String),
    /// 403 `PERMISSION_DENIED`.
    #[error("permission denied: {0}")]
    PermissionDenied(&'static str),
    /// 404 `NOT_FOUND`, `Not found.`
    #[error("not found")]
    NotFound,
    /// 404 `NOT_FOUND`, `Invalid page.`
    #[error("invalid page")]
    InvalidPage,
    /// 405 `METHOD_NOT_ALLOWED`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 `INVALID_OPERATION`.
    #[error("invalid operation: {action} in {current:?}")]
    InvalidOperation {
        /// What was attempted.
        action: String,
        /// The task's status.
        current: Status,
        /// The statuses that allow it.
        allowed: Vec<Status>,
    },
    /// 409 `MAX_RETRIES_EXCEEDED`.
    #[error("max retries exceeded")]
    MaxRetriesExceeded {
        /// Retries so far.
        retry_count: u32,
        /// Retries allowed.
        max_retries: u32,
    },
    /// 409 `LEASE_LOST`: the lease is not the task's current one.
    #[error("lease lost")]
    LeaseLost,
    /// 409 `INVALID_OPERATION` outside tasks (a cluster change that cannot be made).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 409 `IDEMPOTENCY_KEY_REUSED`.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 413 `PAYLOAD_TOO_LARGE`: a write too large to replicate, whatever its body's size.
    #[error("write of {bytes} bytes too large (at most {max})")]
    WriteTooLarge {
        /// Its encoded size.
        bytes: usize,
        /// The most allowed.
        max: usize,
    },
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// 503 `UNAVAILABLE`.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500 `INTERNAL`: never expected; logged, never shown.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::Parse(_) | ApiError::BrandRequired => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotAuthenticated | ApiError::TokenInvalid(_) => StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::InvalidPage => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidOperation { .. }
            | ApiError::MaxRetriesExceeded { .. }
            | ApiError::IdempotencyKeyReused
            | ApiError::LeaseLost
            | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge | ApiError::WriteTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The contract's body for this error.
    pub fn body(&self) -> ErrorBody {
        let (detail, code): (String, &str) = match self {
            ApiError::Validation(_) => ("Validation failed".into(), "VALIDATION_ERROR"),
            ApiError::Parse(why) => (format!("JSON parse error - {why}"), "PARSE_ERROR"),
            ApiError::BrandRequired => (
                "X-Brand-ID header is required and must be a positive integer".into(),
                "BRAND_REQUIRED",
            ),
            ApiError::NotAuthenticated => (
                "Authentication credentials were not provided.".into(),
                "NOT_AUTHENTICATED",
            ),
            ApiError::TokenInvalid(why) => {
                (format!("Given token not valid: {why}"), "TOKEN_INVALID")
            }
            ApiError::PermissionDenied(why) => ((*why).into(), "PERMISSION_DENIED"),
            ApiError::NotFound => ("Not found.".into(), "NOT_FOUND"),
            ApiError::InvalidPage => ("Invalid page.".into(), "NOT_FOUND"),
            ApiError::MethodNotAllowed => ("Method not allowed.".into(), "METHOD_NOT_ALLOWED"),
            ApiError::InvalidOperation {
                action, current, ..
            } => (
                format!("Cannot {action} a {} task", current.as_str()),
                "INVALID_OPERATION",
            ),
            ApiError::MaxRetriesExceeded {
                retry_count,
                max_retries,
            } => (
                format!("Maximum retries exceeded ({retry_count}/{max_retries})"),
                "MAX_RETRIES_EXCEEDED",
            ),
            ApiError::Conflict(why) => (why.clone(), "INVALID_OPERATION"),
            ApiError::LeaseLost => (
                "This lease is no longer the task's current one".into(),
                "LEASE_LOST",
            ),
            ApiError::IdempotencyKeyReused => (
                "This Idempotency-Key was already used with a different request body".into(),
                "IDEMPOTENCY_KEY_REUSED",
            ),
            ApiError::PayloadTooLarge => {
                ("Request body exceeds 1 MiB.".into(), "PAYLOAD_TOO_LARGE")
            }
            ApiError::WriteTooLarge { bytes, max } => (
                format!("This write is {bytes} bytes once encoded; at most {max} can be stored."),
                "PAYLOAD_TOO_LARGE",
            ),
            ApiError::UnsupportedMediaType(t) => (
                format!("Unsupported media type \"{t}\" in request."),
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            ApiError::Unavailable(_) => (
                "Service temporarily unavailable, try again later.".into(),
                "UNAVAILABLE",
            ),
            ApiError::Internal(_) => ("Internal server error.".into(), "INTERNAL"),
        };
        let mut body = ErrorBody::new(detail, code);
        match self {
            ApiError::Validation(errors) => body.field_errors = Some(errors.0.clone()),
            ApiError::InvalidOperation {
                current, allowed, ..
            } => {
                body.current_status = Some(wire_status(*current));
                body.allowed_statuses = Some(allowed.iter().map(|s| wire_status(*s)).collect());
            }
            ApiError::MaxRetriesExceeded {
                retry_count,
                max_retries,
            } => {
                body.retry_count = Some(*retry_count);
                body.max_retries = Some(*max_retries);
            }
            _ => {}
        }
        body
    }

    /// An outcome the handler did not ask for: a bug, answered 500 and logged.
    pub fn unexpected(outcome: taskcore_core::Outcome) -> Self {
        ApiError::Internal(format!("unexpected outcome {outcome:?}"))
    }

    /// A single field error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(FieldErrors::single(field, message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self, "request refused: unavailable");
        } else if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        let mut response = (status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotFound => ApiError::NotFound,
            Refusal::WrongBrand => {
                ApiError::PermissionDenied("You do not have permission to access this task")
            }
            Refusal::InvalidStatus {
                action,
                current,
                allowed,
            } => ApiError::InvalidOperation {
                action,
                current,
                allowed,
            },
            Refusal::MaxRetriesExceeded {
                retry_count,
                max_retries,
            } => ApiError::MaxRetriesExceeded {
                retry_count,
                max_retries,
            },
            Refusal::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            Refusal::Validation(e) => ApiError::Validation(e),
            Refusal::LeaseLost => ApiError::LeaseLost,
            // Only the leader's scheduler proposes ends of attempts; no request can get here.
            Refusal::NotDue => {
                ApiError::Internal("an end of attempt was refused as not due".into())
            }
        }
    }
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Unavailable(_) | ClusterError::Storage(_) => {
                ApiError::Unavailable(e.to_string())
            }
            ClusterError::AlreadyInitialized => {
                ApiError::Conflict("The cluster is already initialised.".into())
            }
            ClusterError::Invalid(why) => ApiError::Conflict(why),
            ClusterError::TooLarge { bytes, max } => ApiError::WriteTooLarge { bytes, max },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError::Validation(e)
    }
}
