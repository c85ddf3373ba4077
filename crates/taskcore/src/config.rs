//! Node configuration: a TOML file, then the environment (every key, see `env_config`), then
//! command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;
use taskcore_api::AuthConfig;
use taskcore_core::TaskTypes;

use crate::secrets::check_secret;

/// The configuration file, as written (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// This node's id in the cluster.
    pub node_id: Option<u64>,
    /// Where clients reach this node.
    pub http_addr: Option<SocketAddr>,
    /// Where peers reach this node.
    pub raft_addr: Option<SocketAddr>,
    /// Where the node keeps its data.
    pub data_dir: Option<PathBuf>,
    /// The secret peers authenticate with.
    pub cluster_secret: Option<String>,
    /// Initialise a one-node cluster on first start (an empty data directory).
    pub init: Option<bool>,
    /// Raft timing and snapshots.
    #[serde(default)]
    pub raft: RaftSection,
    /// Token verification.
    #[serde(default)]
    pub auth: AuthSection,
    /// Task settings.
    #[serde(default)]
    pub tasks: TasksSection,
    /// `[execution]`: leases and retries.
    #[serde(default)]
    pub execution: ExecutionSection,
    /// `[retention]`: how long finished tasks are kept.
    #[serde(default)]
    pub retention: RetentionSection,
    /// `[http]`: bounds on client connections.
    #[serde(default)]
    pub http: HttpSection,
    /// `[periodic]`: limits on periodic tasks.
    #[serde(default)]
    pub periodic: PeriodicSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// `[tls]`: HTTPS on the client port.
    #[serde(default)]
    pub tls: TlsSection,
    /// `[peer_tls]`: mutual TLS on the peer port.
    #[serde(default)]
    pub peer_tls: PeerTlsSection,
}

/// `[peer_tls]`: mutual TLS between nodes, from PEM files (reloaded on SIGHUP).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerTlsSection {
    /// The cluster CA: peers must present a certificate it signed.
    pub ca_file: Option<PathBuf>,
    /// This node's certificate chain, leaf first; it must name the host of `raft_addr`.
    pub cert_file: Option<PathBuf>,
    /// Its private key.
    pub key_file: Option<PathBuf>,
}

/// `[tls]`: HTTPS on the client port, from PEM files (reloaded on SIGHUP and on change).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// HS256 secret.
    pub jwt_secret: Option<String>,
    /// A PEM public key file, for RS256 or ES256 tokens.
    pub jwt_public_key_file: Option<PathBuf>,
    /// `RS256` or `ES256`, the algorithm of the public key.
    pub jwt_algorithm: Option<String>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `aud`.
    pub audience: Option<String>,
}

/// `[raft]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftSection {
    /// Leader heartbeat period, milliseconds (default 100).
    pub heartbeat_ms: Option<u64>,
    /// Election timeout range, milliseconds (default [400, 800]).
    pub election_timeout_ms: Option<[u64; 2]>,
    /// Build a snapshot after this many applied entries (default 10,000).
    pub snapshot_after_logs: Option<u64>,
    /// Entries kept in the log below the last snapshot (default 1,000).
    pub logs_to_keep: Option<u64>,
}

/// `[execution]`: how long leases live and how retries are spaced.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionSection {
    /// How long a lease lives without a heartbeat, milliseconds (default 30,000).
    pub lease_ttl_ms: Option<u64>,
    /// Back-off base before the second attempt, milliseconds (default 5,000).
    pub retry_base_ms: Option<u64>,
    /// Longest back-off, milliseconds (default 600,000).
    pub retry_cap_ms: Option<u64>,
}

/// `[periodic]`: limits on periodic tasks.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicSection {
    /// Most periodic tasks one brand may have (default 1,000; at most 10,000).
    pub max_per_brand: Option<usize>,
}

/// `[http]`: bounds on the client listener.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Client connections open at once, at most (default 4,096).
    pub max_connections: Option<usize>,
    /// Time for a request's head, and the idle keep-alive timeout, milliseconds (default 30,000).
    pub header_read_timeout_ms: Option<u64>,
    /// How long a shutdown waits for requests under way, milliseconds (default 10,000).
    pub shutdown_grace_ms: Option<u64>,
}

impl HttpSection {
    /// The listener's limits, defaults filled in.
    pub fn limits(&self) -> taskcore_api::HttpLimits {
        let d = taskcore_api::HttpLimits::default();
        let ms = std::time::Duration::from_millis;
        taskcore_api::HttpLimits {
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            header_read_timeout: self
                .header_read_timeout_ms
                .map_or(d.header_read_timeout, ms),
            shutdown_grace: self.shutdown_grace_ms.map_or(d.shutdown_grace, ms),
        }
    }
}

/// `[retention]`: how long finished tasks are kept.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// Completed, failed and cancelled tasks are deleted this many days after their last
    /// change (fractions allowed); absent or 0: kept for ever (the default).
    pub keep_finished_days: Option<f64>,
}

impl RetentionSection {
    /// The retention age, or `None` to keep every task.
    pub fn keep_finished(&self) -> Option<std::time::Duration> {
        self.keep_finished_days
            .filter(|d| *d > 0.0)
            .map(|d| std::time::Duration::from_secs_f64(d * 86_400.0))
    }

    /// The shortest time between two sweeps: a tenth of the age (a task goes at most that much
    /// past it), from 100 ms to a minute (each sweep reads the whole index).
    pub fn min_sweep_gap(&self) -> std::time::Duration {
        let tenth = self
            .keep_finished()
            .map_or(std::time::Duration::MAX, |k| k / 10);
        tenth.clamp(
            std::time::Duration::from_millis(100),
            std::time::Duration::from_secs(60),
        )
    }
}

/// `[tasks]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksSection {
    /// The accepted task types (default: the twelve of the seed).
    pub types: Option<Vec<String>>,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter, such as `info,taskcore_api=debug`.
    pub filter: Option<String>,
    /// `text` (default) or `json`.
    pub format: Option<String>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--node-id`.
    pub node_id: Option<u64>,
    /// `--http-addr`.
    pub http_addr: Option<SocketAddr>,
    /// `--raft-addr`.
    pub raft_addr: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--dev`.
    pub dev: bool,
    /// `--init`.
    pub init: bool,
}

/// The resolved configuration of a node.
#[derive(Debug)]
pub struct NodeConfig {
    /// This node's id.
    pub node_id: u64,
    /// Client address.
    pub http_addr: SocketAddr,
    /// Peer address.
    pub raft_addr: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Peer secret (in dev mode without one, one is made and kept in the data dir).
    pub cluster_secret: Option<String>,
    /// Initialise a one-node cluster when the data directory is new.
    pub init: bool,
    /// Raft settings.
    pub raft: RaftSection,
    /// Token verification (in dev mode without a secret, one is made and kept in the data dir).
    pub auth: AuthConfig,
    /// Accepted task types.
    pub task_types: TaskTypes,
    /// Lease and retry settings.
    pub execution: ExecutionSection,
    /// Retention of finished tasks.
    pub retention: RetentionSection,
    /// Bounds on the client listener.
    pub http: HttpSection,
    /// Limits on periodic tasks.
    pub periodic: PeriodicSection,
    /// HTTPS on the client port: the certificate chain and key files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Mutual TLS on the peer port.
    pub peer_tls: Option<taskcore_cluster::peer_tls::PeerTlsFiles>,
    /// Development mode: one node, a printed token.
    pub dev: bool,
    /// Tracing filter.
    pub log_filter: String,
    /// JSON logs.
    pub log_json: bool,
}

/// Reads an environment variable, treating an empty value as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl NodeConfig {
    /// Resolves the configuration: file, then environment, then flags.
    ///
    /// # Errors
    /// An unreadable or invalid file, an unusable key, or no JWT secret outside `--dev`.
    pub fn resolve(flags: &Overrides) -> anyhow::Result<Self> {
        let mut table = match &flags.config {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        crate::env_config::overlay(&mut table, env)?;
        let file: FileConfig = table
            .try_into()
            .context("invalid configuration (file and TASKCORE_ environment)")?;
        let auth = resolve_auth(&file.auth)?;
        if !flags.dev && auth.hs256_secret.is_none() && auth.public_key.is_none() {
            bail!(
                "no JWT secret configured: set auth.jwt_secret in the configuration file or \
                 TASKCORE_JWT_SECRET in the environment (or start with --dev for a local node)"
            );
        }
        let cluster_secret = file.cluster_secret;
        if !flags.dev && cluster_secret.is_none() {
            bail!(
                "no cluster secret configured: set cluster_secret in the configuration file or \
                 TASKCORE_CLUSTER_SECRET in the environment (or start with --dev for a local node)"
            );
        }
        if !flags.dev {
            if let Some(secret) = &auth.hs256_secret {
                check_secret(
                    "the JWT secret (auth.jwt_secret, TASKCORE_JWT_SECRET)",
                    secret,
                )?;
            }
            if let Some(secret) = &cluster_secret {
                check_secret(
                    "the cluster secret (cluster_secret, TASKCORE_CLUSTER_SECRET)",
                    secret,
                )?;
            }
        }
        let types = file.tasks.types.map(TaskTypes).unwrap_or_default();
        if types.0.is_empty() || types.0.iter().any(|t| t.trim().is_empty()) {
            bail!("tasks.types must list at least one non-empty task type");
        }
        let execution = file.execution;
        if execution
            .lease_ttl_ms
            .is_some_and(|t| !(100..=3_600_000).contains(&t))
        {
            bail!("execution.lease_ttl_ms must be from 100 to 3,600,000");
        }
        if let (Some(base), Some(cap)) = (execution.retry_base_ms, execution.retry_cap_ms) {
            if base > cap {
                bail!("execution.retry_base_ms must not exceed execution.retry_cap_ms");
            }
        }
        if file
            .retention
            .keep_finished_days
            .is_some_and(|d| !(0.0..=36_500.0).contains(&d))
        {
            bail!("retention.keep_finished_days must be from 0 (keep for ever) to 36,500");
        }
        let http = file.http;
        if http
            .max_connections
            .is_some_and(|n| !(1..=1_000_000).contains(&n))
        {
            bail!("http.max_connections must be from 1 to 1,000,000");
        }
        if http
            .header_read_timeout_ms
            .is_some_and(|t| !(100..=600_000).contains(&t))
        {
            bail!("http.header_read_timeout_ms must be from 100 to 600,000");
        }
        if http.shutdown_grace_ms.is_some_and(|t| t > 600_000) {
            bail!("http.shutdown_grace_ms must be at most 600,000");
        }
        if file
            .periodic
            .max_per_brand
            .is_some_and(|n| !(1..=taskcore_core::MAX_PERIODIC_PER_BRAND).contains(&n))
        {
            bail!("periodic.max_per_brand must be from 1 to 10,000");
        }
        let log_format = file.log.format;
        let tls = match (file.tls.cert_file, file.tls.key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert, key)),
            _ => bail!("tls.cert_file and tls.key_file go together: set both or neither"),
        };
        let p = file.peer_tls;
        let peer_tls = match (p.ca_file, p.cert_file, p.key_file) {
            (None, None, None) => None,
            (Some(ca), Some(cert), Some(key)) => {
                Some(taskcore_cluster::peer_tls::PeerTlsFiles { ca, cert, key })
            }
            _ => bail!(
                "peer_tls.ca_file, peer_tls.cert_file and peer_tls.key_file go together: set all three or none"
            ),
        };
        Ok(NodeConfig {
            node_id: flags.node_id.or(file.node_id).unwrap_or(1),
            http_addr: flags
                .http_addr
                .or(file.http_addr)
                .unwrap_or(([127, 0, 0, 1], 8080).into()),
            raft_addr: flags
                .raft_addr
                .or(file.raft_addr)
                .unwrap_or(([127, 0, 0, 1], 9080).into()),
            data_dir: flags
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| "./data".into()),
            cluster_secret,
            init: flags.init || flags.dev || file.init.unwrap_or(false),
            raft: file.raft,
            auth,
            task_types: types,
            execution,
            retention: file.retention,
            http,
            periodic: file.periodic,
            tls,
            peer_tls,
            dev: flags.dev,
            log_filter: file
                .log
                .filter
                .unwrap_or_else(|| "info,openraft=warn".into()),
            log_json: log_format.as_deref() == Some("json"),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

fn resolve_auth(section: &AuthSection) -> anyhow::Result<AuthConfig> {
    let public_key = match &section.jwt_public_key_file {
        None => None,
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the JWT public key {}", path.display()))?;
            let alg = match section.jwt_algorithm.as_deref().unwrap_or("RS256") {
                "RS256" => jsonwebtoken::Algorithm::RS256,
                "ES256" => jsonwebtoken::Algorithm::ES256,
                other => bail!("auth.jwt_algorithm must be RS256 or ES256, not {other}"),
            };
            Some((alg, pem))
        }
    };
    Ok(AuthConfig {
        hs256_secret: section.jwt_secret.clone(),
        public_key,
        issuer: section.issuer.clone(),
        audience: section.audience.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_dev_and_without_a_secret_the_node_refuses_to_start() {
        if env("TASKCORE_JWT_SECRET").is_some() {
            return; // the environment provides one; nothing to check here
        }
        let err = NodeConfig::resolve(&Overrides::default()).unwrap_err();
        assert!(
            err.to_string().contains("no JWT secret configured"),
            "{err}"
        );
        let dev = NodeConfig::resolve(&Overrides {
            dev: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(dev.http_addr, "127.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn outside_dev_a_weak_secret_stops_the_start_and_dev_takes_any() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let good = "5b0c9e1d7f2a4b6c8d0e1f2a3b4c5d6e";
        let resolve = |jwt: &str, cluster: &str, dev: bool| {
            std::fs::write(
                &path,
                format!("cluster_secret = \"{cluster}\"\n[auth]\njwt_secret = \"{jwt}\"\n"),
            )
            .unwrap();
            NodeConfig::resolve(&Overrides {
                config: Some(path.clone()),
                dev,
                ..Default::default()
            })
        };
        if env("TASKCORE_JWT_SECRET").is_some() || env("TASKCORE_CLUSTER_SECRET").is_some() {
            return; // the environment overrides the file; nothing to check here
        }
        for (jwt, cluster, setting) in [
            ("change-me-to-a-long-random-secret", good, "JWT secret"),
            ("short", good, "JWT secret"),
            (good, "local-cluster-secret-change-me", "cluster secret"),
            (good, "", "cluster secret"),
        ] {
            let err = format!("{:#}", resolve(jwt, cluster, false).unwrap_err());
            assert!(err.contains(setting), "{jwt:?} {cluster:?}: {err}");
        }
        resolve(good, good, false).unwrap();
        resolve("short", "short", true).unwrap();
    }

    #[test]
    fn the_file_is_read_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "node_id = 3\nhttp_addr = \"127.0.0.1:9000\"\n\
             cluster_secret = \"a3f1c2e4b5d6a7f8091a2b3c4d5e6f70\"\n\
             [auth]\njwt_secret = \"0f1e2d3c4b5a69788796a5b4c3d2e1f0\"\n[tasks]\ntypes = [\"a\", \"b\"]\n\
             [raft]\nheartbeat_ms = 50\n[retention]\nkeep_finished_days = 0.5\n",
        )
        .unwrap();
        let flags = Overrides {
            config: Some(path),
            http_addr: Some("127.0.0.1:9001".parse().unwrap()),
            ..Default::default()
        };
        let c = NodeConfig::resolve(&flags).unwrap();
        assert_eq!(c.node_id, 3);
        assert_eq!(c.http_addr.port(), 9001);
        assert_eq!(c.task_types.0, vec!["a", "b"]);
        assert_eq!(c.raft.heartbeat_ms, Some(50));
        assert_eq!(
            c.retention.keep_finished(),
            Some(std::time::Duration::from_secs(12 * 3600))
        );
        assert!(!c.init);
    }

    #[test]
    fn a_retention_age_out_of_range_is_refused_and_zero_keeps_for_ever() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let resolve = |days: &str| {
            std::fs::write(&path, format!("[retention]\nkeep_finished_days = {days}\n")).unwrap();
            NodeConfig::resolve(&Overrides {
                config: Some(path.clone()),
                dev: true,
                ..Default::default()
            })
        };
        for bad in ["-1", "40000", "nan"] {
            let err = resolve(bad).unwrap_err();
            assert!(
                err.to_string().contains("keep_finished_days"),
                "{bad}: {err}"
            );
        }
        assert_eq!(resolve("0").unwrap().retention.keep_finished(), None);
        let minute = std::time::Duration::from_secs(60);
        assert_eq!(resolve("30").unwrap().retention.min_sweep_gap(), minute);
        let short = resolve("0.0001").unwrap().retention; // 8.64 s
        assert_eq!(short.min_sweep_gap(), std::time::Duration::from_millis(864));
        assert_eq!(
            resolve("30").unwrap().retention.keep_finished(),
            Some(std::time::Duration::from_secs(30 * 86_400))
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "htp_addr = \"127.0.0.1:9000\"\n").unwrap();
        let err = NodeConfig::resolve(&Overrides {
            config: Some(path),
            dev: true,
            ..Default::default()
        });
        assert!(format!("{:#}", err.unwrap_err()).contains("unknown field"));
    }
}
