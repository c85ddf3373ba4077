//! The peer handshake: both ends prove they know the cluster secret without sending it.
//!
//! ```text
//! dialler → listener   Hello { protocol, nonce: a }
//! listener → dialler   Challenge { nonce: b, proof: HMAC(secret, "listener" ‖ a ‖ b) }
//! dialler → listener   Proof(HMAC(secret, "dialler" ‖ a ‖ b))
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
//! The frames after the handshake are neither encrypted nor authenticated one by one: someone
//! who can rewrite traffic on the peer network can still take over a connection. TLS between
//! nodes is what closes that (see the README's security model).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::wire::{read_frame_capped, write_frame, WireError};

/// The version of the peer protocol (the frames after the handshake). A node refuses a peer of
/// another version with a message that says so.
pub const PROTOCOL: u32 = 2;

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
}

const LISTENER: &[u8] = b"taskcore peer handshake v2: listener";
const DIALLER: &[u8] = b"taskcore peer handshake v2: dialler";

/// The HMAC of one direction's proof, over both nonces.
fn keyed(secret: &[u8], label: &[u8], dialler: &Nonce, listener: &Nonce) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(label);
    mac.update(dialler);
    mac.update(listener);
    mac
}

fn tag(secret: &[u8], label: &[u8], dialler: &Nonce, listener: &Nonce) -> Tag {
    keyed(secret, label, dialler, listener)
        .finalize()
        .into_bytes()
        .into()
}

/// Checks `claimed` against the tag in constant time.
fn verify(secret: &[u8], label: &[u8], dialler: &Nonce, listener: &Nonce, claimed: &Tag) -> bool {
    keyed(secret, label, dialler, listener)
        .verify_slice(claimed)
        .is_ok()
}

/// Runs the dialler's side: returns once both ends have proved they know `secret`.
///
/// # Errors
/// [`WireError::Refused`] when the listener does not prove it knows the secret or refuses this
/// node's proof; [`WireError::Io`] or [`WireError::Malformed`] on a broken exchange.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &str,
) -> Result<(), WireError> {
    let ours: Nonce = rand::random();
    let hello = Greeting::Hello {
        protocol: PROTOCOL,
        nonce: ours,
    };
    write_frame(stream, &hello).await?;
    let (theirs, proof) = match read_frame_capped(stream, GREETING_CAP).await? {
        GreetingReply::Challenge { nonce, proof } => (nonce, proof),
        GreetingReply::Refused(why) => return Err(WireError::Refused(why)),
        GreetingReply::Welcome => {
            return Err(WireError::Malformed("welcome before any proof".into()))
        }
    };
    if !verify(secret.as_bytes(), LISTENER, &ours, &theirs, &proof) {
        return Err(WireError::Refused(
            "the peer did not prove it knows the cluster secret".into(),
        ));
    }
    let answer = tag(secret.as_bytes(), DIALLER, &ours, &theirs);
    write_frame(stream, &Greeting::Proof(answer)).await?;
    match read_frame_capped(stream, GREETING_CAP).await? {
        GreetingReply::Welcome => Ok(()),
        GreetingReply::Refused(why) => Err(WireError::Refused(why)),
        GreetingReply::Challenge { .. } => Err(WireError::Malformed("a second challenge".into())),
    }
}

/// Runs the listener's side: returns once the dialler proved it knows `secret`.
///
/// # Errors
/// [`WireError::Refused`] when the dialler speaks another protocol or fails its proof (it has
/// been told so); [`WireError::Io`] or [`WireError::Malformed`] on a broken exchange.
pub async fn listen<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &str,
) -> Result<(), WireError> {
    let theirs = match read_frame_capped(stream, GREETING_CAP).await? {
        Greeting::Hello { protocol, nonce } if protocol == PROTOCOL => nonce,
        Greeting::Hello { protocol, .. } => {
            return refuse(
                stream,
                format!("peer protocol {protocol}, this node speaks {PROTOCOL}"),
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
    let proof = tag(secret.as_bytes(), LISTENER, &theirs, &ours);
    write_frame(stream, &GreetingReply::Challenge { nonce: ours, proof }).await?;
    match read_frame_capped(stream, GREETING_CAP).await? {
        Greeting::Proof(claimed)
            if verify(secret.as_bytes(), DIALLER, &theirs, &ours, &claimed) =>
        {
            write_frame(stream, &GreetingReply::Welcome).await
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
