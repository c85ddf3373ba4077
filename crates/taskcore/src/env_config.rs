//! Every configuration key from the environment: `TASKCORE_` and the key's path in capitals,
//! sections separated by a double underscore (`raft.heartbeat_ms` is
//! `TASKCORE_RAFT__HEARTBEAT_MS`). The environment wins over the file and loses to flags.
//!
//! Only the keys listed in [`KEYS`] are read (other `TASKCORE_` variables belong to other
//! tools: `TASKCORE_TOKEN`, `TASKCORE_URL`, …), each parsed as its type, with an error that
//! names the variable. The range checks of `NodeConfig::resolve` apply to values from here as
//! to values from the file.

use anyhow::{bail, Context};
use toml::{Table, Value};

/// What a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text (an address, a path, a secret, a filter).
    Str,
    /// A non-negative integer.
    Int,
    /// A number, fractions allowed.
    Float,
    /// `true` or `false` (also `1`/`0`, `yes`/`no`).
    Bool,
    /// Two integers: `300,600` (or `[300, 600]`).
    IntPair,
    /// A comma-separated list of words.
    StrList,
}

/// Every key of the configuration file, its kind and what it sets.
pub const KEYS: &[(&str, Kind, &str)] = &[
    ("node_id", Kind::Int, "this node's id"),
    ("http_addr", Kind::Str, "client address"),
    ("raft_addr", Kind::Str, "peer address"),
    ("data_dir", Kind::Str, "data directory"),
    (
        "cluster_secret",
        Kind::Str,
        "the secret peers prove (at least 32 bytes)",
    ),
    (
        "init",
        Kind::Bool,
        "initialise a one-node cluster on first start",
    ),
    ("raft.heartbeat_ms", Kind::Int, "leader heartbeat period"),
    (
        "raft.election_timeout_ms",
        Kind::IntPair,
        "election timeout range",
    ),
    (
        "raft.snapshot_after_logs",
        Kind::Int,
        "entries applied between snapshots",
    ),
    (
        "raft.logs_to_keep",
        Kind::Int,
        "entries kept below a snapshot",
    ),
    (
        "auth.jwt_secret",
        Kind::Str,
        "HS256 secret (at least 32 bytes)",
    ),
    (
        "auth.jwt_public_key_file",
        Kind::Str,
        "PEM public key for RS256/ES256 tokens",
    ),
    ("auth.jwt_algorithm", Kind::Str, "RS256 or ES256"),
    ("auth.issuer", Kind::Str, "required iss"),
    ("auth.audience", Kind::Str, "required aud"),
    ("tasks.types", Kind::StrList, "accepted task types"),
    ("execution.lease_ttl_ms", Kind::Int, "lease lifetime"),
    ("execution.retry_base_ms", Kind::Int, "first retry back-off"),
    (
        "execution.retry_cap_ms",
        Kind::Int,
        "longest retry back-off",
    ),
    (
        "retention.keep_finished_days",
        Kind::Float,
        "age at which finished tasks are deleted",
    ),
    (
        "http.max_connections",
        Kind::Int,
        "client connections at once",
    ),
    (
        "http.header_read_timeout_ms",
        Kind::Int,
        "time for a request head; idle timeout",
    ),
    (
        "http.shutdown_grace_ms",
        Kind::Int,
        "time a shutdown gives requests under way",
    ),
    (
        "periodic.max_per_brand",
        Kind::Int,
        "periodic tasks per brand",
    ),
    ("log.filter", Kind::Str, "tracing filter"),
    ("log.format", Kind::Str, "text or json"),
    ("tls.cert_file", Kind::Str, "HTTPS certificate chain (PEM)"),
    ("tls.key_file", Kind::Str, "HTTPS private key (PEM)"),
    (
        "peer_tls.ca_file",
        Kind::Str,
        "peer port: the cluster CA (PEM)",
    ),
    (
        "peer_tls.cert_file",
        Kind::Str,
        "peer port: this node's certificate chain (PEM)",
    ),
    (
        "peer_tls.key_file",
        Kind::Str,
        "peer port: its private key (PEM)",
    ),
];

/// Names kept from earlier versions, for the same keys.
const ALIASES: &[(&str, &str)] = &[
    ("TASKCORE_JWT_SECRET", "auth.jwt_secret"),
    ("TASKCORE_LOG", "log.filter"),
    ("TASKCORE_LOG_FORMAT", "log.format"),
];

/// The environment variable of a key: `raft.heartbeat_ms` → `TASKCORE_RAFT__HEARTBEAT_MS`.
pub fn variable(key: &str) -> String {
    format!("TASKCORE_{}", key.replace('.', "__").to_uppercase())
}

fn parse(kind: Kind, name: &str, raw: &str) -> anyhow::Result<Value> {
    let raw = raw.trim();
    let int = |s: &str| {
        s.trim()
            .parse::<u64>()
            .ok()
            .and_then(|v| i64::try_from(v).ok())
            .with_context(|| format!("{name}: expected a non-negative integer, got {s:?}"))
    };
    Ok(match kind {
        Kind::Str => Value::String(raw.to_owned()),
        Kind::Int => Value::Integer(int(raw)?),
        Kind::Float => Value::Float(
            raw.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .with_context(|| format!("{name}: expected a number, got {raw:?}"))?,
        ),
        Kind::Bool => Value::Boolean(match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => bail!("{name}: expected true or false, got {raw:?}"),
        }),
        Kind::IntPair => {
            let inner = raw.trim_start_matches('[').trim_end_matches(']');
            let parts: Vec<&str> = inner.split(',').collect();
            if parts.len() != 2 {
                bail!("{name}: expected two integers such as 300,600, got {raw:?}");
            }
            Value::Array(vec![
                Value::Integer(int(parts[0])?),
                Value::Integer(int(parts[1])?),
            ])
        }
        Kind::StrList => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
    })
}

fn set(table: &mut Table, key: &str, value: Value) -> anyhow::Result<()> {
    match key.split_once('.') {
        None => {
            table.insert(key.to_owned(), value);
        }
        Some((section, rest)) => {
            let entry = table
                .entry(section.to_owned())
                .or_insert_with(|| Value::Table(Table::new()));
            let Value::Table(inner) = entry else {
                bail!("{section} in the configuration file is not a section");
            };
            set(inner, rest, value)?;
        }
    }
    Ok(())
}

/// Puts every configuration key `lookup` (the environment, in production) gives over `table`
/// (the file). An empty value counts as unset.
///
/// # Errors
/// A value that is not of its key's kind, named by its variable.
pub fn overlay(table: &mut Table, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let aliases = ALIASES.iter().map(|(name, key)| ((*name).to_owned(), *key));
    let names = KEYS.iter().map(|(key, _, _)| (variable(key), *key));
    // Aliases first, so that the full name wins when both are set.
    for (name, key) in aliases.chain(names) {
        let Some(raw) = lookup(&name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let kind = KEYS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(Kind::Str, |(_, kind, _)| *kind);
        set(table, key, parse(kind, &name, &raw)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn every_kind_of_key_comes_from_its_variable() {
        let mut t: Table = toml::from_str("node_id = 3\n[raft]\nheartbeat_ms = 100\n").unwrap();
        overlay(
            &mut t,
            env(&[
                ("TASKCORE_RAFT__HEARTBEAT_MS", "50"),
                ("TASKCORE_RAFT__ELECTION_TIMEOUT_MS", "300, 600"),
                ("TASKCORE_HTTP_ADDR", "0.0.0.0:8080"),
                ("TASKCORE_INIT", "yes"),
                ("TASKCORE_TASKS__TYPES", "a, b,"),
                ("TASKCORE_RETENTION__KEEP_FINISHED_DAYS", "0.5"),
                ("TASKCORE_TOKEN", "not a configuration key"),
            ]),
        )
        .unwrap();
        let expected: Table = toml::from_str(
            "node_id = 3\nhttp_addr = \"0.0.0.0:8080\"\ninit = true\n\
             [raft]\nheartbeat_ms = 50\nelection_timeout_ms = [300, 600]\n\
             [tasks]\ntypes = [\"a\", \"b\"]\n[retention]\nkeep_finished_days = 0.5\n",
        )
        .unwrap();
        assert_eq!(t, expected);
    }

    #[test]
    fn the_full_name_wins_over_an_alias_and_empty_is_unset() {
        let mut t = Table::new();
        overlay(
            &mut t,
            env(&[
                ("TASKCORE_JWT_SECRET", "old-name"),
                ("TASKCORE_AUTH__JWT_SECRET", "new-name"),
                ("TASKCORE_NODE_ID", ""),
            ]),
        )
        .unwrap();
        assert_eq!(t["auth"]["jwt_secret"].as_str(), Some("new-name"));
        assert!(!t.contains_key("node_id"));
    }

    #[test]
    fn a_value_of_the_wrong_kind_names_its_variable() {
        for (name, raw) in [
            ("TASKCORE_RAFT__HEARTBEAT_MS", "fast"),
            ("TASKCORE_INIT", "maybe"),
            ("TASKCORE_RAFT__ELECTION_TIMEOUT_MS", "300"),
            ("TASKCORE_NODE_ID", "-1"),
            ("TASKCORE_RETENTION__KEEP_FINISHED_DAYS", "inf"),
        ] {
            let e = overlay(&mut Table::new(), env(&[(name, raw)])).unwrap_err();
            assert!(e.to_string().starts_with(name), "{e}");
        }
    }

    #[test]
    fn every_key_is_a_key_of_the_file() {
        // Each key, set from its variable, is accepted by the file's parser.
        for (key, kind, _) in KEYS {
            let raw = match kind {
                Kind::Str => "x",
                Kind::Int => "1",
                Kind::Float => "1.5",
                Kind::Bool => "true",
                Kind::IntPair => "1,2",
                Kind::StrList => "a",
            };
            let raw = match *key {
                "http_addr" | "raft_addr" => "127.0.0.1:1",
                _ => raw,
            };
            let mut t = Table::new();
            overlay(&mut t, env(&[(&variable(key), raw)])).unwrap();
            let parsed: Result<crate::config::FileConfig, _> = t.try_into();
            assert!(parsed.is_ok(), "{key}: {parsed:?}");
        }
    }

    #[test]
    fn the_readme_lists_every_variable() {
        let readme = include_str!("../../../README.md");
        for (key, _, _) in KEYS {
            assert!(readme.contains(&format!("`{}`", variable(key))), "{key}");
        }
    }
}
