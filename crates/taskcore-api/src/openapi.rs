//! The OpenAPI document, generated from the handlers' annotations and the wire types.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{bulk, cluster, complete_many, ops, periodic, tasks, workers};

/// The OpenAPI 3 description of the contract.
#[derive(OpenApi)]
#[openapi(
    info(title = "Task Core", description = "Distributed job scheduler: the task_core HTTP contract."),
    paths(
        tasks::list_tasks, tasks::create_task, bulk::create_tasks, tasks::get_task, tasks::put_task, tasks::patch_task,
        tasks::delete_task, tasks::retry_task, tasks::cancel_task, tasks::queue_stats,
        tasks::type_stats, cluster::status, cluster::backup, cluster::init, cluster::add_learner,
        cluster::change_membership, cluster::remove_node, workers::lease, workers::heartbeat,
        workers::complete, complete_many::complete_many, workers::fail, workers::release, ops::healthz, ops::readyz, ops::status,
        periodic::list_periodic,
        periodic::create_periodic, periodic::get_periodic, periodic::put_periodic,
        periodic::patch_periodic, periodic::delete_periodic, periodic::run_now,
    ),
    components(schemas(taskcore_wire::ErrorBody)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
