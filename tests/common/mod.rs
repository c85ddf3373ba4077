//! Real `taskcore` processes on free loopback ports with temporary data directories. Every
//! process a test starts is killed when its handle drops, even when the test fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

pub const SECRET: &str = "e2e-test-secret-of-thirty-two-bytes-at-least";

/// The directory holding the workspace's binaries (next to this test's own executable).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    dir.to_path_buf()
}

/// Builds `taskcore` and `taskctl` once per test binary, in the profile the tests run in.
///
/// `cargo test` builds the root package's tests but not the binaries of the other packages, and
/// an old binary would test old code: so the harness asks cargo for them (a no-op when they are
/// up to date).
fn build_binaries() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--quiet", "-p", "taskcore", "-p", "taskctl"]);
        // Cargo sets these for the test binary; a build script that watches one (ring's watches
        // CARGO_MANIFEST_DIR) would rebuild half the tree here, and again at the next
        // `cargo test`, which runs without them.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            let per_crate = key.starts_with("CARGO_PKG_")
                || matches!(
                    key.as_str(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                );
            if per_crate {
                cargo.env_remove(&key);
            }
        }
        if bin_dir().ends_with("release") {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("cargo runs");
        assert!(status.success(), "building taskcore and taskctl failed");
    });
}

/// The path of a workspace binary, built and up to date.
pub fn binary(name: &str) -> PathBuf {
    build_binaries();
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing after the build",
        path.display()
    );
    path
}

/// How to start a node.
#[derive(Clone, Debug)]
pub struct Launch {
    pub data_dir: PathBuf,
    /// `--dev` (generated secrets, printed token) rather than the test secrets.
    pub dev: bool,
    /// `--init`: a one-node cluster on first start.
    pub init: bool,
    pub node_id: u64,
    /// Port 0 on the first start; the ports it got on restarts (the membership records them).
    pub http_addr: String,
    pub raft_addr: String,
    /// A configuration file (for `[raft]` settings).
    pub config: Option<PathBuf>,
    /// The cluster secret (the tests' own unless set).
    pub cluster_secret: Option<String>,
    /// The network namespace to run in (`ip netns exec`), for fault tests.
    pub netns: Option<String>,
    /// More environment variables.
    pub env: Vec<(String, String)>,
}

impl Launch {
    pub fn new(data_dir: &Path) -> Launch {
        Launch {
            data_dir: data_dir.to_path_buf(),
            dev: false,
            init: true,
            node_id: 1,
            http_addr: "127.0.0.1:0".into(),
            raft_addr: "127.0.0.1:0".into(),
            config: None,
            cluster_secret: None,
            netns: None,
            env: Vec::new(),
        }
    }
}

/// A running node.
pub struct Node {
    child: Option<Child>,
    pub url: String,
    pub launch: Launch,
    pub data_dir: PathBuf,
    pub stdout: Vec<String>,
}

impl Node {
    /// Starts a one-node cluster with the test secrets in `data_dir`.
    pub fn start(data_dir: &Path) -> Node {
        Self::spawn(Launch::new(data_dir))
    }

    /// Starts a node in `--dev` mode.
    pub fn start_dev(data_dir: &Path) -> Node {
        Self::spawn(Launch {
            dev: true,
            ..Launch::new(data_dir)
        })
    }

    /// Starts a node as described.
    pub fn spawn(launch: Launch) -> Node {
        let mut cmd = match &launch.netns {
            // `ip netns exec` execs the node in place: the child is the node itself.
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(binary("taskcore"));
                cmd
            }
            None => Command::new(binary("taskcore")),
        };
        cmd.args([
            "serve",
            "--http-addr",
            &launch.http_addr,
            "--raft-addr",
            &launch.raft_addr,
        ])
        .args(["--node-id", &launch.node_id.to_string(), "--data-dir"])
        .arg(&launch.data_dir)
        .env(
            "TASKCORE_LOG",
            // A failing fault test is read with TASKCORE_TEST_LOG=info.
            std::env::var("TASKCORE_TEST_LOG").unwrap_or_else(|_| "error,openraft=off".into()),
        )
        .env_remove("TASKCORE_JWT_SECRET")
        .env_remove("TASKCORE_CLUSTER_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
        if let Some(config) = &launch.config {
            cmd.arg("--config").arg(config);
        }
        if launch.dev {
            cmd.arg("--dev");
        } else {
            let cluster_secret = launch.cluster_secret.as_deref().unwrap_or(SECRET);
            cmd.env("TASKCORE_JWT_SECRET", SECRET)
                .env("TASKCORE_CLUSTER_SECRET", cluster_secret);
        }
        if launch.init {
            cmd.arg("--init");
        }
        let mut child = cmd.spawn().expect("taskcore starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Once nobody listens, keep draining so the node never blocks on a full pipe.
                let _ = tx.send(line);
            }
        });
        let mut node = Node {
            child: Some(child),
            url: String::new(),
            data_dir: launch.data_dir.clone(),
            launch,
            stdout: Vec::new(),
        };
        let want = if node.launch.dev { 5 } else { 1 };
        while node.stdout.len() < want {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("the node announces itself within 30 s");
            let announced = line
                .strip_prefix("taskcore: listening on ")
                .and_then(|rest| rest.split_once("://"));
            if let Some((scheme, rest)) = announced {
                // "taskcore: listening on http://HTTP (raft RAFT)" (or https)
                let mut words = rest.split_whitespace();
                let http = words.next().unwrap_or_default().to_owned();
                let raft = words
                    .nth(1)
                    .unwrap_or_default()
                    .trim_end_matches(')')
                    .to_owned();
                node.url = format!("{scheme}://{http}");
                node.launch.http_addr = http;
                node.launch.raft_addr = raft;
            }
            node.stdout.push(line);
        }
        node
    }

    /// The token printed by a `--dev` node.
    pub fn dev_token(&self) -> String {
        self.stdout
            .iter()
            .find(|l| l.starts_with("eyJ"))
            .cloned()
            .expect("a dev node prints a token")
    }

    /// SIGKILLs the node and waits for it to die.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }

    /// SIGTERMs the node and waits for a clean exit; returns whether it exited with success.
    pub fn terminate(&mut self) -> bool {
        terminate(&mut self.child)
    }

    /// Starts the node again on the same data directory and the same addresses.
    pub fn restart(&mut self) {
        self.kill9();
        let again = Self::spawn(self.launch.clone());
        *self = again;
    }

    /// Whether the process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the process is still alive (it has not exited on its own).
    pub fn is_alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends `signal` to the process (SIGSTOP, SIGCONT, …).
    pub fn signal(&self, signal: i32) {
        if let Some(pid) = self.child.as_ref().and_then(|c| i32::try_from(c.id()).ok()) {
            // SAFETY: kill(2) on our own child's pid touches no memory of ours.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// The process's resident memory in KiB, from `/proc` (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// SIGKILLs a child process (if still held) and waits for it to die.
pub fn kill9(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// SIGTERMs a child process (if still held) and waits for its exit; whether it succeeded.
pub fn terminate(child: &mut Option<Child>) -> bool {
    let Some(mut c) = child.take() else {
        return false;
    };
    // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    c.wait().map(|s| s.success()).unwrap_or(false)
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A token minted by `taskctl token` for user 1 "martin" on brands 9 "Humari" and 10 "Other".
pub fn token(admin: bool) -> String {
    token_with_roles(if admin { &["admin"] } else { &[] })
}

/// A token with the worker role.
pub fn worker_token() -> String {
    token_with_roles(&["worker"])
}

/// A token for user 1 "martin" on brands 9 and 10 with these roles.
pub fn token_with_roles(roles: &[&str]) -> String {
    let out = Command::new(binary("taskctl"))
        .args([
            "token",
            "--secret",
            SECRET,
            "--user-id",
            "1",
            "--username",
            "martin",
        ])
        .args(["--brand-claim", "9:Humari", "--brand-claim", "10:Other"])
        .args(roles.iter().flat_map(|r| ["--role", r]))
        .output()
        .expect("taskctl runs");
    assert!(
        out.status.success(),
        "taskctl token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 token")
        .trim()
        .to_owned()
}

/// Runs `taskctl` against a node; returns its standard output, asserting success.
pub fn taskctl(node: &Node, token: &str, args: &[&str]) -> String {
    let out = Command::new(binary("taskctl"))
        .args(["--server", &node.url, "--token", token, "--brand", "9"])
        .args(args)
        .env_remove("TASKCORE_URL")
        .env_remove("TASKCORE_TOKEN")
        .env_remove("TASKCORE_BRAND")
        .output()
        .expect("taskctl runs");
    assert!(
        out.status.success(),
        "taskctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub mod cluster;
pub mod history;
pub mod netns;
pub mod pki;
pub mod worker;
pub mod workload;

/// Waits (at most 30 s) until the client's node answers `/readyz` with 200.
pub async fn wait_ready(client: &taskcore_client::Client) {
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while !client.ready().await.unwrap_or(false) {
        assert!(
            std::time::Instant::now() < until,
            "node not ready within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
