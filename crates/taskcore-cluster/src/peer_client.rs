//! Calls to peers: a pool of authenticated connections per address.
//!
//! A connection is used only after the peer proved it knows the cluster secret (see
//! `handshake`): a request is never sent to an address that could not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::peer_tls::PeerStream;

use crate::wire::{encode_frame, read_frame, write_encoded, PeerRequest, PeerResponse, WireError};

/// Idle connections kept per peer.
const IDLE_PER_PEER: usize = 16;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Nothing was sent: the peer could not be reached, or the handshake failed.
    #[error("unreachable: {0}")]
    Unreachable(WireError),
    /// The request was sent but no answer came: it may or may not have been served.
    #[error("no answer: {0}")]
    NoAnswer(WireError),
    /// The deadline passed (the request may have been served).
    #[error("timed out")]
    Timeout,
    /// The request is larger than a frame: nothing was sent.
    #[error("request of {0} bytes is larger than a frame")]
    TooLarge(u32),
}

/// A cheap, clonable client of every peer.
#[derive(Clone)]
pub struct PeerClient {
    me: crate::identity::Credentials,
    idle: Arc<Mutex<HashMap<String, Vec<PeerStream>>>>,
}

impl PeerClient {
    /// A client that authenticates with `me`.
    pub fn new(me: crate::identity::Credentials) -> Self {
        PeerClient {
            me,
            idle: Arc::default(),
        }
    }

    /// Sends one request to the peer at `addr` and waits for its answer until `timeout`.
    ///
    /// # Errors
    /// [`CallError`]: whether the request may have been served is part of the error.
    pub async fn call(
        &self,
        addr: &str,
        req: &PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        let body = encode_frame(req).map_err(CallError::Unreachable)?;
        self.call_encoded(addr, &body, timeout).await
    }

    /// [`PeerClient::call`] with a request already encoded (by [`encode_frame`]).
    ///
    /// # Errors
    /// [`CallError`]: whether the request may have been served is part of the error.
    pub async fn call_encoded(
        &self,
        addr: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        let attempt = async {
            let mut stream = match self.take_idle(addr) {
                Some(s) => s,
                None => self.connect(addr).await.map_err(CallError::Unreachable)?,
            };
            match write_encoded(&mut stream, body).await {
                Ok(()) => {}
                // Refused before a byte was written: the connection is still clean.
                Err(WireError::TooLarge(n)) => {
                    self.put_idle(addr, stream);
                    return Err(CallError::TooLarge(n));
                }
                Err(e) => return Err(CallError::NoAnswer(e)),
            }
            let answer: PeerResponse =
                read_frame(&mut stream).await.map_err(CallError::NoAnswer)?;
            self.put_idle(addr, stream);
            Ok(answer)
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }

    async fn connect(&self, addr: &str) -> Result<PeerStream, WireError> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut stream = match &self.me.tls {
            None => PeerStream::Plain(tcp),
            Some(tls) => tls
                .connect(addr, tcp)
                .await
                .map_err(|e| WireError::Refused(format!("TLS with {addr}: {e}")))?,
        };
        crate::handshake::dial(&mut stream, &self.me).await?;
        Ok(stream)
    }

    /// An idle connection that the peer has not closed.
    fn take_idle(&self, addr: &str) -> Option<PeerStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.get_mut(addr)?;
        while let Some(stream) = conns.pop() {
            // An idle connection has nothing to read: readable means closed (or broken).
            let mut probe = [0u8; 1];
            match stream.tcp().try_read(&mut probe) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(stream),
                _ => continue,
            }
        }
        None
    }

    fn put_idle(&self, addr: &str, stream: PeerStream) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.entry(addr.to_owned()).or_default();
        if conns.len() < IDLE_PER_PEER {
            conns.push(stream);
        }
    }

    /// Opens an authenticated connection to `addr` and keeps it for the next call.
    ///
    /// # Errors
    /// The peer cannot be reached, or the handshake failed (another secret, another cluster,
    /// another protocol: [`WireError::Refused`] says which).
    pub async fn probe(&self, addr: &str, timeout: Duration) -> Result<(), WireError> {
        let stream = tokio::time::timeout(timeout, self.connect(addr))
            .await
            .map_err(|_| WireError::Malformed("no handshake in time".into()))??;
        self.put_idle(addr, stream);
        Ok(())
    }

    /// Forgets every idle connection to `addr` (after the peer went away).
    pub fn forget(&self, addr: &str) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(addr);
    }
}
