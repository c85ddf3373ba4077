//! JSON body extractors that answer with the contract's errors, never axum's text.

use axum::body::Body;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use crate::{ApiError, AppState};

/// A write's body: a JSON object, sent as `application/json`, at most the configured size.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonObject(pub Map<String, Value>);

/// The body of an action whose body is optional (cancel, retry): absent, or a JSON object.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionalJsonObject(pub Map<String, Value>);

impl<S> FromRequest<S> for JsonObject
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).config.max_body_bytes;
        read_object(req, limit, false)
            .await
            .map(|m| JsonObject(m.unwrap_or_default()))
    }
}

impl<S> FromRequest<S> for OptionalJsonObject
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).config.max_body_bytes;
        read_object(req, limit, true)
            .await
            .map(|m| OptionalJsonObject(m.unwrap_or_default()))
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_object(
    req: Request,
    limit: usize,
    optional: bool,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let headers = req.headers();
    let content_type = match headers.get(header::CONTENT_TYPE) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::UnsupportedMediaType("?".into()))?
                .to_owned(),
        ),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let bytes = read_limited(req.into_body(), limit).await?;
    match content_type {
        None if optional && bytes.iter().all(u8::is_ascii_whitespace) => return Ok(None),
        None => return Err(ApiError::UnsupportedMediaType(String::new())),
        Some(t) if !is_json(&t) => return Err(ApiError::UnsupportedMediaType(t)),
        Some(_) if optional && bytes.iter().all(u8::is_ascii_whitespace) => return Ok(None),
        Some(_) => {}
    }
    // serde_json refuses invalid UTF-8 and nesting deeper than 128 levels with an error.
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Parse(e.to_string()))?;
    match value {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(ApiError::Parse("expected a JSON object".into())),
    }
}

async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large =
            std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge
        } else {
            ApiError::Parse(format!("could not read the body: {e}"))
        }
    })
}
