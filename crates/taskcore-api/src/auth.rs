//! Authentication (JWT) and tenancy (`X-Brand-ID`) as extractors.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::{ApiError, AppState};

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 30;

/// How tokens are verified.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// The HS256 secret.
    pub hs256_secret: Option<String>,
    /// An RS256 or ES256 public key, PEM.
    pub public_key: Option<(Algorithm, String)>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
}

/// The verification keys, built once from the configuration.
pub struct AuthKeys {
    keys: Vec<(Algorithm, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
    /// Tokens verified before (see [`crate::verified_tokens`]).
    verified: crate::verified_tokens::VerifiedTokens,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<_> = self.keys.iter().map(|(a, _)| a).collect();
        f.debug_struct("AuthKeys")
            .field("algorithms", &algs)
            .finish_non_exhaustive()
    }
}

/// A configuration that cannot verify anything.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// Neither a secret nor a public key.
    #[error("no JWT secret or public key is configured (auth.jwt_secret or TASKCORE_JWT_SECRET)")]
    NoKey,
    /// The public key does not parse, or its algorithm is not RS256/ES256.
    #[error("the JWT public key is not usable: {0}")]
    BadPublicKey(String),
}

impl AuthKeys {
    /// Builds the keys.
    ///
    /// # Errors
    /// No key configured, or a public key that does not parse.
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        let mut keys = Vec::new();
        if let Some(secret) = &config.hs256_secret {
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.as_bytes()),
            ));
        }
        if let Some((alg, pem)) = &config.public_key {
            let key = match alg {
                Algorithm::RS256 => DecodingKey::from_rsa_pem(pem.as_bytes()),
                Algorithm::ES256 => DecodingKey::from_ec_pem(pem.as_bytes()),
                other => {
                    return Err(AuthConfigError::BadPublicKey(format!(
                        "{other:?} is not RS256 or ES256"
                    )))
                }
            }
            .map_err(|e| AuthConfigError::BadPublicKey(e.to_string()))?;
            keys.push((*alg, key));
        }
        if keys.is_empty() {
            return Err(AuthConfigError::NoKey);
        }
        Ok(AuthKeys {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            verified: Default::default(),
        })
    }

    /// Verifies a token and reads the caller from it.
    ///
    /// # Errors
    /// [`ApiError::TokenInvalid`] for a bad signature, algorithm, claim or shape.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        self.verify_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// [`AuthKeys::verify`], with a token seen before checked against `now` (seconds since the
    /// epoch) instead of verified again.
    fn verify_at(&self, token: &str, now: u64) -> Result<Claims, ApiError> {
        if let Some((claims, window)) = self.verified.get(token) {
            window.check(now, LEEWAY_SECONDS)?;
            return Ok(claims);
        }
        let invalid = |why: &str| ApiError::TokenInvalid(why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        let (alg, key) = self
            .keys
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .ok_or_else(|| invalid("token signed with an algorithm that is not accepted"))?;
        let mut validation = Validation::new(*alg);
        // `exp` and `nbf` are checked below, against `now`, as for a token seen before.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let mut required = vec!["exp"];
        required.extend(self.audience.as_ref().map(|_| "aud"));
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        validation.set_required_spec_claims(&required);
        validation.validate_aud = self.audience.is_some();
        if let Some(aud) = &self.audience {
            validation.set_audience(&[aud]);
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        let data = jsonwebtoken::decode::<Value>(token, key, &validation)
            .map_err(|e| ApiError::TokenInvalid(format!("token not valid: {e}")))?;
        let exp = data
            .claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid("exp is not a number"))?;
        let nbf = match data.claims.get("nbf") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| invalid("nbf is not a number"))?),
        };
        let window = crate::verified_tokens::Window { exp, nbf };
        window.check(now, LEEWAY_SECONDS)?;
        let claims = Claims::from_value(&data.claims)?;
        self.verified.put(token, claims.clone(), window);
        Ok(claims)
    }
}

/// A brand a token allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrandClaim {
    /// Brand id.
    pub id: u64,
    /// Brand name.
    pub name: String,
}

/// The verified caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// `sub` or `user_id`.
    pub user_id: u64,
    /// `username`, or `user-{id}`.
    pub username: String,
    /// The brands this user may act on.
    pub brands: Vec<BrandClaim>,
    /// `roles` contains `admin`, or `is_staff` is true.
    pub admin: bool,
    /// `roles` contains `worker`.
    pub worker: bool,
}

impl Claims {
    fn from_value(v: &Value) -> Result<Self, ApiError> {
        let invalid = |why: &str| ApiError::TokenInvalid(why.to_owned());
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(iat) = v.get("iat") {
            let iat = iat.as_u64().ok_or_else(|| invalid("iat is not a number"))?;
            if iat > now + LEEWAY_SECONDS {
                return Err(invalid("token issued in the future"));
            }
        }
        let user = v
            .get("sub")
            .filter(|s| !s.is_null())
            .or_else(|| v.get("user_id"));
        let user_id = match user {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| invalid("token contained no recognizable user identification"))?;
        let username = match v.get("username") {
            None | Some(Value::Null) => format!("user-{user_id}"),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("username is not a string")),
        };
        let brands = match v.get("brands") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|b| {
                    let id = b.get("id").and_then(Value::as_u64);
                    let name = b.get("name").and_then(Value::as_str);
                    match (id, name) {
                        (Some(id), Some(name)) => Ok(BrandClaim {
                            id,
                            name: name.to_owned(),
                        }),
                        _ => Err(invalid(
                            "brands must be objects with an integer id and a name",
                        )),
                    }
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("brands is not an array")),
        };
        let roles: Vec<&str> = match v.get("roles") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err(invalid("roles is not an array")),
        };
        let staff = v.get("is_staff").and_then(Value::as_bool).unwrap_or(false);
        Ok(Claims {
            user_id,
            username,
            brands,
            admin: staff || roles.contains(&"admin"),
            worker: roles.contains(&"worker"),
        })
    }
}

impl<S> FromRequestParts<S> for Claims
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::NotAuthenticated);
        };
        let header = header
            .to_str()
            .map_err(|_| ApiError::TokenInvalid("malformed header".into()))?;
        let mut words = header.split_ascii_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(scheme), Some(token), None) if scheme.eq_ignore_ascii_case("bearer") => {
                state.auth.verify(token)
            }
            (Some(scheme), _, _) if !scheme.eq_ignore_ascii_case("bearer") => {
                Err(ApiError::NotAuthenticated)
            }
            _ => Err(ApiError::TokenInvalid(
                "Authorization must be `Bearer <token>`".into(),
            )),
        }
    }
}

/// The brand of the request (`X-Brand-ID`), checked against the caller's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Brand {
    /// Brand id.
    pub id: u64,
    /// Its name in the caller's token, when the token names it.
    pub name: Option<String>,
    /// The caller.
    pub claims: Claims,
}

impl<S> FromRequestParts<S> for Brand
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = Claims::from_request_parts(parts, state).await?;
        let id = parts
            .headers
            .get("x-brand-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&id| id > 0)
            .ok_or(ApiError::BrandRequired)?;
        let name = claims
            .brands
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.name.clone());
        if name.is_none() && !claims.admin {
            return Err(ApiError::PermissionDenied(
                "You do not have permission to access this brand",
            ));
        }
        Ok(Brand { id, name, claims })
    }
}

/// The caller when `ok`, else 403 with `why`.
fn allowed(claims: Claims, ok: bool, why: &'static str) -> Result<Claims, ApiError> {
    if ok {
        Ok(claims)
    } else {
        Err(ApiError::PermissionDenied(why))
    }
}

/// A caller with the `admin` role.
#[derive(Clone, Debug)]
pub struct RequireAdmin(pub Claims);

impl<S> FromRequestParts<S> for RequireAdmin
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = Claims::from_request_parts(parts, state).await?;
        let admin = claims.admin;
        allowed(claims, admin, "This action needs the admin role").map(RequireAdmin)
    }
}

/// A caller with the `worker` (or `admin`) role.
#[derive(Clone, Debug)]
pub struct RequireWorker(pub Claims);

impl<S> FromRequestParts<S> for RequireWorker
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = Claims::from_request_parts(parts, state).await?;
        let worker = claims.worker || claims.admin;
        allowed(claims, worker, "This action needs the worker role").map(RequireWorker)
    }
}

/// Mints an HS256 token (development, tests and `taskctl token`).
///
/// # Errors
/// When the claims do not serialize.
pub fn mint_hs256(secret: &str, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &str = "a-test-secret-of-thirty-two-bytes-or-more";

    fn keys() -> AuthKeys {
        let config = AuthConfig {
            hs256_secret: Some(SECRET.into()),
            ..Default::default()
        };
        AuthKeys::new(&config).expect("keys")
    }

    #[test]
    fn a_token_seen_before_still_expires_and_other_bytes_are_verified_afresh() {
        let keys = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let token =
            mint_hs256(SECRET, &json!({"sub": 7, "exp": now + 60, "nbf": now})).expect("a token");
        assert_eq!(keys.verify(&token).map(|c| c.user_id).ok(), Some(7));
        // Remembered: within its window it answers from the cache...
        assert_eq!(
            keys.verify_at(&token, now + 60).map(|c| c.user_id).ok(),
            Some(7)
        );
        // ...and past `exp` (and the leeway) or before `nbf` it does not.
        let expired = keys.verify_at(&token, now + 60 + LEEWAY_SECONDS + 1);
        assert!(matches!(expired, Err(ApiError::TokenInvalid(ref why)) if why == "token expired"));
        assert!(keys.verify_at(&token, now - LEEWAY_SECONDS - 1).is_err());
        // The same holds the first time a token is seen.
        let fresh = mint_hs256(SECRET, &json!({"sub": 8, "exp": now + 60})).expect("a token");
        assert!(keys
            .verify_at(&fresh, now + 60 + LEEWAY_SECONDS + 1)
            .is_err());
        assert_eq!(keys.verify_at(&fresh, now).map(|c| c.user_id).ok(), Some(8));
        // A token with one byte of its signature changed is not the same token.
        let mut forged = token.clone();
        let last = forged
            .pop()
            .map_or('A', |c| if c == 'A' { 'B' } else { 'A' });
        forged.push(last);
        assert!(keys.verify(&forged).is_err());
        // New keys start with an empty cache: the token verifies against them afresh.
        let other = AuthKeys::new(&AuthConfig {
            hs256_secret: Some("another-secret-of-thirty-two-bytes-or-more".into()),
            ..Default::default()
        })
        .expect("keys");
        assert!(other.verify(&token).is_err());
    }
}
