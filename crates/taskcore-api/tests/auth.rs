//! Authentication and tenancy rules of the contract.

mod common;

use axum::http::{header, Method, StatusCode};
use base64_like::b64;
use common::*;
use serde_json::json;
use taskcore_api::AuthConfig;

mod base64_like {
    /// URL-safe base64 without padding, enough to forge test tokens.
    pub fn b64(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }
}

#[tokio::test]
async fn no_token_is_401_not_authenticated_with_www_authenticate() {
    let h = Harness::new().await;
    let r = h.get("/tasks/").without("authorization").send().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "NOT_AUTHENTICATED");
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
    let r = h
        .get("/tasks/")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await;
    assert_eq!(r.code(), "NOT_AUTHENTICATED");
}

#[tokio::test]
async fn bad_tokens_are_401_token_invalid() {
    let h = Harness::new().await;
    let expired = token(&json!({"sub": 1, "exp": now() - 120, "brands": [{"id": 9, "name": "H"}]}));
    let no_exp = token(&json!({"sub": 1, "brands": [{"id": 9, "name": "H"}]}));
    let future_nbf = token(&json!({"sub": 1, "exp": now() + 600, "nbf": now() + 300}));
    let future_iat = token(&json!({"sub": 1, "exp": now() + 600, "iat": now() + 300}));
    let no_user = token(&json!({"exp": now() + 600, "brands": [{"id": 9, "name": "H"}]}));
    let other_secret = taskcore_api::mint_hs256("another", &user_claims()).unwrap();
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &user_claims(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(serde_json::to_string(&user_claims()).unwrap().as_bytes())
    );
    for (name, t) in [
        ("garbage", "not.a.token".to_owned()),
        ("expired", expired),
        ("no exp", no_exp),
        ("nbf in the future", future_nbf),
        ("iat in the future", future_iat),
        ("no user id", no_user),
        ("other secret", other_secret),
        ("HS384", hs384),
        ("alg none", alg_none),
    ] {
        let r = h.get("/tasks/").bearer(&t).send().await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(r.code(), "TOKEN_INVALID", "{name}");
        assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer", "{name}");
    }
    let r = h
        .get("/tasks/")
        .header("authorization", b"Bearer \xff\xfe")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn clock_skew_within_30_seconds_is_tolerated() {
    let h = Harness::new().await;
    let t = token(
        &json!({"sub": 1, "exp": now() - 10, "nbf": now() + 10, "iat": now() + 10,
        "brands": [{"id": 9, "name": "H"}]}),
    );
    assert_eq!(
        h.get("/tasks/").bearer(&t).send().await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn simplejwt_tokens_with_user_id_work_as_they_are() {
    let h = Harness::new().await;
    let t = token(
        &json!({"user_id": 42, "token_type": "access", "jti": "x", "exp": now() + 600,
        "brands": [{"id": 9, "name": "Humari"}]}),
    );
    let r = h
        .post("/tasks/", json!({"task_type": "data_export"}))
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.body["created_by"],
        json!({"id": 42, "username": "user-42"})
    );
    let t = token(
        &json!({"sub": "7", "username": "zoe", "exp": now() + 600, "brands": [{"id": 9, "name": "Humari"}]}),
    );
    let r = h
        .post("/tasks/", json!({"task_type": "data_export"}))
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.body["created_by"], json!({"id": 7, "username": "zoe"}));
}

#[tokio::test]
async fn brand_header_is_required_and_must_be_a_positive_integer() {
    let h = Harness::new().await;
    let r = h.get("/tasks/").without("x-brand-id").send().await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "BRAND_REQUIRED")
    );
    for bad in ["", "abc", "0", "-3", "9.5", "99999999999999999999999"] {
        let r = h.get("/tasks/").brand(bad).send().await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "BRAND_REQUIRED"),
            "{bad:?}"
        );
    }
    let r = h.get("/tasks/").header("x-brand-id", b"\xff").send().await;
    assert_eq!(r.code(), "BRAND_REQUIRED");
}

#[tokio::test]
async fn a_brand_outside_the_token_is_403_unless_admin() {
    let h = Harness::new().await;
    let r = h.get("/tasks/").brand("11").send().await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.body,
        json!({"detail": "You do not have permission to access this brand", "error_code": "PERMISSION_DENIED"})
    );
    for admin in [json!({"roles": ["admin"]}), json!({"is_staff": true})] {
        let mut claims = json!({"sub": 5, "exp": now() + 600, "brands": []});
        for (k, v) in admin.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let t = token(&claims);
        let r = h
            .post("/tasks/", json!({"task_type": "data_export"}))
            .bearer(&t)
            .brand("11")
            .send()
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{admin}");
        assert_eq!(r.body["brand"], json!({"id": 11, "name": "brand-11"}));
    }
    // Once a token named the brand, admins acting on it store that name.
    let named =
        token(&json!({"sub": 2, "exp": now() + 600, "brands": [{"id": 11, "name": "Eleven"}]}));
    h.post("/tasks/", json!({"task_type": "data_export"}))
        .bearer(&named)
        .brand("11")
        .send()
        .await;
    let admin = token(&json!({"sub": 5, "exp": now() + 600, "roles": ["admin"]}));
    let r = h
        .post("/tasks/", json!({"task_type": "data_export"}))
        .bearer(&admin)
        .brand("11")
        .send()
        .await;
    assert_eq!(r.body["brand"], json!({"id": 11, "name": "Eleven"}));
}

#[tokio::test]
async fn operations_endpoints_need_no_token() {
    let h = Harness::new().await;
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let r = h
            .get(path)
            .without("authorization")
            .without("x-brand-id")
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    let doc = h.get("/openapi.json").send().await.body;
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/tasks/",
        "/tasks/{id}/",
        "/tasks/{id}/retry/",
        "/tasks/{id}/cancel/",
        "/tasks/queue-stats/",
        "/tasks/type-stats/",
        "/workers/lease/",
        "/workers/tasks/{id}/heartbeat/",
        "/workers/tasks/{id}/complete/",
        "/workers/tasks/{id}/fail/",
        "/workers/tasks/{id}/release/",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
    assert!(doc["components"]["schemas"]["TaskBody"].is_object());
    for worker_body in [
        "LeaseRequest",
        "HeartbeatRequest",
        "FailRequest",
        "ReleaseRequest",
    ] {
        assert!(
            doc["components"]["schemas"][worker_body].is_object(),
            "{worker_body} is described"
        );
    }
}

#[tokio::test]
async fn audience_and_issuer_are_checked_when_configured() {
    let h = Harness::with_auth(AuthConfig {
        hs256_secret: Some(SECRET.into()),
        audience: Some("taskcore".into()),
        issuer: Some("auth.example".into()),
        ..Default::default()
    })
    .await;
    let mut claims = user_claims();
    let r = h.get("/tasks/").bearer(&token(&claims)).send().await;
    assert_eq!(r.code(), "TOKEN_INVALID");
    claims["aud"] = json!("taskcore");
    claims["iss"] = json!("auth.example");
    assert_eq!(
        h.get("/tasks/").bearer(&token(&claims)).send().await.status,
        StatusCode::OK
    );
    claims["aud"] = json!("someone-else");
    assert_eq!(
        h.get("/tasks/").bearer(&token(&claims)).send().await.code(),
        "TOKEN_INVALID"
    );
}

#[tokio::test]
async fn an_unconfigured_audience_is_not_checked() {
    let h = Harness::new().await;
    let mut claims = user_claims();
    claims["aud"] = json!("anything");
    assert_eq!(
        h.call(Method::GET, "/tasks/")
            .bearer(&token(&claims))
            .send()
            .await
            .status,
        StatusCode::OK
    );
}
