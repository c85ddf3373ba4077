//! The checks a secret passes before a node outside `--dev` starts with it.
//!
//! Whoever knows the JWT secret can mint admin tokens; whoever knows the cluster secret can
//! join the peer network. An empty, short or published secret is as good as none, so a node
//! refuses to start with one and says how to make a real one.

use anyhow::bail;

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Secrets that appear in this repository's examples or are common placeholders.
const EXAMPLES: [&str; 6] = [
    "change-me",
    "change-me-to-a-long-random-secret",
    "local-cluster-secret-change-me",
    "local-jwt-secret-change-me",
    "secret",
    "changeme",
];

/// Checks the secret configured as `setting`.
///
/// # Errors
/// A secret that is shorter than [`MIN_SECRET_BYTES`], a known example or placeholder, or made
/// of one repeated character; the message says how to make a good one.
pub fn check_secret(setting: &str, secret: &str) -> anyhow::Result<()> {
    const HOW: &str = "make one with `openssl rand -hex 32` (or `head -c 32 /dev/urandom | \
                       base64`), or start with --dev for a local node";
    let lower = secret.trim().to_ascii_lowercase();
    if EXAMPLES.contains(&lower.as_str())
        || lower.contains("change-me")
        || lower.contains("changeme")
    {
        bail!("{setting} is an example secret that anyone can read; {HOW}");
    }
    if secret.len() < MIN_SECRET_BYTES {
        bail!(
            "{setting} is too short ({} bytes; at least {MIN_SECRET_BYTES}): {HOW}",
            secret.len()
        );
    }
    let mut chars = secret.chars();
    if let Some(first) = chars.next() {
        if chars.all(|c| c == first) {
            bail!("{setting} is one character repeated; {HOW}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_example_and_repeated_secrets_are_refused_with_a_way_out() {
        for (bad, why) in [
            ("", "too short"),
            ("s3cr3t", "too short"),
            ("change-me-to-a-long-random-secret", "example"),
            ("local-cluster-secret-change-me", "example"),
            (
                "my-own-CHANGEME-but-long-enough-to-pass-the-length",
                "example",
            ),
            (&"a".repeat(64), "repeated"),
        ] {
            let err = check_secret("auth.jwt_secret", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(
                err.contains("auth.jwt_secret") && err.contains("openssl rand"),
                "{err}"
            );
        }
        check_secret("cluster_secret", "9f2c1e0b7a6d4c3b2a1908f7e6d5c4b3a2918070").unwrap();
    }
}
