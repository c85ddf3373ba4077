//! The routes of every area, and the helpers they share.

use axum::routing::MethodRouter;
use axum::Router;
use serde_json::{Map, Value};
use taskcore_core::FieldErrors;

use crate::AppState;

pub mod bulk;
pub mod cluster;
pub mod complete_many;
pub mod ops;
pub mod periodic;
pub mod tasks;
pub mod ui;
pub mod workers;

/// Serves `path` (written with its trailing slash, as the seed does) and the same path without
/// the slash alike.
pub fn route(
    router: Router<AppState>,
    path: &str,
    methods: MethodRouter<AppState>,
) -> Router<AppState> {
    let bare = path.trim_end_matches('/');
    router.route(path, methods.clone()).route(bare, methods)
}

/// The list `name` of a request body: required, holding 1 to `max` items (`what`, for the
/// message).
pub(crate) fn list_of<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    max: usize,
    what: &str,
) -> Result<&'a [Value], FieldErrors> {
    match body.get(name) {
        Some(Value::Array(items)) if (1..=max).contains(&items.len()) => Ok(items),
        Some(Value::Array(_)) => Err(FieldErrors::single(
            name,
            format!("Must hold 1 to {max} {what}."),
        )),
        Some(_) => Err(FieldErrors::single(name, "Must be a list.")),
        None => Err(FieldErrors::single(name, taskcore_core::validate::REQUIRED)),
    }
}

/// Every item of the list `name` parsed by `parse`, or every error of every item, each field
/// named by the item's position (`name[i].field`, `name[i]` for an item that is not an object).
pub(crate) fn each_item<T>(
    items: &[Value],
    name: &str,
    mut parse: impl FnMut(&Map<String, Value>) -> Result<T, FieldErrors>,
) -> Result<Vec<T>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            errors.add(&format!("{name}[{i}]"), "Must be an object.");
            continue;
        };
        match parse(item) {
            Ok(t) => parsed.push(t),
            Err(e) => {
                for (field, messages) in e.0 {
                    for message in messages {
                        errors.add(&format!("{name}[{i}].{field}"), message);
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}
