//! TLS on the client port (rustls, ring): a certificate chain and its key from PEM files (read as
//! the peer port reads them, `taskcore_cluster::peer_tls`),
//! reloaded without a restart — on `SIGHUP` (the binary calls [`TlsFiles::reload`]) and when
//! either file changes (checked every few seconds). A reload that fails (a half-written file,
//! a key that does not match) keeps the certificate in use and logs why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use taskcore_cluster::peer_tls::{read_certificates, read_private_key};

/// How often the files are checked for a change.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file that cannot be read, no certificate, no key, or one rustls refuses.
    #[error("{0}")]
    Invalid(String),
}

/// The certificate chain and key files, and the configuration made from them.
#[derive(Clone)]
pub struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<RwLock<Arc<ServerConfig>>>,
    stamp: Arc<RwLock<Option<(SystemTime, SystemTime)>>>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A server configuration from PEM files (HTTP/1.1 over TLS 1.2 or 1.3).
fn load(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain = read_certificates(cert).map_err(TlsError::Invalid)?;
    let key_der = read_private_key(key).map_err(TlsError::Invalid)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| TlsError::Invalid(format!("the certificate and the key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl TlsFiles {
    /// Loads the certificate chain and the key.
    ///
    /// # Errors
    /// A file that cannot be read, or that holds no usable certificate or key.
    pub fn open(cert: &Path, key: &Path) -> Result<TlsFiles, TlsError> {
        let config = load(cert, key)?;
        Ok(TlsFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: Arc::new(RwLock::new(Arc::new(config))),
            stamp: Arc::new(RwLock::new(modified(cert).zip(modified(key)))),
        })
    }

    /// The configuration for the next connection.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads the files again; keeps the current configuration when that fails.
    ///
    /// # Errors
    /// Why the files could not be used (the old certificate stays).
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamp = modified(&self.cert).zip(modified(&self.key));
        let config = load(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        *self.stamp.write().unwrap_or_else(|e| e.into_inner()) = stamp;
        tracing::info!(cert = %self.cert.display(), "TLS certificate loaded");
        Ok(())
    }

    /// Reloads whenever either file's modification time changes, until the task is aborted.
    pub async fn watch(self) {
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            let now = modified(&self.cert).zip(modified(&self.key));
            let seen = *self.stamp.read().unwrap_or_else(|e| e.into_inner());
            if now.is_some() && now != seen {
                if let Err(e) = self.reload() {
                    tracing::error!(error = %e, "the changed TLS files cannot be used; the previous certificate stays");
                    *self.stamp.write().unwrap_or_else(|e| e.into_inner()) = now;
                }
            }
        }
    }
}
