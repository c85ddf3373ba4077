//! Concurrent clients on every node, recording a [`History`]: writers creating tasks and
//! writing their descriptions as single-writer registers, readers reading them from every node,
//! workers leasing and completing jobs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskcore_client::{Client, ClientError};
use taskcore_wire::{CompleteRequest, LeaseRequest, NewTask, TaskBody, TaskPatch};
use tokio::task::JoinHandle;

use super::history::{History, Op, Res};

/// The task type of registers (never leased).
pub const REGISTER: &str = "report_generation";
/// The task type of jobs (leased and completed by the workers).
pub const JOB: &str = "data_export";
/// How long a client waits for any answer before it calls the operation unknown.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(8);

/// How an error ends an operation that changes state: refused by the contract, or unknown.
/// A 5xx other than 503 is also recorded as a violation: faults answer 503, never 500.
fn write_res(history: &History, e: &ClientError) -> Res {
    noted(history, e);
    match e {
        ClientError::Api { status, .. } if (400..500).contains(status) && *status != 408 => {
            Res::Fail
        }
        _ => Res::Unknown,
    }
}

/// Runs a request with the client's deadline.
async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(CLIENT_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(ClientError::Transport("client timeout".into())))
}

/// The running clients.
pub struct Workload {
    /// What they did.
    pub history: Arc<History>,
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Workload {
    /// Starts, per node, one writer, one reader and one worker (`users[i]` and `workers[i]` are
    /// clients of node `i`).
    pub fn start(users: Vec<Client>, workers: Vec<Client>) -> Workload {
        let history = Arc::new(History::default());
        let stop = Arc::new(AtomicBool::new(false));
        let keys: Arc<Mutex<Vec<u64>>> = Arc::default();
        let mut handles = Vec::new();
        for (node, client) in users.iter().enumerate() {
            let ctx = (history.clone(), stop.clone(), keys.clone());
            handles.push(tokio::spawn(writer(node, client.clone(), ctx.clone())));
            handles.push(tokio::spawn(reader(node, users.clone(), ctx)));
        }
        for (node, client) in workers.into_iter().enumerate() {
            let ctx = (history.clone(), stop.clone());
            handles.push(tokio::spawn(worker(node, client, ctx)));
        }
        Workload {
            history,
            stop,
            handles,
        }
    }

    /// Stops every client and waits for their last operations to end.
    pub async fn stop(self) -> Arc<History> {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles {
            let _ = h.await;
        }
        self.history
    }
}

type Ctx = (Arc<History>, Arc<AtomicBool>, Arc<Mutex<Vec<u64>>>);

fn new_task(task_type: &str) -> NewTask {
    NewTask {
        task_type: task_type.into(),
        description: Some("0".into()),
        ..Default::default()
    }
}

/// Creates a register (and a job beside it), writes 1, 2, 3, … to it; after a write with an
/// unknown end it moves to a new register, since that write may still land after later ones.
async fn writer(node: usize, client: Client, (history, stop, keys): Ctx) {
    let mut current: Option<(u64, u64)> = None;
    while !stop.load(Ordering::SeqCst) {
        let Some((key, seq)) = current else {
            let t = history.now();
            let created = bounded(client.create_task(&new_task(REGISTER), None)).await;
            match created {
                Ok(task) => {
                    history.record(node, Op::Create, t, Res::Ok(Some(task.id)));
                    keys.lock().unwrap().push(task.id);
                    current = Some((task.id, 1));
                }
                Err(e) => {
                    history.record(node, Op::Create, t, write_res(&history, &e));
                    pause().await;
                }
            }
            let t = history.now();
            let job = bounded(client.create_task(&new_task(JOB), None)).await;
            let res = match job {
                Ok(task) => Res::Ok(Some(task.id)),
                Err(e) => write_res(&history, &e),
            };
            history.record(node, Op::Create, t, res);
            continue;
        };
        let patch = TaskPatch {
            description: Some(seq.to_string()),
            ..Default::default()
        };
        let t = history.now();
        let res = match bounded(client.update_task(&key.to_string(), &patch, false)).await {
            Ok(_) => Res::Ok(None),
            Err(e) => write_res(&history, &e),
        };
        history.record(node, Op::Write { key, seq }, t, res.clone());
        current = match res {
            Res::Ok(_) => Some((key, seq + 1)),
            // Refused: not applied, the next value may follow.
            Res::Fail => Some((key, seq + 1)),
            Res::Unknown => {
                pause().await;
                None
            }
        };
    }
}

/// Reads registers, the newest ones most, from every node in turn.
async fn reader(node: usize, clients: Vec<Client>, (history, stop, keys): Ctx) {
    let mut turn = node;
    while !stop.load(Ordering::SeqCst) {
        let key = {
            let keys = keys.lock().unwrap();
            keys.len()
                .checked_sub(1 + turn % 4)
                .and_then(|i| keys.get(i))
                .copied()
        };
        turn += 1;
        let Some(key) = key else {
            pause().await;
            continue;
        };
        let on = turn % clients.len();
        let t = history.now();
        let res = match bounded(clients[on].get_task(&key.to_string())).await {
            Ok(task) => match task.description.parse() {
                Ok(v) => Res::Ok(Some(v)),
                Err(_) => Res::Ok(Some(u64::MAX)),
            },
            Err(e) => {
                noted(&history, &e);
                Res::Unknown
            }
        };
        let failed = res == Res::Unknown;
        history.record(on, Op::Read { key }, t, res);
        if failed {
            pause().await;
        }
    }
}

/// Leases jobs from its node and completes them.
async fn worker(node: usize, client: Client, (history, stop): (Arc<History>, Arc<AtomicBool>)) {
    let req = LeaseRequest {
        worker_id: format!("fault-worker-{node}"),
        task_types: vec![JOB.into()],
        max_tasks: 4,
        wait_seconds: 1,
    };
    while !stop.load(Ordering::SeqCst) {
        let Ok(leased) = bounded(client.lease(&req)).await else {
            pause().await;
            continue;
        };
        for t in leased.tasks {
            let done = CompleteRequest {
                lease_id: t.lease_id.clone(),
                result_data: serde_json::json!({"by": node}),
                metrics: None,
            };
            let key = t.task.id;
            let at = history.now();
            let res = match bounded(client.complete(key, &done)).await {
                Ok(_) => Res::Ok(None),
                Err(e) => write_res(&history, &e),
            };
            history.record(node, Op::Complete { key }, at, res);
        }
    }
}

/// Records a 5xx other than 503 in the history.
fn noted(history: &History, e: &ClientError) {
    if let ClientError::Api { status, body } = e {
        if *status >= 500 && *status != 503 {
            history.server_error(format!("HTTP {status}: {}", body.detail));
        }
    }
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Every task on a node, by id, with its description as a number (the register's value;
/// jobs keep `0`, tasks fired by a periodic task have none: `u64::MAX`).
pub fn registers(tasks: &[TaskBody]) -> BTreeMap<u64, u64> {
    tasks
        .iter()
        .map(|t| (t.id, t.description.parse().unwrap_or(u64::MAX)))
        .collect()
}

/// What is wrong with the jobs' attempts: more than one completed attempt, attempts that
/// overlap, a task still running.
pub fn attempt_violations(tasks: &[TaskBody]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tasks.iter().filter(|t| t.task_type == JOB) {
        let attempts = t.attempts.clone().unwrap_or_default();
        let completed = attempts.iter().filter(|a| a.outcome == "completed").count();
        if completed > 1 {
            out.push(format!("task {} has {completed} completed attempts", t.id));
        }
        for pair in attempts.windows(2) {
            let end = pair[0].finished_at.as_deref().map(micros);
            match &pair[0].finished_at {
                Some(_) if end <= Some(micros(&pair[1].started_at)) => {}
                end => out.push(format!(
                    "task {}: attempt {} (ended {end:?}) overlaps attempt {} (started {})",
                    t.id, pair[0].number, pair[1].number, pair[1].started_at
                )),
            }
        }
    }
    out
}

/// An RFC 3339 time in microseconds (`i64::MAX` when it does not parse: it then overlaps).
pub fn micros(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).map_or(i64::MAX, |d| d.timestamp_micros())
}
