//! Runs the actors on the leader only: started when this node becomes leader, rebuilt from the
//! state machine, stopped when it stops leading or shuts down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorRef};
use taskcore_cluster::ClusterHandle;
use taskcore_core::{TaskId, Timestamp};
use tokio::sync::watch;

use crate::dispatcher::{Dispatcher, DispatcherArgs, DispatcherMsg};
use crate::SchedulerConfig;

/// What every actor of one term of leadership shares.
pub(crate) struct Context {
    pub(crate) cluster: ClusterHandle,
    pub(crate) config: SchedulerConfig,
    /// No attempt ends before this time (the grace of a new leader).
    pub(crate) not_before: Timestamp,
}

/// A cheap handle on the scheduler of a node.
#[derive(Clone)]
pub struct SchedulerHandle {
    inner: Arc<Inner>,
}

struct Inner {
    dispatcher: Mutex<Option<ActorRef<DispatcherMsg>>>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl SchedulerHandle {
    /// Starts following the node's leadership: the actors run while it leads.
    pub fn start(cluster: ClusterHandle, config: SchedulerConfig) -> SchedulerHandle {
        let inner = Arc::new(Inner {
            dispatcher: Mutex::new(None),
            stop: watch::Sender::new(false),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(follow_leadership(cluster, config, inner.clone()));
        *lock(&inner.task) = Some(task);
        SchedulerHandle { inner }
    }

    /// Whether the actors run here (this node leads).
    pub fn is_running(&self) -> bool {
        lock(&self.inner.dispatcher).is_some()
    }

    /// The tasks whose attempts the actors supervise, per priority from low to critical;
    /// `None` when they do not run here.
    pub async fn tracked(&self) -> Option<[Vec<TaskId>; 4]> {
        let dispatcher = lock(&self.inner.dispatcher).clone()?;
        match dispatcher
            .call(DispatcherMsg::Tracked, Some(Duration::from_secs(10)))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(t)) => Some(t),
            _ => None,
        }
    }

    /// Stops the actors and stops following leadership; waits until they are gone.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let task = lock(&self.inner.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The actors of one term of leadership.
type Running = (ActorRef<DispatcherMsg>, JoinHandle<()>);

async fn follow_leadership(cluster: ClusterHandle, config: SchedulerConfig, inner: Arc<Inner>) {
    // Server metrics: they change with the node's state and leader, not with every write.
    let mut metrics = cluster.raft().server_metrics();
    let mut stop = inner.stop.subscribe();
    let mut running: Option<Running> = None;
    loop {
        let leading = {
            let m = metrics.borrow_and_update();
            m.state.is_leader() && m.current_leader == Some(m.id)
        };
        let mut retry = false;
        match (leading, running.is_some()) {
            (true, false) => {
                running = take_over(&cluster, &config).await;
                retry = running.is_none();
                *lock(&inner.dispatcher) = running.as_ref().map(|(d, _)| d.clone());
            }
            (false, true) => {
                *lock(&inner.dispatcher) = None;
                stand_down(running.take()).await;
            }
            _ => {}
        }
        let exited = async {
            match running.as_mut() {
                Some((_, handle)) => {
                    let _ = handle.await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => break,
            changed = metrics.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            () = exited => {
                tracing::error!("the scheduler's dispatcher stopped; starting it again");
                *lock(&inner.dispatcher) = None;
                running = None;
            }
            () = tokio::time::sleep(Duration::from_millis(200)), if retry => {}
        }
    }
    *lock(&inner.dispatcher) = None;
    stand_down(running.take()).await;
}

/// Starts the actors once this leader has applied everything committed before its term.
async fn take_over(cluster: &ClusterHandle, config: &SchedulerConfig) -> Option<Running> {
    if let Err(e) = cluster.read_barrier().await {
        tracing::debug!(error = %e, "leader not ready to schedule yet");
        return None;
    }
    let grace = i64::try_from(config.takeover_grace.as_micros()).unwrap_or(i64::MAX / 2);
    let ctx = Arc::new(Context {
        cluster: cluster.clone(),
        config: config.clone(),
        not_before: cluster.now().plus_micros(grace),
    });
    let name = format!("{}-dispatcher", config.name);
    match Actor::spawn(Some(name), Dispatcher, DispatcherArgs { ctx }).await {
        Ok(running) => {
            tracing::info!("leading: the scheduler's actors run here");
            Some(running)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start the scheduler's actors");
            None
        }
    }
}

async fn stand_down(running: Option<Running>) {
    if let Some((dispatcher, handle)) = running {
        dispatcher.stop(None);
        let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        tracing::info!("not leading: the scheduler's actors stopped");
    }
}
