//! The routes of every area, and the helpers they share.

use axum::routing::MethodRouter;
use axum::Router;

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
