//! Development mode: a JWT secret kept in the data directory and a ready-to-use admin token.

use std::path::Path;

use anyhow::Context;
use rand::RngCore;
use serde_json::json;

/// How long the printed development token lives.
const DEV_TOKEN_DAYS: u64 = 30;

/// A development secret kept in the data directory under `name`, made on first use, so that
/// tokens printed earlier stay valid across restarts.
///
/// # Errors
/// The file cannot be read or written.
pub fn dev_secret(data_dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = data_dir.join(name);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        let secret = secret.trim().to_owned();
        if !secret.is_empty() {
            return Ok(secret);
        }
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    std::fs::write(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
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
