//! `exec:COMMAND`: a process per attempt, in any language.
//!
//! The command runs under `sh -c` in a process group of its own. It reads the task's
//! `context_data` as JSON on stdin, finds `TASKCORE_TASK_ID`, `TASKCORE_TASK_TYPE`,
//! `TASKCORE_ATTEMPT` in its environment and, when resuming, `TASKCORE_CHECKPOINT_FILE`: a file
//! (mode 0600, removed when the attempt ends) holding the checkpoint as JSON. The environment has
//! a size limit (a checkpoint over ~128 KiB in a variable makes `exec` fail with E2BIG), so the
//! checkpoint itself is also in `TASKCORE_CHECKPOINT` only when it is at most
//! [`CHECKPOINT_ENV_MAX`] bytes. The command may
//! print `progress N` and `checkpoint {json}` lines on stdout. Its last other stdout line, a
//! JSON object, is the result. A non-zero exit is a failure whose message ends with the tail of
//! stderr. When the attempt is cancelled, times out or loses its lease, the whole process group
//! is killed.

use std::collections::VecDeque;
use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::{AttemptHandle, BoxFuture, Handler, HandlerError, Job};

/// How much of stderr a failure message keeps.
const STDERR_TAIL: usize = 2048;
/// Largest checkpoint also passed in `TASKCORE_CHECKPOINT` (the file always has it).
pub const CHECKPOINT_ENV_MAX: usize = 32 * 1024;

/// Runs a shell command per attempt.
#[derive(Clone, Debug)]
pub struct Exec {
    command: String,
}

impl Exec {
    /// A handler running `command` with `sh -c`.
    pub fn new(command: &str) -> Self {
        Exec {
            command: command.to_owned(),
        }
    }
}

/// Kills the child's whole process group when the attempt ends or is dropped.
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) with a negative pid signals the process group the child leads;
            // it touches no memory of ours.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

impl Handler for Exec {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        attempt: &'a AttemptHandle,
    ) -> BoxFuture<'a, Result<Value, HandlerError>> {
        Box::pin(async move {
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(&self.command)
                .env("TASKCORE_TASK_ID", &job.task_id)
                .env("TASKCORE_TASK_TYPE", &job.task_type)
                .env("TASKCORE_ATTEMPT", job.attempt.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true);
            // Kept until the attempt ends; removed on drop.
            let _checkpoint_file = match &job.checkpoint {
                Some(c) => {
                    let text = c.to_string();
                    let file = checkpoint_file(&text).map_err(|e| {
                        HandlerError::retryable(format!("cannot write the checkpoint file: {e}"))
                    })?;
                    cmd.env("TASKCORE_CHECKPOINT_FILE", file.path());
                    if text.len() <= CHECKPOINT_ENV_MAX {
                        cmd.env("TASKCORE_CHECKPOINT", text);
                    }
                    Some(file)
                }
                None => None,
            };
            let mut child = cmd.spawn().map_err(|e| {
                HandlerError::retryable(format!("cannot start {:?}: {e}", self.command))
            })?;
            // Whether the attempt ends or is dropped, nothing the command started outlives it.
            let _group = Group(child.id());
            supervise(&mut child, job, attempt).await
        })
    }
}

/// A private temporary file holding `text` (tempfile creates it with mode 0600).
fn checkpoint_file(text: &str) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("taskcore-checkpoint-")
        .suffix(".json")
        .tempfile()?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    Ok(file)
}

async fn supervise(
    child: &mut Child,
    job: &Job,
    attempt: &AttemptHandle,
) -> Result<Value, HandlerError> {
    let input = job.context_data.to_string();
    let stdin = child.stdin.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A program that does not read its input is fine.
            let _ = stdin.write_all(input.as_bytes()).await;
        }
    };
    let stdout = child.stdout.take();
    let read_out = async move {
        let mut last = None;
        let Some(stdout) = stdout else { return last };
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(n) = line.strip_prefix("progress ") {
                if let Ok(n) = n.trim().parse::<u8>() {
                    attempt.progress(n);
                }
            } else if let Some(c) = line.strip_prefix("checkpoint ") {
                if let Ok(c @ Value::Object(_)) = serde_json::from_str(c.trim()) {
                    attempt.checkpoint(c);
                }
            } else if !line.trim().is_empty() {
                last = Some(line);
            }
        }
        last
    };
    let stderr = child.stderr.take();
    let read_err = async move {
        let mut tail = VecDeque::new();
        let Some(mut stderr) = stderr else {
            return tail;
        };
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tail.extend(&buf[..n]);
            let excess = tail.len().saturating_sub(STDERR_TAIL);
            tail.drain(..excess);
        }
        tail
    };
    let ((), last, mut tail, status) = tokio::join!(feed, read_out, read_err, child.wait());
    let status =
        status.map_err(|e| HandlerError::retryable(format!("cannot wait for the command: {e}")))?;
    if !status.success() {
        let tail = String::from_utf8_lossy(tail.make_contiguous())
            .trim()
            .to_owned();
        let how = match status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_owned(),
        };
        return Err(HandlerError::retryable(if tail.is_empty() {
            format!("the command failed: {how}")
        } else {
            format!("the command failed: {how}: {tail}")
        }));
    }
    Ok(match last.as_deref().map(serde_json::from_str::<Value>) {
        Some(Ok(v @ Value::Object(_))) => v,
        Some(_) => json!({ "output": last }),
        None => json!({}),
    })
}
