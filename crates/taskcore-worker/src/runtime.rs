//! The worker runtime: lease as many tasks as there are free slots, run each with its
//! handler, renew its lease with heartbeats that carry progress and checkpoints, report the
//! result, and on shutdown stop leasing and finish — or give back — what it holds.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use taskcore_client::ClientError;
use taskcore_wire::{
    Completion, FailRequest, HeartbeatRequest, LeaseRequest, LeasedTaskBody, MetricsReportBody,
    ReleaseRequest,
};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::{AttemptHandle, Handler, HandlerError, Job, Servers};

/// Progress and checkpoints reach the server at most this often (and with every renewal).
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Base URLs of the nodes it may talk to; it fails over between them.
    pub servers: Vec<String>,
    /// A token with the `worker` role.
    pub token: String,
    /// Shown in the attempts history.
    pub worker_id: String,
    /// Handlers running at once (a finished attempt's report may still be on its way).
    pub concurrency: usize,
    /// How long one lease request waits for a task (0–30 s).
    pub wait_seconds: u32,
    /// On shutdown, how long running attempts may take to finish before they are given back.
    pub shutdown_grace: Duration,
    /// Certificate authorities (PEM) to trust for `https://` nodes, beyond the public roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl WorkerConfig {
    /// A worker of `servers` with `token`, defaults elsewhere.
    pub fn new(servers: Vec<String>, token: &str) -> Self {
        WorkerConfig {
            servers,
            token: token.to_owned(),
            worker_id: format!("worker-{}", std::process::id()),
            concurrency: 4,
            wait_seconds: 5,
            shutdown_grace: Duration::from_secs(30),
            ca_pem: None,
        }
    }
}

/// A worker: handlers by task type, and the loop that feeds them.
pub struct Worker {
    config: WorkerConfig,
    handlers: HashMap<String, Arc<dyn Handler>>,
}

/// What every attempt of one worker shares.
pub(crate) struct Shared {
    servers: Servers,
    /// Successes waiting to be reported together (see `completions`).
    completions: tokio::sync::mpsc::UnboundedSender<crate::completions::Pending>,
    /// Turns true when running attempts must be given back now.
    give_back: watch::Receiver<bool>,
    /// Finished attempts whose report is on its way, at most `concurrency` (see `run_attempt`).
    reporting: Arc<Semaphore>,
}

impl Worker {
    /// A worker with no handler yet.
    pub fn new(config: WorkerConfig) -> Self {
        Worker {
            config,
            handlers: HashMap::new(),
        }
    }

    /// Runs tasks of `task_type` with `handler`.
    pub fn handle(mut self, task_type: &str, handler: Arc<dyn Handler>) -> Self {
        self.handlers.insert(task_type.to_owned(), handler);
        self
    }

    /// Leases and runs tasks until `shutdown` resolves; then stops leasing, lets running
    /// attempts finish within the grace, and gives back the others (released: pending again at
    /// once, without spending a retry).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, mut stop) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            stop_tx.send_replace(true);
            // Keep the sender until every receiver is gone.
            stop_tx.closed().await;
        });
        let (give_back_tx, give_back) = watch::channel(false);
        let (completions, completing) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            servers: Servers::new(
                &self.config.servers,
                &self.config.token,
                self.config.ca_pem.as_deref(),
            ),
            give_back,
            completions,
            reporting: Arc::new(Semaphore::new(self.config.concurrency.max(1))),
        });
        // Ends when the worker has stopped and dropped `shared`.
        tokio::spawn(crate::completions::run(Arc::downgrade(&shared), completing));
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut attempts = JoinSet::new();
        let mut types: Vec<String> = self.handlers.keys().cloned().collect();
        types.sort();
        let mut pause = Duration::from_millis(100);
        tracing::info!(worker = %self.config.worker_id, ?types, "worker started");
        while !*stop.borrow_and_update() {
            while attempts.try_join_next().is_some() {}
            let free = slots.available_permits();
            if free == 0 {
                // A slot frees when a handler ends (its report may still be on its way).
                tokio::select! {
                    _ = slots.acquire() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let req = LeaseRequest {
                worker_id: self.config.worker_id.clone(),
                task_types: types.clone(),
                max_tasks: u32::try_from(free.min(100)).unwrap_or(1),
                wait_seconds: self.config.wait_seconds.min(30),
            };
            // Not interrupted by the shutdown: what this request leases is run, not lost.
            match shared.servers.call(|c| lease(c, req.clone())).await {
                Ok(resp) => {
                    pause = Duration::from_millis(100);
                    for leased in resp.tasks {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let handler = self.handlers.get(&leased.task.task_type).cloned();
                        attempts.spawn(run_attempt(shared.clone(), leased, handler, permit));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot lease; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
        tracing::info!(running = attempts.len(), "worker stopping: no more leases");
        let drain = async { while attempts.join_next().await.is_some() {} };
        if tokio::time::timeout(self.config.shutdown_grace, drain)
            .await
            .is_err()
        {
            tracing::warn!(running = attempts.len(), "giving back unfinished attempts");
            give_back_tx.send_replace(true);
            while attempts.join_next().await.is_some() {}
        }
        tracing::info!("worker stopped");
    }
}

async fn lease(
    c: taskcore_client::Client,
    req: LeaseRequest,
) -> Result<taskcore_wire::LeaseResponse, ClientError> {
    c.lease(&req).await
}

/// How an attempt ended on this side.
enum Ending {
    /// The handler answered.
    Finished(Result<serde_json::Value, HandlerError>),
    /// The worker is shutting down: give the task back.
    GivenBack,
    /// The task was cancelled or the lease was lost: nothing to report.
    Abandoned(&'static str),
}

/// The lease's lifetime as the server set it, read off the leased task (both times are the
/// server's, so the worker's clock does not matter).
fn lease_ttl(leased: &LeasedTaskBody) -> Duration {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let ttl = leased
        .task
        .started_at
        .as_deref()
        .and_then(parse)
        .zip(parse(&leased.lease_expires_at))
        .and_then(|(start, end)| (end - start).to_std().ok());
    ttl.unwrap_or(Duration::from_secs(30))
}

async fn run_attempt(
    shared: Arc<Shared>,
    leased: LeasedTaskBody,
    handler: Option<Arc<dyn Handler>>,
    slot: OwnedSemaphorePermit,
) {
    let t = &leased.task;
    let job = Job {
        id: t.id,
        task_id: t.task_id.clone(),
        task_type: t.task_type.clone(),
        attempt: leased.attempt,
        context_data: t.context_data.clone(),
        checkpoint: t
            .persistent_job
            .as_ref()
            .filter(|p| p.can_resume)
            .map(|p| p.checkpoint.clone()),
    };
    let ttl = lease_ttl(&leased);
    let started = Instant::now();
    let handle = AttemptHandle::new();
    // The sequence number of the last checkpoint the server accepted.
    let mut sent_checkpoint = 0;
    let ending = match handler {
        None => Ending::Finished(Err(HandlerError::retryable(format!(
            "this worker has no handler for {:?}",
            job.task_type
        )))),
        Some(h) => {
            let work = h.run(&job, &handle);
            supervise(&shared, &leased, &handle, ttl, work, &mut sent_checkpoint).await
        }
    };
    let metrics = Some(MetricsReportBody {
        execution_time_ms: Some(started.elapsed().as_millis() as u64),
        custom: custom(&handle),
        ..Default::default()
    });
    let lease_id = leased.lease_id.clone();
    let id = job.id;
    // The handler is done: its slot goes to the next task while the report is on its way, so
    // that leasing and reporting overlap. At most `concurrency` reports wait at a time (the
    // slot is kept until this one may join them): a worker never holds more than twice its
    // concurrency in leases, and a slow cluster slows its leasing down.
    // An abandoned attempt reports nothing and takes no place among them.
    let _reporting = match ending {
        Ending::Abandoned(_) => None,
        _ => shared.reporting.clone().acquire_owned().await.ok(),
    };
    drop(slot);
    match ending {
        Ending::Abandoned(why) => tracing::info!(task = %job.task_id, why, "attempt abandoned"),
        Ending::Finished(Ok(result_data)) => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let pending = crate::completions::Pending {
                completion: Completion {
                    id,
                    lease_id,
                    result_data,
                    metrics,
                },
                ttl,
                reply,
            };
            // No answer: the completer is gone, the worker is stopping.
            let answered = match shared.completions.send(pending) {
                Ok(()) => answer.await.ok(),
                Err(_) => None,
            };
            let stopped = || {
                Err(ClientError::Transport(
                    "the worker stopped reporting".into(),
                ))
            };
            let r = answered.unwrap_or_else(stopped);
            log_report(&job, "completed", r);
        }
        Ending::GivenBack => {
            let r = handle.snapshot();
            let checkpoint = r.checkpoint.filter(|_| r.checkpoint_seq != sent_checkpoint);
            let req = ReleaseRequest {
                lease_id,
                reason: Some("the worker shut down before the attempt finished".into()),
                checkpoint,
            };
            let r = report(&shared, ttl, |c| {
                let req = req.clone();
                async move { c.release(id, &req).await.map(drop) }
            });
            log_report(&job, "given back", r.await);
        }
        Ending::Finished(Err(e)) => {
            // A retry resumes from the latest checkpoint, even one made just before the
            // failure: send it first if the heartbeats have not.
            let unsent = handle.snapshot().checkpoint_seq != sent_checkpoint;
            if e.retryable && unsent {
                if let Some(why) = heartbeat(&shared, &leased, &handle, &mut sent_checkpoint).await
                {
                    tracing::info!(task = %job.task_id, why, "attempt abandoned");
                    return;
                }
            }
            let req = FailRequest {
                lease_id,
                error_message: e.message.clone(),
                retryable: e.retryable,
                metrics,
            };
            let r = report(&shared, ttl, |c| {
                let req = req.clone();
                async move { c.fail(id, &req).await.map(drop) }
            });
            log_report(&job, "failed", r.await);
        }
    }
}

fn custom(handle: &AttemptHandle) -> Option<serde_json::Value> {
    let r = handle.snapshot();
    (!r.custom.is_empty()).then_some(serde_json::Value::Object(r.custom))
}

fn log_report(job: &Job, what: &str, r: Result<(), ClientError>) {
    match r {
        Ok(()) => tracing::info!(task = %job.task_id, attempt = job.attempt, "attempt {what}"),
        Err(e) if e.error_code() == Some("LEASE_LOST") => {
            tracing::info!(task = %job.task_id, "the attempt's lease was lost; its report is refused")
        }
        Err(e) => tracing::warn!(task = %job.task_id, error = %e, "cannot report the attempt"),
    }
}

/// Runs the handler's future while heartbeats renew the lease; drops it (which kills an
/// `exec` child) when the task is cancelled, the lease is lost, or the worker gives it back.
async fn supervise(
    shared: &Shared,
    leased: &LeasedTaskBody,
    handle: &AttemptHandle,
    ttl: Duration,
    work: crate::BoxFuture<'_, Result<serde_json::Value, HandlerError>>,
    sent_checkpoint: &mut u64,
) -> Ending {
    // Renew a third of the way into the lease; report news (progress, a checkpoint) sooner,
    // at most once per `REPORT_EVERY`.
    let renew = (ttl / 3).clamp(Duration::from_millis(50), Duration::from_secs(10));
    let every = renew.min(REPORT_EVERY);
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    let mut last_sent = Instant::now();
    let mut last_report = handle.snapshot();
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut give_back = shared.give_back.clone();
    let given_back = async move {
        // A closed channel means the worker is gone: give back as well.
        let _ = give_back.wait_for(|g| *g).await;
    };
    tokio::pin!(work, given_back);
    loop {
        tokio::select! {
            r = &mut work => return Ending::Finished(r),
            _ = tick.tick() => {
                let now = handle.snapshot();
                if now == last_report && last_sent.elapsed() + every / 2 < renew {
                    continue;
                }
                last_report = now;
                last_sent = Instant::now();
                if let Some(why) = heartbeat(shared, leased, handle, sent_checkpoint).await {
                    return Ending::Abandoned(why);
                }
            }
            () = &mut given_back => return Ending::GivenBack,
        }
    }
}

/// Sends one heartbeat; answers why the attempt must stop, if it must.
async fn heartbeat(
    shared: &Shared,
    leased: &LeasedTaskBody,
    handle: &AttemptHandle,
    sent_checkpoint: &mut u64,
) -> Option<&'static str> {
    let r = handle.snapshot();
    let fresh = r.checkpoint_seq != *sent_checkpoint;
    let req = HeartbeatRequest {
        lease_id: leased.lease_id.clone(),
        progress_percentage: r.progress,
        checkpoint: r.checkpoint.filter(|_| fresh),
        metrics: (!r.custom.is_empty()).then(|| MetricsReportBody {
            custom: Some(serde_json::Value::Object(r.custom)),
            ..Default::default()
        }),
    };
    let id = leased.task.id;
    match shared
        .servers
        .call(|c| {
            let req = req.clone();
            async move { c.heartbeat(id, &req).await }
        })
        .await
    {
        Ok(resp) if resp.cancel_requested => Some("cancelled"),
        Ok(_) => {
            *sent_checkpoint = r.checkpoint_seq;
            None
        }
        Err(e) if e.error_code() == Some("LEASE_LOST") => Some("lease lost"),
        Err(e) if e.error_code() == Some("NOT_FOUND") => Some("task deleted"),
        Err(e) => {
            tracing::warn!(task = id, error = %e, "heartbeat failed; will try again");
            None
        }
    }
}

/// Sends a final report, trying again while no node can take it, for at most one lease
/// lifetime: past that the lease has run out and the scheduler retries the task anyway.
pub(crate) async fn report<F, Fut, T>(
    shared: &Shared,
    ttl: Duration,
    f: F,
) -> Result<T, ClientError>
where
    F: Fn(taskcore_client::Client) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let until = Instant::now() + ttl;
    let mut pause = Duration::from_millis(50);
    loop {
        match shared.servers.call(&f).await {
            // Every node was tried and none could take it (unreachable, no leader).
            Err(e) if crate::servers::try_elsewhere(&e) && Instant::now() + pause < until => {
                tracing::debug!(error = %e, "report not taken yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}
