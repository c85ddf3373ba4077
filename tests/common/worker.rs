//! `taskcore worker` processes, killed when their handle drops.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{binary, worker_token};

/// A running `taskcore worker`.
pub struct WorkerProc {
    child: Option<Child>,
}

impl WorkerProc {
    /// Starts a worker of these nodes with these `TYPE=SPEC` handlers and extra arguments.
    pub fn spawn(servers: &[&str], handlers: &[&str], extra: &[&str]) -> WorkerProc {
        let mut cmd = Command::new(binary("taskcore"));
        cmd.arg("worker")
            .args(["--server", &servers.join(",")])
            .args(["--token", &worker_token()])
            .args(handlers.iter().flat_map(|h| ["--handler", h]))
            .args(extra)
            .env("TASKCORE_LOG", "warn")
            .env_remove("TASKCORE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().expect("taskcore worker starts");
        WorkerProc { child: Some(child) }
    }

    /// SIGKILLs the worker and waits for it to die.
    pub fn kill9(&mut self) {
        super::kill9(&mut self.child);
    }

    /// SIGTERMs the worker and waits for its exit; returns whether it exited with success.
    pub fn terminate(&mut self) -> bool {
        super::terminate(&mut self.child)
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Writes a node configuration with short leases and quick retries into `dir`.
pub fn execution_config(dir: &Path, lease_ttl_ms: u64, extra: &str) -> std::path::PathBuf {
    let path = dir.join("execution.toml");
    let text = format!(
        "[execution]\nlease_ttl_ms = {lease_ttl_ms}\nretry_base_ms = 100\nretry_cap_ms = 500\n{extra}"
    );
    std::fs::write(&path, text).expect("the configuration is written");
    path
}
