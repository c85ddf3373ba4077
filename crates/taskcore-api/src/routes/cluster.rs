//! `/cluster/…`: status, initialisation and membership, for admins.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::Value;
use taskcore_cluster::wire::AdminRequest;
use taskcore_cluster::{ClusterStatus, NodeAddr, NodeId};
use taskcore_core::FieldErrors;
use taskcore_wire::{
    ClusterStatusBody, ErrorBody, InitRequest, LearnerRequest, MembershipBody, MembershipRequest,
    NodeAddrBody, ReplicationBody,
};

use crate::auth::RequireAdmin;
use crate::body::{JsonObject, OptionalJsonObject};
use crate::routes::route;
use crate::{ApiError, AppState};

/// The routes of this area.
pub fn routes() -> Router<AppState> {
    let r = Router::new();
    let r = route(r, "/cluster/status/", get(status));
    let r = route(r, "/cluster/backup/", get(backup));
    let r = route(r, "/cluster/init/", post(init));
    let r = route(r, "/cluster/learners/", post(add_learner));
    let r = route(r, "/cluster/membership/", post(change_membership));
    route(r, "/cluster/nodes/{id}/", delete(remove_node))
}

fn parse<T: DeserializeOwned>(body: serde_json::Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(body)).map_err(|e| ApiError::field("body", e.to_string()))
}

/// A `host:port` address.
fn check_addr(field: &str, addr: &str, errors: &mut FieldErrors) {
    let ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !ok {
        errors.add(field, "Enter an address as host:port.");
    }
}

fn node_addr(prefix: &str, http_addr: &str, raft_addr: &str, errors: &mut FieldErrors) -> NodeAddr {
    check_addr(&format!("{prefix}http_addr"), http_addr, errors);
    check_addr(&format!("{prefix}raft_addr"), raft_addr, errors);
    NodeAddr {
        http_addr: http_addr.to_owned(),
        raft_addr: raft_addr.to_owned(),
    }
}

fn members(nodes: &BTreeMap<NodeId, NodeAddr>) -> BTreeMap<String, NodeAddrBody> {
    nodes
        .iter()
        .map(|(id, n)| {
            let body = NodeAddrBody {
                http_addr: n.http_addr.clone(),
                raft_addr: n.raft_addr.clone(),
            };
            (id.to_string(), body)
        })
        .collect()
}

fn render(s: ClusterStatus) -> ClusterStatusBody {
    ClusterStatusBody {
        node_id: s.node_id,
        state: s.state,
        leader_id: s.leader_id,
        term: s.term,
        last_log_index: s.last_log_index,
        last_applied: s.last_applied,
        membership: MembershipBody {
            voters: s.voters,
            learners: s.learners,
            nodes: members(&s.nodes),
        },
        snapshot: s.snapshot,
        replication: s.replication.map(|r| {
            r.into_iter()
                .map(|(id, m)| {
                    (
                        id.to_string(),
                        ReplicationBody {
                            matched: m.matched,
                            lag: m.lag,
                        },
                    )
                })
                .collect()
        }),
    }
}

/// The answering node's status once it has applied the change just made (through the leader).
async fn changed_status(s: &AppState) -> Result<Json<ClusterStatusBody>, ApiError> {
    s.cluster.read_barrier().await?;
    Ok(Json(render(s.cluster.status())))
}

/// A backup of every task, periodic task and idempotency key, consistent with every write
/// acknowledged before the request (`taskctl backup FILE`; `taskcore restore` seeds a new
/// cluster from it).
#[utoipa::path(get, path = "/cluster/backup/", tag = "cluster",
    responses((status = 200, description = "The backup file", content_type = "application/octet-stream"),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn backup(
    State(s): State<AppState>,
    _: RequireAdmin,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    s.cluster.read_barrier().await?;
    let sm = s.cluster.state_machine().clone();
    let bytes = tokio::task::spawn_blocking(move || sm.backup())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(format!("backup: {e}")))?;
    let headers = [
        (axum::http::header::CONTENT_TYPE, "application/octet-stream"),
        (
            axum::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"taskcore.backup\"",
        ),
    ];
    Ok((headers, bytes).into_response())
}

/// This node's view of the cluster.
#[utoipa::path(get, path = "/cluster/status/", tag = "cluster",
    responses((status = 200, body = ClusterStatusBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn status(State(s): State<AppState>, _: RequireAdmin) -> Json<ClusterStatusBody> {
    Json(render(s.cluster.status()))
}

/// Initialise a new cluster with these voters (none: the answering node alone).
#[utoipa::path(post, path = "/cluster/init/", tag = "cluster", request_body = InitRequest,
    responses((status = 200, body = ClusterStatusBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn init(
    State(s): State<AppState>,
    _: RequireAdmin,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<Json<ClusterStatusBody>, ApiError> {
    let req: InitRequest = parse(body)?;
    let mut errors = FieldErrors::default();
    let mut voters = BTreeMap::new();
    for (id, n) in &req.nodes {
        match id.parse::<NodeId>() {
            Ok(node_id) => {
                voters.insert(
                    node_id,
                    node_addr(
                        &format!("nodes.{id}."),
                        &n.http_addr,
                        &n.raft_addr,
                        &mut errors,
                    ),
                );
            }
            Err(_) => errors.add(
                "nodes",
                format!("{id} is not a node id (a positive integer)."),
            ),
        }
    }
    errors.into_result(())?;
    s.cluster.init(voters).await?;
    Ok(Json(render(s.cluster.status())))
}

/// Add a learner; answers when it caught up.
#[utoipa::path(post, path = "/cluster/learners/", tag = "cluster", request_body = LearnerRequest,
    responses((status = 200, body = MembershipBody), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_learner(
    State(s): State<AppState>,
    _: RequireAdmin,
    JsonObject(body): JsonObject,
) -> Result<Json<ClusterStatusBody>, ApiError> {
    let req: LearnerRequest = parse(body)?;
    let mut errors = FieldErrors::default();
    let addr = node_addr("", &req.http_addr, &req.raft_addr, &mut errors);
    errors.into_result(())?;
    s.cluster
        .admin(AdminRequest::AddLearner {
            id: req.node_id,
            addr,
        })
        .await?;
    changed_status(&s).await
}

/// Change the voter set.
#[utoipa::path(post, path = "/cluster/membership/", tag = "cluster", request_body = MembershipRequest,
    responses((status = 200, body = ClusterStatusBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_membership(
    State(s): State<AppState>,
    _: RequireAdmin,
    JsonObject(body): JsonObject,
) -> Result<Json<ClusterStatusBody>, ApiError> {
    let req: MembershipRequest = parse(body)?;
    if req.voters.is_empty() {
        return Err(ApiError::field(
            "voters",
            "A cluster needs at least one voter.",
        ));
    }
    s.cluster
        .admin(AdminRequest::ChangeVoters { voters: req.voters })
        .await?;
    changed_status(&s).await
}

/// Remove a node from the membership.
#[utoipa::path(delete, path = "/cluster/nodes/{id}/", tag = "cluster",
    params(("id" = u64, Path)),
    responses((status = 200, body = ClusterStatusBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_node(
    State(s): State<AppState>,
    _: RequireAdmin,
    Path(id): Path<String>,
) -> Result<Json<ClusterStatusBody>, ApiError> {
    let id: NodeId = id.parse().map_err(|_| ApiError::NotFound)?;
    if !s.cluster.status().nodes.contains_key(&id) {
        return Err(ApiError::NotFound);
    }
    s.cluster.admin(AdminRequest::RemoveNode { id }).await?;
    changed_status(&s).await
}
