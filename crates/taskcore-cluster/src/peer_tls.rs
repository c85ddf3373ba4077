//! Mutual TLS on the peer port (rustls, ring): every node presents a certificate signed by the
//! cluster's CA and accepts only peers that do. The HMAC handshake of [`crate::handshake`] runs
//! inside the TLS session, so a peer needs both a CA-signed certificate and the cluster secret,
//! and every frame after it is encrypted and authenticated.
//!
//! A node dials a peer by the host of its `raft_addr`: the peer's certificate must name that host
//! (an IP address or DNS subject alternative name). Certificates are loaded from PEM files at
//! start and again by [`PeerTls::reload`] (the binary calls it on `SIGHUP`); a reload that fails
//! keeps the certificates in use.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The three PEM files of a node's peer TLS.
#[derive(Clone, Debug)]
pub struct PeerTlsFiles {
    /// The cluster CA's certificate(s): peers must present a certificate one of them signed.
    pub ca: PathBuf,
    /// This node's certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

struct Configs {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// The peer port's TLS configuration, swapped whole on reload.
#[derive(Clone)]
pub struct PeerTls {
    files: PeerTlsFiles,
    current: Arc<RwLock<Arc<Configs>>>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls")
            .field("files", &self.files)
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every PEM certificate in `path` (a chain: leaf first), at least one.
///
/// # Errors
/// The file cannot be read, or holds no PEM certificate; the message names the file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// The PEM private key in `path` (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// The file cannot be read, or holds no usable key; the message names the file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("{}: no usable PEM private key: {e}", path.display()))
}

fn load(files: &PeerTlsFiles) -> Result<Configs, String> {
    let mut roots = RootCertStore::empty();
    for ca in read_certificates(&files.ca)? {
        roots
            .add(ca)
            .map_err(|e| format!("{}: {e}", files.ca.display()))?;
    }
    let roots = Arc::new(roots);
    let chain = read_certificates(&files.cert)?;
    let key = read_private_key(&files.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| format!("the cluster CA: {e}"))?;
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| format!("the certificate and the key: {e}"))?;
    // Nothing may arrive on an idle pooled connection (see `peer_client`): no session tickets.
    server.send_tls13_tickets = 0;
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("the certificate and the key: {e}"))?;
    Ok(Configs {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

impl PeerTls {
    /// Loads the CA, the certificate chain and the key.
    ///
    /// # Errors
    /// A file that cannot be read or holds nothing usable, or a key that does not match.
    pub fn open(files: PeerTlsFiles) -> Result<PeerTls, String> {
        let configs = load(&files)?;
        Ok(PeerTls {
            files,
            current: Arc::new(RwLock::new(Arc::new(configs))),
        })
    }

    /// Loads the files again for the next connections; keeps the current ones when that fails.
    ///
    /// # Errors
    /// Why the files could not be used.
    pub fn reload(&self) -> Result<(), String> {
        let configs = load(&self.files)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(configs);
        tracing::info!(cert = %self.files.cert.display(), "peer TLS certificates loaded");
        Ok(())
    }

    fn configs(&self) -> Arc<Configs> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Opens TLS as the client on a connection to `addr` (`host:port`; the certificate must
    /// name the host).
    pub(crate) async fn connect(&self, addr: &str, tcp: TcpStream) -> io::Result<PeerStream> {
        let host = host_of(addr);
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
        let tls = TlsConnector::from(self.configs().client.clone())
            .connect(name, tcp)
            .await?;
        Ok(PeerStream::Client(Box::new(tls)))
    }

    /// Opens TLS as the server on an accepted connection.
    pub(crate) async fn accept(&self, tcp: TcpStream) -> io::Result<PeerStream> {
        let tls = TlsAcceptor::from(self.configs().server.clone())
            .accept(tcp)
            .await?;
        Ok(PeerStream::Server(Box::new(tls)))
    }
}

/// The host of `host:port` (an IPv6 address without its brackets).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A peer connection: plain TCP, or TLS as either end.
pub enum PeerStream {
    /// No TLS on the peer port.
    Plain(TcpStream),
    /// This node dialled.
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// This node accepted.
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl PeerStream {
    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            PeerStream::Plain(s) => s,
            PeerStream::Client(s) => s.get_ref().0,
            PeerStream::Server(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Client(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            PeerStream::Server(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PeerStream::Client(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            PeerStream::Server(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Client(s) => Pin::new(s.as_mut()).poll_flush(cx),
            PeerStream::Server(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::Client(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            PeerStream::Server(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_host_is_what_precedes_the_port() {
        assert_eq!(host_of("10.0.0.1:9080"), "10.0.0.1");
        assert_eq!(host_of("node-2.taskcore:9080"), "node-2.taskcore");
        assert_eq!(host_of("[::1]:9080"), "::1");
    }
}
