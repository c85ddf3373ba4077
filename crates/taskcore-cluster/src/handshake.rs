//! The peer handshake: both ends prove they know the cluster secret without sending it, and
//! tell which cluster they belong to.
//!
//! ```text
//! dialler → listener   HelloWithCluster { protocol, nonce: a, cluster: c_d }
//! listener → dialler   ChallengeWithCluster { nonce: b, cluster: c_l,
//!                                             proof: HMAC(secret, "listener" ‖ a ‖ b ‖ c_d ‖ c_l) }
//! dialler → listener   Proof(HMAC(secret, "dialler" ‖ a ‖ b ‖ c_d ‖ c_l))
//! listener → dialler   Welcome | Refused
//! ```
//!
//! Each side draws a fresh 32-byte nonce per connection, so a proof recorded on one connection
//! proves nothing on another (a replayed greeting is refused), and the two directions use
//! different labels, so a proof cannot be reflected back. The dialler checks the listener's
//! proof before it sends anything else: an address that does not know the secret (a learner
//! added at an address someone else owns) learns nothing and is sent no request. Every
//! handshake frame is read under [`GREETING_CAP`], before anything larger is believed.
//!
//! The cluster ids (see [`crate::identity`]) are covered by both proofs; each end checks the
//! other's once its proof holds: two ids that differ end the handshake, and a node of no
//! cluster yet adopts its peer's.
//!
//! The frames after the handshake are neither encrypted nor authenticated one by one on a plain
//! TCP peer port: someone who can rewrite traffic on the peer network can still take over a
//! connection. Mutual TLS on the peer port ([`crate::peer_tls`]) closes that.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::identity::{ClusterId, Credentials};
use crate::wire::{read_frame_capped, write_frame, WireError};

/// The version of the peer protocol (the frames after the handshake). A node refuses a peer of
/// another version with a message that says so.
pub const PROTOCOL: u32 = 3;

/// Largest handshake frame accepted (the real ones are under 100 bytes).
pub const GREETING_CAP: u32 = 256;

/// A connection's random challenge.
pub type Nonce = [u8; 32];
/// An HMAC-SHA256 tag.
pub type Tag = [u8; 32];

/// What the dialler sends during the handshake. Sent between nodes: append-only.
#[derive(Debug, Serialize, Deserialize)]
pub enum Greeting {
    /// The first protocol's greeting, which carried the secret itself; always refused.
    Legacy {
        /// What an old node sent (never compared, never logged).
        secret: String,
    },
    /// Opens the handshake.
    Hello {
        /// The dialler's [`PROTOCOL`].
        protocol: u32,
        /// The dialler's challenge.
        nonce: Nonce,
    },
    /// The dialler's answer to the listener's challenge.
    Proof(Tag),
    /// Opens the handshake (protocol 3 on).
    HelloWithCluster {
        /// The dialler's [`PROTOCOL`].
        protocol: u32,
        /// The dialler's challenge.
        nonce: Nonce,
        /// The dialler's cluster, if it belongs to one yet.
        cluster: Option<ClusterId>,
    },
}

/// What the listener answers during the handshake. Sent between nodes: append-only.
#[derive(Debug, Serialize, Deserialize)]
pub enum GreetingReply {
    /// The listener's challenge and its proof for the dialler's.
    Challenge {
        /// The listener's challenge.
        nonce: Nonce,
        /// `HMAC(secret, "listener" ‖ dialler's nonce ‖ listener's nonce)`.
        proof: Tag,
    },
    /// The dialler proved it knows the secret.
    Welcome,
    /// The handshake failed; why, in words.
    Refused(String),
    /// The listener's challenge, cluster and proof (protocol 3 on).
    ChallengeWithCluster {
        /// The listener's challenge.
        nonce: Nonce,
        /// The listener's cluster, if it belongs to one yet.
        cluster: Option<ClusterId>,
        /// `HMAC(secret, "listener" ‖ dialler's nonce ‖ listener's nonce ‖ both clusters)`.
        proof: Tag,
    },
}

const LISTENER: &[u8] = b"taskcore peer handshake v3: listener";
const DIALLER: &[u8] = b"taskcore peer handshake v3: dialler";

/// What both proofs of one connection are computed over.
struct Transcript {
    dialler: Nonce,
    listener: Nonce,
    dialler_cluster: Option<ClusterId>,
    listener_cluster: Option<ClusterId>,
}

impl Transcript {
    /// The HMAC of one direction's proof.
    fn keyed(&self, secret: &[u8], label: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        mac.update(label);
        mac.update(&self.dialler);
        mac.update(&self.listener);
        for cluster in [&self.dialler_cluster, &self.listener_cluster] {
            match cluster {
                None => mac.update(&[0]),
                Some(id) => {
                    mac.update(&[1]);
                    mac.update(id);
                }
            }
        }
        mac
    }

    fn tag(&self, secret: &[u8], label: &[u8]) -> Tag {
        self.keyed(secret, label).finalize().into_bytes().into()
    }

    /// Checks `claimed` against the tag in constant time.
    fn verify(&self, secret: &[u8], label: &[u8], claimed: &Tag) -> bool {
        self.keyed(secret, label).verify_slice(claimed).is_ok()
    }
}

/// Runs the dialler's side: returns once both ends have proved they know the secret and
/// belong to the same cluster (this node adopts the listener's if it has none yet).
///
/// # Errors
/// [`WireError::Refused`] when the listener does not prove it knows the secret, belongs to
/// another cluster, or refuses this node; [`WireError::Io`] or [`WireError::Malformed`] on a
/// broken exchange.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    me: &Credentials,
) -> Result<(), WireError> {
    let ours: Nonce = rand::random();
    let cluster = me.identity.get();
    let hello = Greeting::HelloWithCluster {
        protocol: PROTOCOL,
        nonce: ours,
        cluster,
    };
    write_frame(stream, &hello).await?;
    let (theirs, their_cluster, proof) = match read_frame_capped(stream, GREETING_CAP).await? {
        GreetingReply::ChallengeWithCluster {
            nonce,
            cluster,
            proof,
        } => (nonce, cluster, proof),
        GreetingReply::Refused(why) => return Err(WireError::Refused(why)),
        GreetingReply::Challenge { .. } => {
            return Err(WireError::Refused(format!(
                "the peer speaks protocol 2, this node {PROTOCOL}: upgrade every node"
            )))
        }
        GreetingReply::Welcome => {
            return Err(WireError::Malformed("welcome before any proof".into()))
        }
    };
    let transcript = Transcript {
        dialler: ours,
        listener: theirs,
        dialler_cluster: cluster,
        listener_cluster: their_cluster,
    };
    let secret = me.secret.as_bytes();
    if !transcript.verify(secret, LISTENER, &proof) {
        return Err(WireError::Refused(
            "the peer did not prove it knows the cluster secret".into(),
        ));
    }
    me.identity
        .check(their_cluster)
        .map_err(WireError::Refused)?;
    let answer = transcript.tag(secret, DIALLER);
    write_frame(stream, &Greeting::Proof(answer)).await?;
    match read_frame_capped(stream, GREETING_CAP).await? {
        GreetingReply::Welcome => Ok(()),
        GreetingReply::Refused(why) => Err(WireError::Refused(why)),
        GreetingReply::Challenge { .. } | GreetingReply::ChallengeWithCluster { .. } => {
            Err(WireError::Malformed("a second challenge".into()))
        }
    }
}

/// Runs the listener's side: returns once the dialler proved it knows the secret and belongs
/// to this node's cluster (this node adopts the dialler's if it has none yet).
///
/// # Errors
/// [`WireError::Refused`] when the dialler speaks another protocol, fails its proof or belongs
/// to another cluster (it has been told so); [`WireError::Io`] or [`WireError::Malformed`] on a
/// broken exchange.
pub async fn listen<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    me: &Credentials,
) -> Result<(), WireError> {
    let (theirs, their_cluster) = match read_frame_capped(stream, GREETING_CAP).await? {
        Greeting::HelloWithCluster {
            protocol,
            nonce,
            cluster,
        } if protocol == PROTOCOL => (nonce, cluster),
        Greeting::HelloWithCluster { protocol, .. } | Greeting::Hello { protocol, .. } => {
            return refuse(
                stream,
                format!(
                    "peer protocol {protocol}, this node speaks {PROTOCOL}: upgrade every node"
                ),
            )
            .await
        }
        Greeting::Legacy { .. } => {
            return refuse(
                stream,
                format!("peer protocol 1, this node speaks {PROTOCOL}: upgrade every node"),
            )
            .await
        }
        Greeting::Proof(_) => return refuse(stream, "a proof before any challenge".into()).await,
    };
    let ours: Nonce = rand::random();
    let cluster = me.identity.get();
    let transcript = Transcript {
        dialler: theirs,
        listener: ours,
        dialler_cluster: their_cluster,
        listener_cluster: cluster,
    };
    let secret = me.secret.as_bytes();
    let proof = transcript.tag(secret, LISTENER);
    let challenge = GreetingReply::ChallengeWithCluster {
        nonce: ours,
        cluster,
        proof,
    };
    write_frame(stream, &challenge).await?;
    match read_frame_capped(stream, GREETING_CAP).await? {
        Greeting::Proof(claimed) if transcript.verify(secret, DIALLER, &claimed) => {
            match me.identity.check(their_cluster) {
                Ok(()) => write_frame(stream, &GreetingReply::Welcome).await,
                Err(why) => refuse(stream, why).await,
            }
        }
        _ => refuse(stream, "wrong cluster secret".into()).await,
    }
}

async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, why: String) -> Result<(), WireError> {
    write_frame(stream, &GreetingReply::Refused(why.clone())).await?;
    Err(WireError::Refused(why))
}

#[cfg(test)]
mod tests;
