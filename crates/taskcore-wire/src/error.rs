//! The error body every failure answers with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::TaskStatus;

/// `{"detail", "error_code", …}`; the optional members appear only where the contract puts them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Human-readable message.
    pub detail: String,
    /// Machine-readable code from the contract's table.
    pub error_code: String,
    /// Field name → messages, on `VALIDATION_ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_errors: Option<BTreeMap<String, Vec<String>>>,
    /// The task's status, on `INVALID_OPERATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_status: Option<TaskStatus>,
    /// The statuses that allow the operation, on `INVALID_OPERATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_statuses: Option<Vec<TaskStatus>>,
    /// Retries so far, on `MAX_RETRIES_EXCEEDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
    /// Retries allowed, on `MAX_RETRIES_EXCEEDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

impl ErrorBody {
    /// A body with only `detail` and `error_code`.
    pub fn new(detail: impl Into<String>, error_code: impl Into<String>) -> Self {
        ErrorBody {
            detail: detail.into(),
            error_code: error_code.into(),
            field_errors: None,
            current_status: None,
            allowed_statuses: None,
            retry_count: None,
            max_retries: None,
        }
    }
}
