//! Development mode: a JWT secret kept in the data directory and a ready-to-use admin token.

use std::path::Path;

use anyhow::Context;
use rand::RngCore;
use serde_json::json;

/// How long the printed development token lives.
const DEV_TOKEN_DAYS: u64 = 30;

/// A development secret kept in the data directory under `name`, made on first use, so that
/// tokens printed earlier stay valid across restarts. The file is readable by its owner only
/// (mode 0600; a file an older version left readable to others is narrowed).
///
/// # Errors
/// The file cannot be read, written or narrowed.
pub fn dev_secret(data_dir: &Path, name: &str) -> anyhow::Result<String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = data_dir.join(name);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        let secret = secret.trim().to_owned();
        if !secret.is_empty() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot narrow the mode of {}", path.display()))?;
            return Ok(secret);
        }
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        // `mode` applies only when the file is created; an empty one left over may be wider.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(secret.as_bytes())?;
        file.sync_all()
    };
    write().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(secret)
}

/// An admin token for brand 1 ("Default"), valid for thirty days.
///
/// # Errors
/// Signing failed.
pub fn dev_token(secret: &str) -> anyhow::Result<String> {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({
        "sub": "1",
        "username": "dev",
        "brands": [{"id": 1, "name": "Default"}],
        "roles": ["admin", "worker"],
        "iat": now,
        "exp": now + DEV_TOKEN_DAYS * 86_400,
    });
    Ok(taskcore_api::mint_hs256(secret, &claims)?)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn dev_secrets_are_made_once_and_readable_by_their_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = dev_secret(dir.path(), "dev-jwt-secret").unwrap();
        assert_eq!(first.len(), 64);
        let path = dir.path().join("dev-jwt-secret");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        // A file an older version wrote world-readable is narrowed, and its secret kept.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(dev_secret(dir.path(), "dev-jwt-secret").unwrap(), first);
        assert_eq!(mode(&path), 0o600);
    }
}
