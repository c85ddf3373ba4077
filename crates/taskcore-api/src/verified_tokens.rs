//! Tokens already verified, so that a client sending the same token with every request pays for
//! its signature once (HMAC or RSA verification was a sixth of a create's instructions).
//!
//! A token is looked up by its exact bytes — header, claims and signature — so a hit is the same
//! token that verified before; what can change with time is checked again on every hit: `exp`
//! and `nbf`, with the same leeway. The cache lives in the [`crate::AuthKeys`] it belongs to, so
//! new keys start with an empty one. It holds at most [`MAX_TOKENS`]; full, it is emptied.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{ApiError, Claims};

/// The most tokens remembered.
pub const MAX_TOKENS: usize = 4096;

/// When a token is valid: `exp` and `nbf`, seconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) exp: u64,
    pub(crate) nbf: Option<u64>,
}

impl Window {
    /// Whether the token is valid at `now`, give or take `leeway` seconds.
    pub(crate) fn check(&self, now: u64, leeway: u64) -> Result<(), ApiError> {
        if now > self.exp.saturating_add(leeway) {
            return Err(ApiError::TokenInvalid("token expired".into()));
        }
        if self.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(ApiError::TokenInvalid("token not valid yet".into()));
        }
        Ok(())
    }
}

/// Verified tokens by their text.
#[derive(Debug, Default)]
pub(crate) struct VerifiedTokens {
    tokens: Mutex<HashMap<String, (Claims, Window)>>,
}

impl VerifiedTokens {
    /// The caller of `token` and its window, if it verified before.
    pub(crate) fn get(&self, token: &str) -> Option<(Claims, Window)> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.get(token).cloned()
    }

    /// Remembers a token that just verified.
    pub(crate) fn put(&self, token: &str, claims: Claims, window: Window) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MAX_TOKENS {
            tokens.clear();
        }
        tokens.insert(token.to_owned(), (claims, window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_allows_the_leeway_on_both_sides() {
        let w = Window {
            exp: 1_000,
            nbf: Some(500),
        };
        assert!(w.check(1_030, 30).is_ok());
        assert!(w.check(1_031, 30).is_err());
        assert!(w.check(470, 30).is_ok());
        assert!(w.check(469, 30).is_err());
        assert!(Window { exp: 10, nbf: None }.check(0, 0).is_ok());
    }
}
