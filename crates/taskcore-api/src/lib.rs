//! The HTTP edge of Task Core, on axum: every route of the contract (`CONTRACT.md`), the
//! `Claims` and `Brand` extractors, DRF-style query parsing and pagination, and the one error
//! type mapped to HTTP statuses and bodies in one place ([`ApiError`]).
//!
//! This is the only crate that knows HTTP status codes. Writes go through the cluster's
//! `propose`, reads through its read barrier; it never touches storage directly.

mod auth;
mod body;
mod drain;
mod error;
mod exec_metrics;
pub mod list_query;
mod metrics;
mod openapi;
mod render;
pub mod routes;
mod server;
pub mod tls;
mod verified_tokens;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::Router;
use taskcore_cluster::ClusterHandle;
use taskcore_core::TaskTypes;
use taskcore_scheduler::SchedulerHandle;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

pub use auth::{
    mint_hs256, AuthConfig, AuthConfigError, AuthKeys, Brand, BrandClaim, Claims, RequireAdmin,
    RequireWorker,
};
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use server::{serve, HttpLimits};

/// Largest request body, as the contract sets it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the edge needs to know beyond the cluster and the keys.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The task types a task may have.
    pub task_types: TaskTypes,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// How long a lease lives without a heartbeat.
    pub lease_ttl_ms: u64,
    /// Back-off base before an automatic retry.
    pub retry_base_ms: u64,
    /// Longest back-off before an automatic retry.
    pub retry_cap_ms: u64,
    /// Most periodic tasks one brand may have.
    pub max_periodic_per_brand: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            task_types: TaskTypes::default(),
            max_body_bytes: MAX_BODY_BYTES,
            lease_ttl_ms: 30_000,
            retry_base_ms: 5_000,
            retry_cap_ms: 600_000,
            max_periodic_per_brand: 1_000,
        }
    }
}

/// The edge's own lifecycle: whether it is stopping, and the long polls waiting.
#[derive(Clone, Debug)]
pub struct Edge {
    stopping: Arc<watch::Sender<bool>>,
    long_polls: Arc<AtomicUsize>,
}

impl Default for Edge {
    fn default() -> Self {
        Edge {
            stopping: Arc::new(watch::Sender::new(false)),
            long_polls: Arc::default(),
        }
    }
}

impl Edge {
    /// Tells waiting long polls to answer now: the node is shutting down.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Lease requests waiting for a task right now.
    pub fn long_polls(&self) -> usize {
        self.long_polls.load(Ordering::Relaxed)
    }
}

/// The state every handler shares: cheap handles only.
#[derive(Clone)]
pub struct AppState {
    /// Writes and read barriers.
    pub cluster: ClusterHandle,
    /// The leader's actors (running only while this node leads).
    pub scheduler: SchedulerHandle,
    /// Stopping and long polls.
    pub edge: Edge,
    /// Token verification.
    pub auth: Arc<AuthKeys>,
    /// Edge configuration.
    pub config: Arc<ApiConfig>,
}

/// The span of one request: method, path and request id (at most 64 characters of it).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let id = at_most_chars(id, 64);
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// The first `n` characters of `s` (all of it when shorter), cut at a character's boundary,
/// without copying.
fn at_most_chars(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(end, _)| &s[..end])
}

/// The whole contract as one router, ready to serve or to `oneshot` in tests.
///
/// The edge's own layers wrap the routes once, from outside. Added with `Router::layer` they
/// would wrap every route's endpoint, each in a box of its own around the previous layer's box,
/// and every request would clone that whole nest: 46 boxed services per create, about 8 % of a
/// create's instructions.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(routes::tasks::routes())
        .merge(routes::cluster::routes())
        .merge(routes::workers::routes())
        .merge(routes::periodic::routes())
        .merge(routes::ops::routes())
        .merge(routes::ui::routes())
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route_layer(axum::middleware::from_fn(metrics::record))
        .fallback(routes::ops::not_found)
        .with_state(state);
    let edge = ServiceBuilder::new()
        // Outermost: whatever a handler left of a body is read before the answer leaves.
        .layer(axum::middleware::from_fn(drain::drain_unread))
        // Every answer carries the request's `x-request-id` (the caller's, or a new UUID), and
        // every log line of the request names it.
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Failures are logged once, by `ApiError`, at the level they deserve.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .layer(axum::Extension(metrics::RequestMetrics::default()))
        .layer(axum::middleware::from_fn(
            routes::ops::method_not_allowed_body,
        ))
        .service(routes);
    Router::new().fallback_service(edge)
}

#[cfg(test)]
mod tests {
    use super::at_most_chars;

    #[test]
    fn a_request_id_in_the_span_is_cut_at_a_character_boundary() {
        assert_eq!(at_most_chars("abc", 64), "abc");
        assert_eq!(at_most_chars("abcdef", 3), "abc");
        assert_eq!(at_most_chars("ééééé", 2), "éé");
        assert_eq!(at_most_chars(&"x".repeat(64), 64).len(), 64);
        assert_eq!(at_most_chars(&"x".repeat(65), 64).len(), 64);
    }
}
