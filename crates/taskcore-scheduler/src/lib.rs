//! The leader's actors, with ractor: a [`Dispatcher`] that hears every lease change the state
//! machine applies, one [`QueueSupervisor`] per priority queue, and a [`TaskActor`] per running
//! attempt, which owns that attempt's lease deadline and timeout and proposes its end when one
//! passes; a [`PeriodicActor`] that fires periodic tasks at their due times; and, when a
//! retention age is set, a [`RetentionActor`] that purges old finished tasks. Actors never
//! change replicated state: they propose commands, and `apply` decides.
//!
//! [`SchedulerHandle::start`] runs them on whichever node leads: the actors start when the node
//! becomes leader (rebuilt from the state machine) and stop when it stops being one. This crate
//! knows the cluster and the store's events; it knows nothing of HTTP.

mod config;
mod dispatcher;
mod periodic_actor;
mod queue_supervisor;
mod retention_actor;
mod scheduler;
mod task_actor;
mod timer;

pub use config::SchedulerConfig;
pub use dispatcher::{Dispatcher, DispatcherMsg};
pub use periodic_actor::{PeriodicActor, PeriodicMsg};
pub use queue_supervisor::{QueueMsg, QueueSupervisor};
pub use retention_actor::{RetentionActor, Sweep};
pub use scheduler::SchedulerHandle;
pub use task_actor::{TaskActor, TaskMsg};
